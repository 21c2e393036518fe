package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// The state kept up to date key by key is the state built whole from the
// caches, after any sequence of changes: Units applied, changed, deleted
// and unreadable; bindings written by others, unreadable, deleted, and
// written by the scheduler itself (counted before its cache shows them);
// host records and alive keys coming and going; Jobs and their bindings;
// Down hosts becoming Lost as the clock passes RescheduleAfter. The
// changes are drawn at random from a seed the test logs.
func TestStateKeptUpToDateEqualsRebuild(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	src := newSources(s, slog.New(slog.DiscardHandler), nil)
	clk := testingclock.NewFakePassiveClock(time.Now())
	st := newState(clk)
	st.rescheduleAfter = time.Minute
	st.track(&src)
	marks := newSyncMarks(t, s, &src)
	for _, c := range []interface{ Run(context.Context) error }{src.units, src.bindings, src.hosts, src.alive, src.jobs, src.jobBindings} {
		go func() { _ = c.Run(ctx) }()
	}

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	c := &changer{t: t, ctx: ctx, s: s, rng: rand.New(rand.NewPCG(uint64(seed), 0))}
	checks := 0
	inFlight := map[string]*v1.Binding{} // the scheduler's writes under way
	for step := range 600 {
		switch op := c.rng.IntN(20); {
		case op < 5:
			c.putUnit()
		case op < 6:
			c.del(store.ObjectKey(v1.KindUnit, c.unitName()))
		case op < 9:
			c.putBinding()
		case op < 10:
			c.del(store.BindingKey(v1.KindUnit, c.unitName()))
		case op < 12:
			c.putHost()
		case op < 13:
			c.del(store.HostKey(c.hostName()))
		case op < 15:
			if c.rng.IntN(2) == 0 {
				c.put(store.AliveKey(c.hostName()), []byte("1"))
			} else {
				c.del(store.AliveKey(c.hostName()))
			}
		case op < 16:
			c.putJob()
		case op < 17:
			clk.SetTime(clk.Now().Add(25 * time.Second)) // Down hosts become Lost after the minute
		default:
			// The scheduler's own write: counted at once, then written now
			// or after other changes (others may write the same key
			// meanwhile), or given up.
			st.refresh(&src)
			name := c.unitName()
			b, ok := inFlight[name]
			if !ok {
				b = c.binding()
				st.assume(name, b)
				if c.rng.IntN(2) == 0 {
					inFlight[name] = b
					break
				}
			}
			delete(inFlight, name)
			if c.rng.IntN(8) == 0 {
				st.forget(name)
				break
			}
			op := store.Op{Key: store.BindingKey(v1.KindUnit, name), Delete: b == nil, Force: true}
			if b != nil {
				op.Value = mustJSON(t, b)
			}
			rev, err := s.Txn(ctx, []store.Op{op})
			if err != nil {
				t.Fatal(err)
			}
			st.confirm(name, b, rev)
		}
		if c.rng.IntN(3) == 0 {
			st.refresh(&src) // while the caches may be behind
		}
		if step%15 == 14 {
			marks.wait(ctx)
			st.refresh(&src)
			rebuilt := newState(clk)
			rebuilt.rescheduleAfter = st.rescheduleAfter
			rebuilt.downSince = maps.Clone(st.downSince)
			rebuilt.mine = maps.Clone(st.mine)
			rebuilt.refresh(&src)
			if diff := stateDiff(st, rebuilt); diff != "" {
				t.Fatalf("after step %d (seed %d), kept up to date and rebuilt differ:\n%s", step, seed, diff)
			}
			checks++
		}
	}
	if len(st.units) == 0 || len(st.hosts) == 0 || len(st.load.placed) == 0 {
		t.Errorf("the changes left nothing to compare: %d units, %d hosts, %d placed", len(st.units), len(st.hosts), len(st.load.placed))
	}
	t.Logf("%d checks; at the end %d units, %d bindings, %d hosts, %d owners placed", checks, len(st.units), len(st.bindings), len(st.hosts), len(st.load.placed))
}

// stateDiff says how two states differ in what decisions read: units,
// bindings, hosts, Jobs and the load. "" when they do not.
func stateDiff(a, b *state) string {
	var out string
	add := func(what string, x, y any) { out += fmt.Sprintf("%s:\n  kept    %+v\n  rebuilt %+v\n", what, x, y) }
	unitRevs := func(st *state) map[string]string {
		m := map[string]string{}
		for name, e := range st.units {
			m[name] = fmt.Sprintf("%d err=%v", e.ModRevision, e.Err != nil)
		}
		return m
	}
	if x, y := unitRevs(a), unitRevs(b); !maps.Equal(x, y) {
		add("units", x, y)
	}
	if !maps.EqualFunc(a.bindings, b.bindings, func(x, y bound) bool { return reflect.DeepEqual(x, y) }) {
		add("bindings", a.bindings, b.bindings)
	}
	if !slices.EqualFunc(a.hosts, b.hosts, sameHost) {
		add("hosts", a.hosts, b.hosts)
	}
	if !maps.EqualFunc(a.hostInfo, b.hostInfo, sameHost) {
		add("hosts by name", a.hostInfo, b.hostInfo)
	}
	if !reflect.DeepEqual(a.jobs, b.jobs) {
		add("jobs", a.jobs, b.jobs)
	}
	if !reflect.DeepEqual(a.load.placed, b.load.placed) {
		add("placed", a.load.placed, b.load.placed)
	}
	if x, y := usages(a.load), usages(b.load); !reflect.DeepEqual(x, y) {
		add("usage", x, y)
	}
	return out
}

// usages returns what each host has taken, leaving out hosts that have
// taken nothing.
func usages(l *Load) map[string]string {
	m := map[string]string{}
	for h, u := range l.hosts {
		if u.Instances != 0 || u.MilliCPUs != 0 || u.Memory != 0 || len(u.Ports) != 0 || len(u.Observed) != 0 {
			m[h] = fmt.Sprintf("%d %d %d %v %v", u.Instances, u.MilliCPUs, u.Memory, u.Ports, u.Observed)
		}
	}
	return m
}

// changer writes random changes of a few Units, bindings, hosts and Jobs.
type changer struct {
	t   *testing.T
	ctx context.Context
	s   *store.Store
	rng *rand.Rand
}

func (c *changer) unitName() string { return "u" + strconv.Itoa(c.rng.IntN(8)) }
func (c *changer) hostName() string { return "h" + strconv.Itoa(c.rng.IntN(6)) }

func (c *changer) put(key string, value []byte) int64 {
	c.t.Helper()
	rev, err := c.s.Put(c.ctx, key, value, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return rev
}

func (c *changer) del(key string) {
	c.t.Helper()
	if _, err := c.s.Delete(c.ctx, key); err != nil {
		c.t.Fatal(err)
	}
}

// unreadable reports, one time in ten, that the next value is to be one
// that does not decode.
func (c *changer) unreadable() bool { return c.rng.IntN(10) == 0 }

func (c *changer) putUnit() {
	c.t.Helper()
	name := c.unitName()
	if c.unreadable() {
		c.put(store.ObjectKey(v1.KindUnit, name), []byte("{not a unit"))
		return
	}
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = name
	u.Spec.Container.Image = "busybox"
	u.Spec.Container.Resources = []v1.Resources{{}, {CPUs: "250m", Memory: "64Mi"}, {Memory: "1Gi"}}[c.rng.IntN(3)]
	if c.rng.IntN(4) == 0 {
		u.Spec.Container.Ports = []v1.Port{{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP}}
	}
	zone := map[string]string{"zone": "a"}
	switch c.rng.IntN(4) {
	case 0:
		u.Spec.Placement = v1.Placement{Global: true, HostSelector: zone}
	case 1:
		u.Spec.Placement = v1.Placement{Hosts: []string{c.hostName(), c.hostName()}}
	case 2:
		u.Spec.Placement = v1.Placement{Replicas: 1 + c.rng.IntN(3), HostSelector: zone}
	default:
		u.Spec.Placement = v1.Placement{Replicas: 1 + c.rng.IntN(3)}
	}
	v1.Default(u)
	if kv, err := c.s.Get(c.ctx, store.ObjectKey(v1.KindUnit, name)); err == nil && !json.Valid(kv.Value) {
		c.del(kv.Key) // apply refuses to replace what does not decode
	}
	if _, err := store.Apply(c.ctx, c.s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		c.t.Fatalf("apply %s: %v", name, err)
	}
}

// binding returns a binding on one to three hosts, or none.
func (c *changer) binding() *v1.Binding {
	if c.rng.IntN(5) == 0 {
		return nil
	}
	hosts := map[string]bool{}
	for range 1 + c.rng.IntN(3) {
		hosts[c.hostName()] = true
	}
	return &v1.Binding{Hosts: slices.Sorted(maps.Keys(hosts)), Generation: int64(1 + c.rng.IntN(3)), Pending: c.rng.IntN(2)}
}

func (c *changer) putBinding() {
	c.t.Helper()
	key := store.BindingKey(v1.KindUnit, c.unitName())
	b := c.binding()
	switch {
	case c.unreadable():
		c.put(key, []byte("[1"))
	case b == nil:
		c.put(key, []byte("null"))
	default:
		c.put(key, mustJSON(c.t, b))
	}
}

func (c *changer) putHost() {
	c.t.Helper()
	name := c.hostName()
	if c.unreadable() {
		c.put(store.HostKey(name), []byte("not json"))
		return
	}
	h := v1.New(v1.KindHost).(*v1.Host)
	h.Metadata.Name = name
	h.Metadata.Labels = map[string]string{"zone": []string{"a", "b"}[c.rng.IntN(2)]}
	h.Status.CPUs = 2 + c.rng.IntN(3)
	h.Status.MemoryBytes = int64(1+c.rng.IntN(4)) << 30
	h.Status.ReservedMemory = int64(c.rng.IntN(2)) << 28
	c.put(store.HostKey(name), mustJSON(c.t, h))
}

// putJob applies or deletes a Job, or writes or deletes its binding.
func (c *changer) putJob() {
	c.t.Helper()
	i := c.rng.IntN(3)
	name := "j" + strconv.Itoa(i)
	switch c.rng.IntN(4) {
	case 0:
		j := v1.New(v1.KindJob).(*v1.Job)
		j.Metadata.Name = name
		j.Spec.Version = "1"
		j.Spec.Container.Image = "busybox"
		j.Spec.Container.Resources = v1.Resources{CPUs: "500m", Memory: v1.Quantity(strconv.Itoa(1+i) + "00Mi")}
		j.Spec.Deployments = []v1.Deployment{{Host: "h0"}}
		v1.Default(j)
		if _, err := store.Apply(c.ctx, c.s, []v1.Object{j}, store.ApplyOptions{}); err != nil {
			c.t.Fatalf("apply job %s: %v", name, err)
		}
	case 1:
		if err := store.DeleteObject(c.ctx, c.s, v1.KindJob, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.t.Fatalf("delete job %s: %v", name, err)
		}
	case 2:
		hosts := map[string]string{c.hostName(): "1"}
		if c.rng.IntN(2) == 0 {
			hosts[c.hostName()] = "2"
		}
		c.put(store.BindingKey(v1.KindJob, name), mustJSON(c.t, v1.JobBinding{Hosts: hosts}))
	default:
		c.del(store.BindingKey(v1.KindJob, name))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncMarks tells when the state has been told of everything written so
// far: it writes a mark under the prefix of each cache and waits until a
// handler added after the state's own sees it. A cache calls its handlers
// key by key in the order of the writes, each after the state's, so the
// state has then been told of every key written before the mark. The
// marks sort last and do not decode: both states read them alike.
type syncMarks struct {
	t     *testing.T
	s     *store.Store
	marks []*syncMark
}

type syncMark struct {
	prefix string
	get    func(key string) (modRev int64, ok bool)
	seen   chan int64
}

func newSyncMarks(t *testing.T, s *store.Store, src *sources) *syncMarks {
	m := &syncMarks{t: t, s: s}
	add := func(prefix string, onChange func(func(string)), get func(string) (int64, bool)) {
		mk := &syncMark{prefix: prefix, get: get, seen: make(chan int64, 100)}
		onChange(func(key string) {
			if key == m.key(prefix) {
				if rev, ok := get(key); ok {
					mk.seen <- rev
				}
			}
		})
		m.marks = append(m.marks, mk)
	}
	add(src.units.Prefix(), src.units.OnChange, typedRev(src.units))
	add(src.bindings.Prefix(), src.bindings.OnChange, typedRev(src.bindings))
	add(src.hosts.Prefix(), src.hosts.OnChange, typedRev(src.hosts))
	add(store.AlivePrefix, src.alive.OnChange, func(key string) (int64, bool) {
		kv, ok := src.alive.Get(key)
		return kv.ModRevision, ok
	})
	add(src.jobs.Prefix(), src.jobs.OnChange, typedRev(src.jobs))
	add(src.jobBindings.Prefix(), src.jobBindings.OnChange, typedRev(src.jobBindings))
	return m
}

func typedRev[T any](c *store.Typed[T]) func(string) (int64, bool) {
	return func(key string) (int64, bool) {
		e, ok := c.Get(key)
		return e.ModRevision, ok
	}
}

// key is the mark's key under prefix.
func (m *syncMarks) key(prefix string) string { return prefix + "~sync" }

// wait writes a mark under every prefix and waits until each is seen.
func (m *syncMarks) wait(ctx context.Context) {
	m.t.Helper()
	for _, mk := range m.marks {
		rev, err := m.s.Put(ctx, m.key(mk.prefix), []byte("~"), 0)
		if err != nil {
			m.t.Fatal(err)
		}
		for seen := int64(0); seen < rev; {
			select {
			case seen = <-mk.seen:
			case <-ctx.Done():
				m.t.Fatalf("the mark under %s was not seen at revision %d", mk.prefix, rev)
			}
		}
	}
}
