package imagegc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Entry is what is remembered of an image berth pulled.
type Entry struct {
	// Refs are the references it was pulled by ("repo:tag",
	// "repo@sha256:...").
	Refs     []string  `json:"refs"`
	PulledAt time.Time `json:"pulledAt"`
	// LastUsed is when a collection last saw it in use.
	LastUsed time.Time `json:"lastUsed,omitzero"`
}

// since is when the image's time out of use started.
func (e Entry) since() time.Time {
	if e.LastUsed.After(e.PulledAt) {
		return e.LastUsed
	}
	return e.PulledAt
}

// Record is the images berth pulled on this host, by image ID, kept in a
// file. It is safe for concurrent use.
type Record struct {
	path string
	mu   sync.Mutex
	m    map[string]Entry
}

// recordFile is the file's form.
type recordFile struct {
	Images map[string]Entry `json:"images"`
}

// Open reads the record at path; a missing file is an empty record. A
// file that cannot be read or decoded is an error, and the Record
// returned with it is empty (nothing is collected that it named).
func Open(path string) (*Record, error) {
	r := &Record{path: path, m: map[string]Entry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("image record: %w", err)
	}
	var f recordFile
	if err := json.Unmarshal(b, &f); err != nil {
		return r, fmt.Errorf("image record %s: %w", path, err)
	}
	if f.Images != nil {
		r.m = f.Images
	}
	return r, nil
}

// Pulled records that ref was pulled as image id at now.
func (r *Record) Pulled(ref, id string, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	if !ok {
		e.PulledAt = now
	}
	if !slices.Contains(e.Refs, ref) {
		e.Refs = append(slices.Clone(e.Refs), ref)
	}
	e.LastUsed = now
	r.m[id] = e
	return r.saveLocked()
}

// Entries returns a copy of the record.
func (r *Record) Entries() map[string]Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.m)
}

// update replaces the entries a collection looked at: those in set, and
// deletes those in drop, leaving entries pulled meanwhile as they are.
func (r *Record) update(set map[string]Entry, drop []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, e := range set {
		if _, ok := r.m[id]; ok {
			e.Refs = r.m[id].Refs // a pull meanwhile may have added one
			r.m[id] = e
		}
	}
	for _, id := range drop {
		delete(r.m, id)
	}
	return r.saveLocked()
}

// saveLocked writes the record: to a new file, renamed over the old.
func (r *Record) saveLocked() error {
	if r.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(recordFile{Images: r.m}, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("image record: %w", err)
	}
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("image record: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("image record: %w", err)
	}
	return nil
}
