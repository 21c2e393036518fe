package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// Action is what an apply did to one object, in kubectl's words.
type Action string

// Values of Action.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// ApplyOptions change what Apply does.
type ApplyOptions struct {
	// DryRun computes the results without writing anything.
	DryRun bool
}

// ApplyResult is the outcome of an apply for one object.
type ApplyResult struct {
	Kind   string // v1 kind, such as "Unit"
	Name   string
	Action Action
	// Object is the object as stored after the apply (as it would be under
	// DryRun), with the metadata the store sets.
	Object v1.Object
}

// applyAttempts bounds the re-reads of an apply that lost a compare-and-swap.
const applyAttempts = 5

// listThreshold is the number of objects above which Apply lists the
// prefixes of their kinds instead of reading each key.
const listThreshold = 16

// Apply stores objs as one apply: each object is created, configured or left
// unchanged, and every write happens in one transaction that compares the
// mod revision of each key with the one read, or none does (ErrTxnTooLarge
// when etcd refuses one that big; see Txn). objs should be defaulted and
// validated (v1.Prepare); Apply does not change them.
//
// A new object gets a uid, generation 1 and a creationTimestamp. A stored
// object keeps its uid and creationTimestamp; its generation rises only when
// its spec changed, and it is configured when its spec, labels or
// annotations changed, else unchanged and not written. Status and
// resourceVersion are never stored with the object.
//
// A Job's versions are recorded in the same transaction (v1.JobVersion
// under JobVersionKey; see jobVersionOps): the record of its version is
// written when missing, even when the Job is unchanged, and one with
// another template than the applied one is an error wrapping
// ErrVersionChanged; the last JobVersionsKept records are kept.
//
// When another writer changed one of the keys between the read and the
// write, Apply reads again and recomputes, a few times, before it returns an
// error wrapping ErrConflict. Results are in the order of objs. Apply is safe
// for concurrent use.
func Apply(ctx context.Context, s *Store, objs []v1.Object, opts ApplyOptions) ([]ApplyResult, error) {
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		kind, name := v1.KindOf(o), o.GetObjectMeta().Name
		if !appliable(kind) {
			return nil, fmt.Errorf("store: apply: kind %q cannot be applied", kind)
		}
		if name == "" {
			return nil, fmt.Errorf("store: apply: a %s without a name", kind)
		}
		k := ObjectKey(kind, name)
		if seen[k] {
			return nil, fmt.Errorf("store: apply: %s/%s appears twice", lower(kind), name)
		}
		seen[k] = true
	}
	var results []ApplyResult
	err := retryOnConflict(func() error {
		stored, err := readKeys(ctx, s, objs)
		if err != nil {
			return err
		}
		var ops []Op
		if results, ops, err = planApply(objs, stored, time.Now()); err != nil || opts.DryRun {
			return err
		}
		return commit(ctx, s, results, ops)
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply: %w", err)
	}
	return results, nil
}

// retryOnConflict calls write until it returns anything but an error
// wrapping ErrConflict, applyAttempts times at most: a write that lost a
// compare-and-swap reads again and decides again.
func retryOnConflict(write func() error) error {
	var err error
	for range applyAttempts {
		if err = write(); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("still conflicting after %d attempts: %w", applyAttempts, err)
}

// commit writes the ops of an apply (nothing when there are none) and sets
// the resourceVersion of every object the results say was written.
func commit(ctx context.Context, s *Store, results []ApplyResult, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	rev, err := s.Txn(ctx, ops)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Action != Unchanged {
			r.Object.GetObjectMeta().ResourceVersion = strconv.FormatInt(rev, 10)
		}
	}
	return nil
}

// readKeys returns the stored KV of each object that exists, by key: one
// read per object for a few objects, one list per kind for many; and, for
// Jobs, their version records and bindings (ReadJobRecords).
func readKeys(ctx context.Context, s *Store, objs []v1.Object) (map[string]KV, error) {
	out := make(map[string]KV, len(objs))
	if len(objs) <= listThreshold {
		for _, o := range objs {
			k := ObjectKey(v1.KindOf(o), o.GetObjectMeta().Name)
			kv, err := s.Get(ctx, k)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[k] = kv
		}
		if err := readJobRecordsOf(ctx, s, jobNames(objs), out); err != nil {
			return nil, err
		}
		return out, nil
	}
	want := make(map[string]bool, len(objs))
	kinds := map[string]bool{}
	for _, o := range objs {
		want[ObjectKey(v1.KindOf(o), o.GetObjectMeta().Name)] = true
		kinds[v1.KindOf(o)] = true
	}
	for kind := range kinds {
		kvs, _, err := s.List(ctx, ObjectPrefix(kind))
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			if want[kv.Key] {
				out[kv.Key] = kv
			}
		}
	}
	if kinds[v1.KindJob] {
		if err := ReadJobRecords(ctx, s, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PlanApply computes, without I/O, what Apply would do with objs given the
// stored KV of each object that exists, by ObjectKey, and of the Jobs'
// version records and bindings (ReadJobRecords): a result per object, in
// the order of objs, and the writes, each comparing the mod revision read
// (0: the key must not exist). It is for callers that write an apply
// together with other operations in one transaction (internal/applyset);
// objs are not changed.
func PlanApply(objs []v1.Object, stored map[string]KV, now time.Time) ([]ApplyResult, []Op, error) {
	return planApply(objs, stored, now)
}

// DecodeObject decodes the stored object of kind held by kv, with its
// resourceVersion set to the key's mod revision.
func DecodeObject(kind string, kv KV) (v1.Object, error) {
	o, err := decodeObject(kind, kv)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return o, nil
}

// planApply computes, without I/O, what an apply of objs does given the
// stored keys: a result per object and the writes, each comparing the mod
// revision read (0: the key must not exist).
func planApply(objs []v1.Object, stored map[string]KV, now time.Time) ([]ApplyResult, []Op, error) {
	results := make([]ApplyResult, 0, len(objs))
	var ops []Op
	var versions map[string]map[string]KV
	if len(jobNames(objs)) > 0 {
		versions = versionsIn(stored)
	}
	for _, in := range objs {
		kind := v1.KindOf(in)
		obj := in.DeepCopyObject()
		clearServerFields(obj)
		m := obj.GetObjectMeta()
		key := ObjectKey(kind, m.Name)
		res := ApplyResult{Kind: kind, Name: m.Name, Object: obj}
		kv, exists := stored[key]
		var old v1.Object
		if !exists {
			res.Action = Created
			m.UID = newUID()
			m.Generation = 1
			m.CreationTimestamp = now.UTC().Truncate(time.Second)
		} else {
			var err error
			if old, err = decodeObject(kind, kv); err != nil {
				return nil, nil, err
			}
			om := old.GetObjectMeta()
			m.UID, m.CreationTimestamp, m.Generation = om.UID, om.CreationTimestamp, max(om.Generation, 1)
			specChanged := string(v1.SpecOf(old)) != string(v1.SpecOf(obj))
			if specChanged {
				m.Generation++
			}
			switch {
			case specChanged || !maps.Equal(om.Labels, m.Labels) || !maps.Equal(om.Annotations, m.Annotations):
				res.Action = Configured
			default:
				res.Action = Unchanged
				res.Object = old
			}
		}
		if res.Action != Unchanged {
			b, err := json.Marshal(obj)
			if err != nil {
				return nil, nil, fmt.Errorf("encode %s/%s: %w", lower(kind), m.Name, err)
			}
			ops = append(ops, Op{Key: key, Value: b, ExpectRev: kv.ModRevision})
		}
		if j, ok := obj.(*v1.Job); ok {
			oldJob, _ := old.(*v1.Job)
			var binding *KV
			if b, ok := stored[BindingKey(v1.KindJob, m.Name)]; ok {
				binding = &b
			}
			vops, err := jobVersionOps(j, oldJob, versions[m.Name], binding, now)
			if err != nil {
				return nil, nil, err
			}
			ops = append(ops, vops...)
		}
		results = append(results, res)
	}
	return results, ops, nil
}

// clearServerFields removes what is never stored with an object: its status
// and resourceVersion.
func clearServerFields(o v1.Object) {
	o.GetObjectMeta().ResourceVersion = ""
	switch v := o.(type) {
	case *v1.Unit:
		v.Status = nil
	case *v1.Job:
		v.Status = nil
	case *v1.Service:
		v.Status = nil
	}
}

// newUID returns a random UUID (version 4) as text.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func appliable(kind string) bool {
	for _, k := range v1.AppliableKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// v1Kind returns the v1 kind of a kind given in any case, or "".
func v1Kind(kind string) string {
	for _, k := range []string{v1.KindUnit, v1.KindJob, v1.KindService, v1.KindGitSource, v1.KindTimer, v1.KindHost} {
		if strings.EqualFold(k, kind) {
			return k
		}
	}
	return ""
}

// decodeObject decodes a stored object of kind and sets its resourceVersion
// to the key's mod revision.
func decodeObject(kind string, kv KV) (v1.Object, error) {
	o := v1.New(v1Kind(kind))
	if o == nil {
		return nil, fmt.Errorf("decode %s: unknown kind %q", kv.Key, kind)
	}
	if err := json.Unmarshal(kv.Value, o); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	o.GetObjectMeta().ResourceVersion = strconv.FormatInt(kv.ModRevision, 10)
	return o, nil
}

// GetObject returns the stored object of kind and name, with its
// resourceVersion, or an error wrapping ErrNotFound.
func GetObject(ctx context.Context, s *Store, kind, name string) (v1.Object, error) {
	kv, err := s.Get(ctx, ObjectKey(kind, name))
	if err != nil {
		return nil, err
	}
	o, err := decodeObject(kind, kv)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return o, nil
}

// ListObjects returns every stored object of kind, sorted by name, and the
// revision of the read: watch from that revision+1 to see every later change.
func ListObjects(ctx context.Context, s *Store, kind string) ([]v1.Object, int64, error) {
	kvs, rev, err := s.List(ctx, ObjectPrefix(kind))
	if err != nil {
		return nil, 0, err
	}
	out := make([]v1.Object, 0, len(kvs))
	for _, kv := range kvs {
		o, err := decodeObject(kind, kv)
		if err != nil {
			return nil, 0, fmt.Errorf("store: %w", err)
		}
		out = append(out, o)
	}
	return out, rev, nil
}

// DeleteObject deletes the stored object of kind and name, and a Job's
// version records with it in one transaction, or returns an error wrapping
// ErrNotFound when there is none. Its statuses, binding and events are
// left to the controllers' garbage collection.
func DeleteObject(ctx context.Context, s *Store, kind, name string) error {
	err := retryOnConflict(func() error {
		kv, err := s.Get(ctx, ObjectKey(kind, name))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("store: delete %s/%s: %w", lower(kind), name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return DeleteObjectAt(ctx, s, kind, name, kv.ModRevision)
	})
	if err != nil && errors.Is(err, ErrConflict) {
		return fmt.Errorf("store: delete %s/%s: %w", lower(kind), name, err)
	}
	return err
}

// ErrOtherHost is returned by DecodeStatus for a value under one host's
// key that names another host.
var ErrOtherHost = errors.New("the value names another host than its key")

// DecodeStatus decodes the instance status stored under a status key
// (status/<host>/<kind>/<name>). Its host is the key's, which etcd's roles
// let only that host write, never the value's: a value naming no host takes
// the key's, and one naming another host is refused with ErrOtherHost, so
// that no host can report an instance as another host's. A key that is not
// a status key, or a value that does not decode, is an error.
func DecodeStatus(kv KV) (v1.InstanceStatus, error) {
	_, _, host, ok := ParseStatusKey(kv.Key)
	if !ok {
		return v1.InstanceStatus{}, fmt.Errorf("store: %s is not a status key", kv.Key)
	}
	var st v1.InstanceStatus
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return v1.InstanceStatus{}, fmt.Errorf("store: decode %s: %w", kv.Key, err)
	}
	if st.Host != "" && st.Host != host {
		return v1.InstanceStatus{}, fmt.Errorf("store: %s: host %q: %w", kv.Key, st.Host, ErrOtherHost)
	}
	st.Host = host
	return st, nil
}

// ErrNoSuchHost is returned by DecodeHostStatus for a status under the
// name of no host: no hosts/<host> record. Such a key was written by
// someone allowed to write statuses of several hosts (the leader's
// status/leader/, or etcd's berth-gc and root users), never by a host.
var ErrNoSuchHost = errors.New("no host of that name has joined")

// DecodeHostStatus is DecodeStatus for readers that know the hosts:
// isHost reports whether a host of that name has a record, and a status
// under another name is refused with ErrNoSuchHost.
func DecodeHostStatus(kv KV, isHost func(host string) bool) (v1.InstanceStatus, error) {
	st, err := DecodeStatus(kv)
	if err != nil {
		return st, err
	}
	if !isHost(st.Host) {
		return v1.InstanceStatus{}, fmt.Errorf("store: %s: host %q: %w", kv.Key, st.Host, ErrNoSuchHost)
	}
	return st, nil
}

// ListStatuses returns the instance statuses of every object of kind (Unit
// or Job), by object name, each list sorted by host. Each status is decoded
// by DecodeHostStatus: its host is its key's, and one whose value names
// another host, or whose host has no record, is left out.
func ListStatuses(ctx context.Context, s *Store, kind string) (map[string][]v1.InstanceStatus, error) {
	return listStatuses(ctx, s, kind, "")
}

// ObjectStatuses returns the instance statuses of one object, sorted by
// host, as ListStatuses decodes them.
func ObjectStatuses(ctx context.Context, s *Store, kind, name string) ([]v1.InstanceStatus, error) {
	m, err := listStatuses(ctx, s, kind, name)
	if err != nil {
		return nil, err
	}
	return m[name], nil
}

// listStatuses reads every host's statuses (status/<host>/<kind>/<name>)
// and keeps those of kind, and of name unless it is "".
func listStatuses(ctx context.Context, s *Store, kind, name string) (map[string][]v1.InstanceStatus, error) {
	kvs, _, err := s.List(ctx, StatusesPrefix)
	if err != nil {
		return nil, err
	}
	hostKeys, err := s.ListKeys(ctx, HostsPrefix)
	if err != nil {
		return nil, err
	}
	hosts := make(map[string]bool, len(hostKeys))
	for _, k := range hostKeys {
		hosts[strings.TrimPrefix(k, HostsPrefix)] = true
	}
	isHost := func(h string) bool { return hosts[h] }
	out := map[string][]v1.InstanceStatus{}
	for _, kv := range kvs {
		k, n, _, ok := ParseStatusKey(kv.Key)
		if !ok || k != lower(kind) || (name != "" && n != name) {
			continue
		}
		st, err := DecodeHostStatus(kv, isHost)
		if errors.Is(err, ErrOtherHost) || errors.Is(err, ErrNoSuchHost) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[n] = append(out[n], st)
	}
	for _, l := range out {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Host < l[j].Host })
	}
	return out, nil
}

// ListHosts returns every host record, sorted by name, with Status.State UP
// when the host's alive key exists, else DOWN.
func ListHosts(ctx context.Context, s *Store) ([]*v1.Host, error) {
	kvs, _, err := s.List(ctx, HostsPrefix)
	if err != nil {
		return nil, err
	}
	alive, _, err := s.List(ctx, AlivePrefix)
	if err != nil {
		return nil, err
	}
	up := make(map[string]bool, len(alive))
	for _, kv := range alive {
		up[lastSegment(kv.Key)] = true
	}
	out := make([]*v1.Host, 0, len(kvs))
	for _, kv := range kvs {
		h, err := decodeHost(kv, up[lastSegment(kv.Key)])
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// GetHost returns one host record with its state, or an error wrapping
// ErrNotFound.
func GetHost(ctx context.Context, s *Store, name string) (*v1.Host, error) {
	kv, err := s.Get(ctx, HostKey(name))
	if err != nil {
		return nil, err
	}
	_, aliveErr := s.Get(ctx, AliveKey(name))
	if aliveErr != nil && !errors.Is(aliveErr, ErrNotFound) {
		return nil, aliveErr
	}
	return decodeHost(kv, aliveErr == nil)
}

func decodeHost(kv KV, up bool) (*v1.Host, error) {
	o, err := decodeObject(v1.KindHost, kv)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	h := o.(*v1.Host)
	if h.Metadata.Name == "" {
		h.Metadata.Name = lastSegment(kv.Key)
	}
	h.Status.State = v1.HostDown
	if up {
		h.Status.State = v1.HostUp
	}
	return h, nil
}
