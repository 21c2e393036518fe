package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// JobVersionsKept is how many version records a Job keeps: the most
// recently stored ones. Its current version, the version it replaces and
// every version its binding names are kept besides, whatever their age.
const JobVersionsKept = 10

// ErrVersionChanged is returned by an apply that would give a stored
// version of a Job another container template.
var ErrVersionChanged = errors.New("a version's container template cannot change")

// DecodeJobVersion decodes a version record (objects/jobversion/<name>/
// <version>), defaulted. Its Job and version are its key's, whatever its
// value says.
func DecodeJobVersion(kv KV) (*v1.JobVersion, error) {
	name, version, ok := ParseJobVersionKey(kv.Key)
	if !ok {
		return nil, fmt.Errorf("store: %s is not a job version key", kv.Key)
	}
	jv := &v1.JobVersion{}
	if err := json.Unmarshal(kv.Value, jv); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
	}
	jv.Job, jv.Version = name, version
	jv.Default()
	return jv, nil
}

// ListJobVersions returns the version records of every Job, by Job and
// version. Records that do not decode are left out.
func ListJobVersions(ctx context.Context, s *Store) (map[string]map[string]*v1.JobVersion, error) {
	kvs, _, err := s.List(ctx, JobVersionsPrefix)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*v1.JobVersion{}
	for _, kv := range kvs {
		jv, err := DecodeJobVersion(kv)
		if err != nil {
			continue
		}
		if out[jv.Job] == nil {
			out[jv.Job] = map[string]*v1.JobVersion{}
		}
		out[jv.Job][jv.Version] = jv
	}
	return out, nil
}

// ReadJobRecords adds to stored, by key, what an apply or a delete of
// Jobs reads besides the Jobs: every Job's version records and binding.
// PlanApply and DeleteOps expect them there.
func ReadJobRecords(ctx context.Context, s *Store, stored map[string]KV) error {
	for _, prefix := range []string{JobVersionsPrefix, BindingKey(v1.KindJob, "")} {
		kvs, _, err := s.List(ctx, prefix)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			stored[kv.Key] = kv
		}
	}
	return nil
}

// readJobRecordsOf adds to stored the version records and the binding of
// the Jobs named.
func readJobRecordsOf(ctx context.Context, s *Store, names []string, stored map[string]KV) error {
	for _, name := range names {
		kvs, _, err := s.List(ctx, JobVersionPrefix(name))
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			stored[kv.Key] = kv
		}
		kv, err := s.Get(ctx, BindingKey(v1.KindJob, name))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		stored[kv.Key] = kv
	}
	return nil
}

// jobNames returns the names of the Jobs among objs.
func jobNames(objs []v1.Object) []string {
	var out []string
	for _, o := range objs {
		if v1.KindOf(o) == v1.KindJob {
			out = append(out, o.GetObjectMeta().Name)
		}
	}
	return out
}

// versionsIn indexes the version records held by stored: Job -> version
// -> KV.
func versionsIn(stored map[string]KV) map[string]map[string]KV {
	out := map[string]map[string]KV{}
	for k, kv := range stored {
		name, version, ok := ParseJobVersionKey(k)
		if !ok {
			continue
		}
		if out[name] == nil {
			out[name] = map[string]KV{}
		}
		out[name][version] = kv
	}
	return out
}

// jobVersionOps returns the writes that keep j's version records in step
// with an apply of j, which replaces old (nil: j is created): without I/O.
//
//   - The record of j's version is written when there is none, and, when
//     j moves to a version it had before, written again (unchanged) so that
//     it counts as recent. One with another template is ErrVersionChanged.
//   - The record of the version j replaces is written when there is none
//     (Jobs stored before records were kept), so the hosts still running it
//     during the rollout find its template.
//   - A created Job starts without records: those of a deleted Job of the
//     same name are removed, or written over.
//   - Beyond JobVersionsKept, the least recently written records are
//     removed, never the current one, the replaced one, one the binding
//     places on a host or its Stable version.
//
// Records that do not decode count as absent. Each write compares the mod
// revision read.
func jobVersionOps(j, old *v1.Job, have map[string]KV, binding *KV, now time.Time) ([]Op, error) {
	j = defaulted(j) // the stored object of a deploy verb, or of an earlier berth, may lack some
	if old != nil {
		old = defaulted(old)
	}
	name, cur := j.Metadata.Name, j.Spec.Version
	type record struct {
		rev  int64 // mod revision; written now: above every stored one
		hash string
	}
	live := map[string]record{}
	if old != nil {
		for ver, kv := range have {
			if jv, err := DecodeJobVersion(kv); err == nil {
				live[ver] = record{kv.ModRevision, jv.Hash()}
			}
		}
	}
	var ops []Op
	written := map[string]bool{}
	// write stores value as the record of version ver; rank orders it
	// among the records (above every stored one).
	write := func(ver string, value []byte, hash string, rank int64) {
		ops = append(ops, Op{Key: JobVersionKey(name, ver), Value: value, ExpectRev: have[ver].ModRevision})
		live[ver] = record{rank, hash}
		written[ver] = true
	}
	encode := func(jv *v1.JobVersion) ([]byte, error) {
		b, err := json.Marshal(jv)
		if err != nil {
			return nil, fmt.Errorf("encode version %s of job %s: %w", jv.Version, name, err)
		}
		return b, nil
	}
	hash := v1.FullTemplateHash(&j.Spec.Container)
	switch r, ok := live[cur]; {
	case ok && r.hash != hash:
		return nil, fmt.Errorf("job %s: version %s was stored before with another container template (stored %s:%s:%s, applied %s): %w; raise spec.version to deploy a new template",
			name, cur, name, cur, r.hash[:12], j.ID(), ErrVersionChanged)
	case ok && old.Spec.Version != cur:
		write(cur, have[cur].Value, hash, math.MaxInt64) // back to an earlier version: recent again
	case !ok:
		b, err := encode(v1.NewJobVersion(j, now))
		if err != nil {
			return nil, err
		}
		write(cur, b, hash, math.MaxInt64)
	}
	keep := map[string]bool{cur: true}
	if old != nil {
		keep[old.Spec.Version] = true
		if _, ok := live[old.Spec.Version]; !ok {
			b, err := encode(v1.NewJobVersion(old, now))
			if err != nil {
				return nil, err
			}
			write(old.Spec.Version, b, v1.FullTemplateHash(&old.Spec.Container), math.MaxInt64-1)
		}
	}
	if binding != nil {
		var b v1.JobBinding
		if json.Unmarshal(binding.Value, &b) == nil {
			for _, ver := range b.Hosts {
				keep[ver] = true
			}
			if b.Stable != "" {
				keep[b.Stable] = true // what a failed rollout reverts to
			}
		}
	}
	var old2new []string
	for ver := range live {
		if !keep[ver] {
			old2new = append(old2new, ver)
		}
	}
	sort.Slice(old2new, func(a, b int) bool { return live[old2new[a]].rev < live[old2new[b]].rev })
	for n := len(live); n > JobVersionsKept && len(old2new) > 0; n-- {
		delete(live, old2new[0])
		old2new = old2new[1:]
	}
	// What is stored and neither kept nor written goes: pruned, left by a
	// deleted Job, or unreadable.
	vers := make([]string, 0, len(have))
	for ver := range have {
		vers = append(vers, ver)
	}
	sort.Strings(vers)
	for _, ver := range vers {
		if _, ok := live[ver]; !ok && !written[ver] {
			ops = append(ops, Op{Key: have[ver].Key, Delete: true, ExpectRev: have[ver].ModRevision})
		}
	}
	return ops, nil
}

// DeleteOps returns the writes that delete the object kind/name as stored
// (it must be in stored) and, for a Job, every version record of it that
// stored holds (ReadJobRecords), each comparing the mod revision read.
func DeleteOps(kind, name string, stored map[string]KV) []Op {
	key := ObjectKey(kind, name)
	ops := []Op{{Key: key, Delete: true, ExpectRev: stored[key].ModRevision}}
	if v1Kind(kind) != v1.KindJob {
		return ops
	}
	var keys []string
	for k := range stored {
		if n, _, ok := ParseJobVersionKey(k); ok && n == name {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ops = append(ops, Op{Key: k, Delete: true, ExpectRev: stored[k].ModRevision})
	}
	return ops
}

// DeleteObjectAt deletes the object kind/name if it is still at mod
// revision rev, with its version records when it is a Job, in one
// transaction. It returns an error wrapping ErrConflict when the object
// changed since, ErrNotFound when it is gone.
func DeleteObjectAt(ctx context.Context, s *Store, kind, name string, rev int64) error {
	stored := map[string]KV{ObjectKey(kind, name): {Key: ObjectKey(kind, name), ModRevision: rev}}
	if v1Kind(kind) == v1.KindJob {
		kvs, _, err := s.List(ctx, JobVersionPrefix(name))
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			stored[kv.Key] = kv
		}
	}
	if _, err := s.Txn(ctx, DeleteOps(kind, name, stored)); err != nil {
		if errors.Is(err, ErrConflict) {
			if _, gerr := s.Get(ctx, ObjectKey(kind, name)); errors.Is(gerr, ErrNotFound) {
				return fmt.Errorf("store: delete %s/%s: %w", lower(kind), name, ErrNotFound)
			}
		}
		return err
	}
	return nil
}

// defaulted returns a defaulted copy of j.
func defaulted(j *v1.Job) *v1.Job {
	c := j.DeepCopyObject().(*v1.Job)
	v1.Default(c)
	return c
}
