package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// controllerEnv runs the Jobs controller on an embedded etcd.
type controllerEnv struct {
	t *testing.T
	s *store.Store
}

func newControllerEnv(t *testing.T) *controllerEnv {
	t.Helper()
	e := &controllerEnv{t: t, s: testenv.EtcdStore(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = New(e.s, Options{Resync: time.Hour}).Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *controllerEnv) apply(j *v1.Job) {
	e.t.Helper()
	if _, err := store.Apply(context.Background(), e.s, []v1.Object{j}, store.ApplyOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *controllerEnv) putStatus(key string, st v1.InstanceStatus) {
	e.t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), key, b, 0); err != nil {
		e.t.Fatal(err)
	}
}

// waitBinding polls the binding of job name until ok holds, failing the
// test after 10 seconds, or at once when stop says why it never will.
func (e *controllerEnv) waitBinding(name, what string, ok func(v1.JobBinding) bool, stop func(v1.JobBinding) string) v1.JobBinding {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b v1.JobBinding
		kv, err := e.s.Get(context.Background(), store.BindingKey(v1.KindJob, name))
		if err == nil {
			if err := json.Unmarshal(kv.Value, &b); err != nil {
				e.t.Fatal(err)
			}
			if ok(b) {
				return b
			}
			if why := stop(b); why != "" {
				e.t.Fatalf("waiting for %s: %s", what, why)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waited 10s for %s; binding %+v, rollout %+v (%v)", what, b.Hosts, b.Rollout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A host can write only its own statuses (status/<host>/..., etcd's
// roles). Host b reporting, under its own key, that host a failed the new
// version must not stop a's rollout: the status is no host's, and when a
// reports itself running the rollout moves on to b.
func TestForgedStatusDoesNotMoveARollout(t *testing.T) {
	t.Parallel()
	e := newControllerEnv(t)
	e.apply(job("1", deployed("a", "b")))
	e.waitBinding("nc", "version 1 on a and b", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "1" && b.Hosts["b"] == "1"
	}, func(v1.JobBinding) string { return "" })

	v2 := job("2", deployed("a", "b"))
	e.apply(v2)
	e.waitBinding("nc", "version 2 rolling out on a", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "2" && b.Hosts["b"] == "1" && b.Rollout != nil
	}, func(v1.JobBinding) string { return "" })

	forged := v1.InstanceStatus{Host: "a", State: v1.StateFailed, SpecHash: v1.TemplateHash(&v2.Spec.Container), Message: "forged by host b"}
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "b"), forged)
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "a"), running(v2, "a"))

	failed := func(b v1.JobBinding) string {
		if b.Rollout != nil && b.Rollout.State == v1.RolloutFailed {
			return fmt.Sprintf("the rollout failed: %s", b.Rollout.Message)
		}
		return ""
	}
	b := e.waitBinding("nc", "version 2 on b once a runs it", func(b v1.JobBinding) bool { return b.Hosts["b"] == "2" }, failed)
	if why := failed(b); why != "" {
		t.Error(why)
	}
}
