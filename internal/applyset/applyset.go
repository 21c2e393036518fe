package applyset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// LabelPartOf is the label every object of an apply set carries; its value
// is the set's name (kubectl's applyset.kubernetes.io/part-of).
const LabelPartOf = "applyset." + v1.Group + "/part-of"

// DefaultTooling is the tooling of sets applied by applyctl.
const DefaultTooling = "applyctl"

// Errors of Apply, to test with errors.Is.
var (
	// ErrOtherSet: an object of the input belongs to another apply set.
	ErrOtherSet = errors.New("object belongs to another apply set")
	// ErrOtherTooling: the set is recorded as managed by other tooling.
	ErrOtherTooling = errors.New("apply set managed by other tooling")
	// ErrPruneAll: the input is empty and pruning would delete every object
	// of the set; Options.AllowEmpty allows it.
	ErrPruneAll = errors.New("refusing to prune every object of the apply set")
)

// setError is an error of Apply that errors.Is matches with its kind.
type setError struct {
	kind error
	msg  string
}

func (e *setError) Error() string        { return e.msg }
func (e *setError) Is(target error) bool { return target == e.kind }

// Record is what applysets/<name> holds: what the set owns, as of its last
// apply that changed something.
type Record struct {
	Name string `json:"name"`
	// Objects are the kind/name (unit/todo) of the objects of the last
	// input, sorted.
	Objects []string `json:"objects"`
	// Tooling manages the set; other tooling must not apply it.
	Tooling string    `json:"tooling"`
	Updated time.Time `json:"updated"`
}

// Options change what Apply does.
type Options struct {
	// Prune deletes the objects of the set that are not in the input.
	// Without it the objects are labelled and recorded, nothing is deleted.
	Prune bool
	// AllowEmpty allows an empty input to prune every object of the set.
	AllowEmpty bool
	// DryRun computes the results, conflicts and errors, writes nothing.
	DryRun bool
	// Tooling names what manages the set (DefaultTooling when empty): a set
	// recorded with another tooling is refused with ErrOtherTooling.
	Tooling string
	// Now is the clock of Record.Updated and new objects (time.Now when nil).
	Now func() time.Time
}

// Pruned is an object Apply deleted, or would delete under DryRun.
type Pruned struct {
	Kind, Name string
	// Object is the live object as it was before the delete.
	Object v1.Object
}

// Result is what Apply did.
type Result struct {
	// Applied has one result per input object, in the order given.
	Applied []store.ApplyResult
	// Pruned is in the order of v1.AppliableKinds, then by name.
	Pruned []Pruned
	// Record is the set as stored after the apply (as it would be under
	// DryRun).
	Record Record
}

// attempts bounds the re-reads of an apply that lost a compare-and-swap.
const attempts = 5

// Apply applies objs as the apply set name: each is labelled LabelPartOf=name
// and created, configured or left unchanged as store.Apply does; with
// opts.Prune the stored objects labelled with name that are not in objs are
// deleted; and the set's Record is stored. Everything is written in one
// transaction comparing every key's mod revision (see the package doc), or
// nothing is, when any object belongs to another set, the set to other
// tooling, or when an empty input would prune the whole set.
//
// objs should be defaulted and validated (v1.Prepare); they are not changed.
// A conflict with another writer is retried a few times before an error
// wrapping store.ErrConflict. Apply is safe for concurrent use.
func Apply(ctx context.Context, s *store.Store, name string, objs []v1.Object, opts Options) (*Result, error) {
	if msg := v1.ValidName(name); msg != "" {
		return nil, fmt.Errorf("apply set name: %s", msg)
	}
	if opts.Tooling == "" {
		opts.Tooling = DefaultTooling
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		r := ref(v1.KindOf(o), o.GetObjectMeta().Name)
		if seen[r] {
			return nil, fmt.Errorf("apply set %q: %s appears twice", name, r)
		}
		seen[r] = true
	}
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		var res *Result
		res, err = applyOnce(ctx, s, name, objs, opts)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return res, err
	}
	return nil, fmt.Errorf("apply set %q: still conflicting after %d attempts: %w", name, attempts, err)
}

func applyOnce(ctx context.Context, s *store.Store, name string, objs []v1.Object, opts Options) (*Result, error) {
	fail := func(err error) (*Result, error) { return nil, fmt.Errorf("apply set %q: %w", name, err) }

	// Read: the set's record and every stored object of the appliable kinds.
	var old *Record
	var recRev int64
	kv, err := s.Get(ctx, store.ApplySetKey(name))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fail(err)
	default:
		old = &Record{}
		if err := json.Unmarshal(kv.Value, old); err != nil {
			return fail(fmt.Errorf("decode %s: %w", kv.Key, err))
		}
		recRev = kv.ModRevision
	}
	if old != nil && old.Tooling != "" && old.Tooling != opts.Tooling {
		return fail(&setError{ErrOtherTooling, fmt.Sprintf("it is managed by %q, not %q; nothing was written", old.Tooling, opts.Tooling)})
	}
	stored := map[string]store.KV{}
	var live []v1.Object
	for _, kind := range v1.AppliableKinds {
		kvs, _, err := s.List(ctx, store.ObjectPrefix(kind))
		if err != nil {
			return fail(err)
		}
		for _, kv := range kvs {
			o, err := store.DecodeObject(kind, kv)
			if err != nil {
				return fail(err)
			}
			stored[kv.Key] = kv
			live = append(live, o)
		}
	}
	// The Jobs' version records and bindings: written and pruned with
	// their Jobs, never objects of the set themselves.
	if err := store.ReadJobRecords(ctx, s, stored); err != nil {
		return fail(err)
	}

	// Plan.
	apply, pruned, err := plan(name, objs, live, opts.Prune)
	if err != nil {
		return fail(err)
	}
	if len(objs) == 0 && len(pruned) > 0 && !opts.AllowEmpty {
		return fail(&setError{ErrPruneAll, fmt.Sprintf("the input is empty and would prune all %d objects of the set (%s); nothing was written",
			len(pruned), refsOf(pruned))})
	}
	now := opts.Now()
	results, ops, err := store.PlanApply(apply, stored, now)
	if err != nil {
		return fail(err)
	}
	res := &Result{Applied: results}
	for _, o := range pruned {
		kind, n := v1.KindOf(o), o.GetObjectMeta().Name
		ops = append(ops, store.DeleteOps(kind, n, stored)...)
		res.Pruned = append(res.Pruned, Pruned{Kind: kind, Name: n, Object: o})
	}
	rec := Record{Name: name, Objects: members(objs), Tooling: opts.Tooling, Updated: now.UTC().Truncate(time.Second)}
	if len(ops) == 0 && old != nil && old.Tooling == rec.Tooling && slices.Equal(old.Objects, rec.Objects) {
		res.Record = *old // nothing changed: nothing is written, not even the record
		return res, nil
	}
	res.Record = rec
	if opts.DryRun {
		return res, nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fail(err)
	}
	ops = append(ops, store.Op{Key: store.ApplySetKey(name), Value: b, ExpectRev: recRev})

	// Write.
	rev, err := s.Txn(ctx, ops)
	if err != nil {
		return fail(err)
	}
	for _, r := range res.Applied {
		if r.Action != store.Unchanged {
			r.Object.GetObjectMeta().ResourceVersion = strconv.FormatInt(rev, 10)
		}
	}
	return res, nil
}

// Get returns the record of the apply set name, or an error wrapping
// store.ErrNotFound.
func Get(ctx context.Context, s *store.Store, name string) (Record, error) {
	kv, err := s.Get(ctx, store.ApplySetKey(name))
	if err != nil {
		return Record{}, err
	}
	return decodeRecord(kv)
}

// List returns the record of every apply set, sorted by name.
func List(ctx context.Context, s *store.Store) ([]Record, error) {
	kvs, _, err := s.List(ctx, store.ApplySetKey(""))
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(kvs))
	for _, kv := range kvs {
		r, err := decodeRecord(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func decodeRecord(kv store.KV) (Record, error) {
	var r Record
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return Record{}, fmt.Errorf("applyset: decode %s: %w", kv.Key, err)
	}
	return r, nil
}

// refsOf lists the kind/name of objs, at most a few, for a message.
func refsOf(objs []v1.Object) string {
	const most = 5
	var out string
	for i, o := range objs {
		if i == most {
			return out + fmt.Sprintf(" and %d more", len(objs)-most)
		}
		if i > 0 {
			out += ", "
		}
		out += ref(v1.KindOf(o), o.GetObjectMeta().Name)
	}
	return out
}
