package units

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
)

// statusPuts returns the states written to the Unit's status after
// revision from, up to the status now in etcd, in order, as an etcd watch
// of the key sees them.
func (e *env) statusPuts(name string, from int64) []v1.InstanceState {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := store.StatusKey(v1.KindUnit, name, "h")
	last, err := e.s.Get(ctx, key)
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	if last.ModRevision <= from {
		return nil
	}
	var states []v1.InstanceState
	for b := range e.s.Watch(ctx, key, from+1) {
		if b.Err != nil || b.Compacted {
			e.t.Fatalf("watch %s: %v (compacted %v)", key, b.Err, b.Compacted)
		}
		for _, ev := range b.Events {
			if ev.Type != store.EventPut || ev.KV.Key != key {
				continue
			}
			st, err := store.DecodeStatus(ev.KV)
			if err != nil {
				e.t.Fatal(err)
			}
			states = append(states, st.State)
			if ev.KV.ModRevision >= last.ModRevision {
				return states
			}
		}
	}
	e.t.Fatalf("watch %s ended before revision %d: %v", key, last.ModRevision, ctx.Err())
	return nil
}

func (e *env) eventReasons(name string) []string {
	e.t.Helper()
	evs, err := store.ListEvents(context.Background(), e.s, v1.KindUnit, name)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Reason)
	}
	return out
}

// TestStartWritesOneStatus: a Unit whose container is created and started
// within StatusSettle goes from no status to RUNNING in one status write;
// the events still say it was created and started; and while it runs,
// reconciles write nothing, status or events.
func TestStartWritesOneStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.Events = events.NewRecorder(o.Store, o.Host, nil)
		o.StatusSettle = time.Hour // every step of the fake engine is quicker
	})
	ctx := context.Background()
	from, err := e.s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.apply(pinned("web", nil))
	st := e.waitState("web", v1.StateRunning)
	if got := e.statusPuts("web", from); !slices.Equal(got, []v1.InstanceState{v1.StateRunning}) {
		t.Errorf("status writes %v, want one: [RUNNING]", got)
	}
	if st.ContainerID == "" || v1.FindCondition(st.Conditions, v1.ConditionReady).Status != v1.ConditionTrue {
		t.Errorf("status %+v", st)
	}
	if got := e.eventReasons("web"); !slices.Equal(got, []string{"Created", "Started"}) {
		t.Errorf("events %v, want [Created Started]", got)
	}

	idle, err := e.s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.reconciled("web")
	}
	if got := e.statusPuts("web", idle); len(got) != 0 {
		t.Errorf("idle reconciles wrote the status: %v", got)
	}
	if got := e.eventReasons("web"); len(got) != 2 {
		t.Errorf("idle reconciles recorded events: %v", got)
	}
}

// heldStarts is an engine whose container starts wait for release.
type heldStarts struct {
	*fake.Runtime
	release chan struct{}
}

func (h *heldStarts) Start(ctx context.Context, id string) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Runtime.Start(ctx, id)
}

// TestSlowStartShowsStarting: a start that lasts longer than StatusSettle
// is STARTING in the status while it lasts, then RUNNING; nothing is
// written twice.
func TestSlowStartShowsStarting(t *testing.T) {
	t.Parallel()
	held := &heldStarts{release: make(chan struct{})}
	e := newEnv(t, func(o *Options) {
		held.Runtime = o.Runtime.(*fake.Runtime)
		o.Runtime = held
		o.StatusSettle = 10 * time.Millisecond
	})
	from, err := e.s.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.apply(pinned("web", nil))
	st := e.waitState("web", v1.StateStarting)
	if c := v1.FindCondition(st.Conditions, v1.ConditionProgressing); c.Status != v1.ConditionTrue || c.Reason != "Starting" {
		t.Errorf("STARTING's Progressing condition %+v", c)
	}
	close(held.release)
	e.waitState("web", v1.StateRunning)
	got := e.statusPuts("web", from)
	// CREATING is written too when the create outlasts the 10ms.
	if !slices.Equal(got, []v1.InstanceState{v1.StateStarting, v1.StateRunning}) &&
		!slices.Equal(got, []v1.InstanceState{v1.StateCreating, v1.StateStarting, v1.StateRunning}) {
		t.Errorf("status writes %v, want [(CREATING) STARTING RUNNING]", got)
	}
	if cs := e.containers("web"); len(cs) != 1 || cs[0].State != runtime.StateRunning {
		t.Errorf("containers %s", fmt.Sprint(cs))
	}
}
