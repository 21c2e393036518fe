package cli

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// mirror is a list-then-watch copy of a few prefixes for the commands that
// wait on a condition (apply --wait, wait): startMirror lists each prefix,
// then one goroutine per prefix applies its watch from the listed revision
// and signals changed after every batch. A compacted watch lists its prefix
// again. The mirror is read under its lock and stopped by stop.
type mirror struct {
	st      *store.Store
	timeout func(context.Context) (context.Context, context.CancelFunc)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// changed has a value when the content changed since it was last read.
	changed chan struct{}
	// errc receives the error that ended a watch.
	errc chan error

	mu    sync.Mutex
	items map[string]store.KV
}

// startMirror lists prefixes and follows them until stop. It returns the
// error of a failed list.
func (a *app) startMirror(ctx context.Context, st *store.Store, prefixes ...string) (*mirror, error) {
	ctx, cancel := context.WithCancel(ctx)
	m := &mirror{st: st, timeout: a.withTimeout, cancel: cancel, changed: make(chan struct{}, 1),
		errc: make(chan error, len(prefixes)), items: map[string]store.KV{}}
	revs := make([]int64, len(prefixes))
	for i, p := range prefixes {
		rev, err := m.list(ctx, p)
		if err != nil {
			cancel()
			return nil, storeErr(err)
		}
		revs[i] = rev
	}
	for i, p := range prefixes {
		m.wg.Add(1)
		go m.follow(ctx, p, revs[i])
	}
	return m, nil
}

// stop ends the watches and waits for their goroutines.
func (m *mirror) stop() {
	m.cancel()
	m.wg.Wait()
}

func (m *mirror) signal() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// list replaces what the mirror holds under prefix and returns the revision
// of the read.
func (m *mirror) list(ctx context.Context, prefix string) (int64, error) {
	ctx, cancel := m.timeout(ctx)
	defer cancel()
	kvs, rev, err := m.st.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	for k := range m.items {
		if strings.HasPrefix(k, prefix) {
			delete(m.items, k)
		}
	}
	for _, kv := range kvs {
		m.items[kv.Key] = kv
	}
	m.mu.Unlock()
	m.signal()
	return rev, nil
}

// follow applies the changes under prefix after rev until ctx ends.
func (m *mirror) follow(ctx context.Context, prefix string, rev int64) {
	defer m.wg.Done()
	fail := func(err error) {
		select {
		case m.errc <- err:
		default:
		}
	}
	for {
		compacted := false
		for b := range m.st.Watch(ctx, prefix, rev+1) {
			if b.Compacted {
				compacted = true
				break
			}
			if b.Err != nil {
				if ctx.Err() == nil {
					fail(b.Err)
				}
				return
			}
			m.mu.Lock()
			for _, ev := range b.Events {
				if ev.Type == store.EventDelete {
					delete(m.items, ev.KV.Key)
				} else {
					m.items[ev.KV.Key] = ev.KV
				}
			}
			m.mu.Unlock()
			rev = max(rev, b.Revision)
			m.signal()
		}
		if ctx.Err() != nil {
			return
		}
		if !compacted {
			fail(errors.New("store: watch " + prefix + ": ended"))
			return
		}
		var err error
		if rev, err = m.list(ctx, prefix); err != nil {
			if ctx.Err() == nil {
				fail(err)
			}
			return
		}
	}
}

// until calls check now and after every change until it reports done or
// an error, the watch fails, or ctx ends (ctx's error). check runs on the
// caller's goroutine and reads the mirror.
func (m *mirror) until(ctx context.Context, check func() (bool, error)) error {
	for {
		if done, err := check(); done || err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-m.changed:
		case err := <-m.errc:
			return storeErr(err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// get returns the value of key.
func (m *mirror) get(key string) (store.KV, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.items[key]
	return kv, ok
}

// under returns the keys under prefix, sorted.
func (m *mirror) under(prefix string) []store.KV {
	m.mu.Lock()
	var out []store.KV
	for k, kv := range m.items {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// unit returns the stored Unit of that name; an undecodable one is an error.
func (m *mirror) unit(name string) (*v1.Unit, bool, error) {
	kv, ok := m.get(store.ObjectKey(v1.KindUnit, name))
	if !ok {
		return nil, false, nil
	}
	var u v1.Unit
	if err := json.Unmarshal(kv.Value, &u); err != nil {
		return nil, false, errors.New("decode " + kv.Key + ": " + err.Error())
	}
	return &u, true, nil
}

// statuses returns the instance statuses of a Unit, by host, the host of
// each being its key's (store.DecodeHostStatus). Values that do not
// decode, that name another host than their key, or whose key's host has
// no record (the mirror must follow store.HostsPrefix) are skipped: they
// are no instance anyone can wait for.
func (m *mirror) statuses(name string) []v1.InstanceStatus {
	var out []v1.InstanceStatus
	isHost := func(h string) bool { _, ok := m.get(store.HostKey(h)); return ok }
	for _, kv := range m.under(store.StatusesPrefix) {
		kind, n, _, ok := store.ParseStatusKey(kv.Key)
		if !ok || kind != "unit" || n != name {
			continue
		}
		if st, err := store.DecodeHostStatus(kv, isHost); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// hosts returns the host records, Up when their alive key exists.
func (m *mirror) hosts() []*v1.Host {
	var out []*v1.Host
	for _, kv := range m.under(store.HostsPrefix) {
		name := strings.TrimPrefix(kv.Key, store.HostsPrefix)
		var h v1.Host
		if json.Unmarshal(kv.Value, &h) != nil {
			h = v1.Host{}
		}
		if h.Metadata.Name == "" {
			h.Metadata.Name = name
		}
		h.Status.State = v1.HostDown
		if _, up := m.get(store.AliveKey(name)); up {
			h.Status.State = v1.HostUp
		}
		out = append(out, &h)
	}
	return out
}
