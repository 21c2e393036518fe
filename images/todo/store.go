package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Item is one to-do.
type Item struct {
	ID        int       `json:"id"`
	Title     string    `json:"title"`
	Done      bool      `json:"done"`
	CreatedAt time.Time `json:"createdAt"`
}

// fileData is what the data file holds.
type fileData struct {
	NextID int    `json:"nextID"`
	Items  []Item `json:"items"`
}

// Store keeps the items in memory and in a JSON file, rewritten atomically
// on every change.
type Store struct {
	path string
	mu   sync.Mutex
	data fileData
}

// ErrNotFound is returned for an id that no item has.
var ErrNotFound = errors.New("no such item")

// OpenStore loads path, or starts empty when it does not exist. Its folder
// is created when missing.
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, data: fileData{NextID: 1}}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, it := range s.data.Items {
		if it.ID >= s.data.NextID {
			s.data.NextID = it.ID + 1
		}
	}
	if s.data.Items == nil {
		s.data.Items = []Item{}
	}
	return s, nil
}

// List returns a copy of the items, oldest first.
func (s *Store) List() []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Item, len(s.data.Items))
	copy(out, s.data.Items)
	return out
}

// Add adds an item and saves.
func (s *Store) Add(title string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := Item{ID: s.data.NextID, Title: title, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	old := s.data
	s.data.NextID++
	s.data.Items = append(slices.Clone(s.data.Items), it)
	if err := s.save(); err != nil {
		s.data = old
		return Item{}, err
	}
	return it, nil
}

// Update changes an item's title and/or done flag and saves.
func (s *Store) Update(id int, title *string, done *bool) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(id)
	if i < 0 {
		return Item{}, ErrNotFound
	}
	old := s.data
	s.data.Items = slices.Clone(s.data.Items)
	it := &s.data.Items[i]
	if title != nil {
		it.Title = *title
	}
	if done != nil {
		it.Done = *done
	}
	if err := s.save(); err != nil {
		s.data = old
		return Item{}, err
	}
	return *it, nil
}

// Delete removes an item and saves.
func (s *Store) Delete(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(id)
	if i < 0 {
		return ErrNotFound
	}
	old := s.data
	s.data.Items = slices.Delete(slices.Clone(s.data.Items), i, i+1)
	if err := s.save(); err != nil {
		s.data = old
		return err
	}
	return nil
}

func (s *Store) index(id int) int {
	return slices.IndexFunc(s.data.Items, func(it Item) bool { return it.ID == id })
}

// save writes the data to a temporary file next to path, syncs it and
// renames it over path, so a reader never sees a half-written file.
func (s *Store) save() error {
	b, err := json.MarshalIndent(s.data, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}
