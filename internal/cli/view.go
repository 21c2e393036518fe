package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// view is what get and describe show of Units, Jobs or Hosts: the objects
// with their status gathered from the status keys. Services come from the
// catalog instead (catalog.go).
type view struct {
	kind string
	objs []v1.Object
	// counts are, for hosts, the instances each host reports.
	counts map[string]hostCount
	// down are the hosts that have a record and no heartbeat: their
	// instances are shown UNKNOWN (host DOWN) in tables.
	down map[string]bool
	// rev is a revision at or before the reads: watching from rev+1 misses
	// nothing.
	rev int64
}

type hostCount struct{ deployed, running int }

// notFoundError is the error of a named object that does not exist.
type notFoundError struct{ kind, name string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("%s %q not found", strings.ToLower(e.kind), e.name)
}

func notFound(kind, name string) error { return &notFoundError{kind, name} }

func isNotFound(err error) bool {
	var nf *notFoundError
	return errors.As(err, &nf)
}

// load reads the objects of kind (only name when it is set) with their
// status. A named object that does not exist is a notFound error.
func (a *app) load(ctx context.Context, st *store.Store, kind, name string) (*view, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	rev, err := st.Revision(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	v := &view{kind: kind, rev: rev}
	if kind == v1.KindJob && strings.Contains(name, ":") {
		// A job is named as Helios names it: NAME:VERSION[:HASH] must be
		// the stored version.
		if name, err = a.checkJobRef(ctx, st, name); err != nil {
			return nil, err
		}
	}
	err = a.loadInto(ctx, st, v, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(kind, name)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return v, nil
}

func (a *app) loadInto(ctx context.Context, st *store.Store, v *view, name string) error {
	switch v.kind {
	case v1.KindHost:
		var hosts []*v1.Host
		if name != "" {
			h, err := store.GetHost(ctx, st, name)
			if err != nil {
				return err
			}
			hosts = []*v1.Host{h}
		} else {
			var err error
			if hosts, err = store.ListHosts(ctx, st); err != nil {
				return err
			}
		}
		for _, h := range hosts {
			v.objs = append(v.objs, h)
		}
		v.counts = map[string]hostCount{}
		for _, k := range []string{v1.KindUnit, v1.KindJob} {
			sts, err := store.ListStatuses(ctx, st, k)
			if err != nil {
				return err
			}
			for _, insts := range sts {
				for _, in := range insts {
					c := v.counts[in.Host]
					c.deployed++
					if in.State == v1.StateRunning {
						c.running++
					}
					v.counts[in.Host] = c
				}
			}
		}
		return nil
	}
	if err := a.loadObjects(ctx, st, v, name); err != nil {
		return err
	}
	hosts, err := store.ListHosts(ctx, st)
	if err != nil {
		return err
	}
	v.down = map[string]bool{}
	for _, h := range hosts {
		if h.Status.State == v1.HostDown {
			v.down[h.Metadata.Name] = true
		}
	}
	sts := map[string][]v1.InstanceStatus{}
	if name != "" {
		sts[name], err = store.ObjectStatuses(ctx, st, v.kind, name)
	} else {
		sts, err = store.ListStatuses(ctx, st, v.kind)
	}
	if err != nil {
		return err
	}
	pending, err := pendingReplicas(ctx, st, v.kind, name)
	if err != nil {
		return err
	}
	for _, o := range v.objs {
		insts := sts[o.GetObjectMeta().Name]
		if insts == nil {
			insts = []v1.InstanceStatus{}
		}
		s := &v1.ObjectStatus{Instances: insts}
		switch o := o.(type) {
		case *v1.Unit:
			if b := pending[o.Metadata.Name]; b != nil && b.Generation == o.Metadata.Generation {
				s.Pending, s.PendingReason = b.Pending, b.PendingReason
			}
			o.Status = s
		case *v1.Job:
			o.Status = s
		}
	}
	return nil
}

// pendingReplicas returns the bindings of Units (only name's when set)
// that leave replicas pending, by Unit name; other kinds have none.
func pendingReplicas(ctx context.Context, st *store.Store, kind, name string) (map[string]*v1.Binding, error) {
	if kind != v1.KindUnit {
		return nil, nil
	}
	prefix := store.BindingKey(kind, name)
	kvs, _, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.Binding{}
	for _, kv := range kvs {
		n := strings.TrimPrefix(kv.Key, store.BindingKey(kind, ""))
		var b v1.Binding
		if (name != "" && n != name) || json.Unmarshal(kv.Value, &b) != nil || b.Pending == 0 {
			continue
		}
		out[n] = &b
	}
	return out, nil
}

func (a *app) loadObjects(ctx context.Context, st *store.Store, v *view, name string) error {
	if name != "" {
		o, err := store.GetObject(ctx, st, v.kind, name)
		if err != nil {
			return err
		}
		v.objs = []v1.Object{o}
		return nil
	}
	objs, _, err := store.ListObjects(ctx, st, v.kind)
	v.objs = objs
	return err
}

// instances returns the instance statuses a loaded Unit or Job carries.
func instances(o v1.Object) []v1.InstanceStatus {
	switch o := o.(type) {
	case *v1.Unit:
		if o.Status != nil {
			return o.Status.Instances
		}
	case *v1.Job:
		if o.Status != nil {
			return o.Status.Instances
		}
	}
	return nil
}
