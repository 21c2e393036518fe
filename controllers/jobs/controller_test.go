package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// addHost writes the record of a host, as its controller does.
func (e *controllerEnv) addHost(name string) {
	e.t.Helper()
	h := v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}, Metadata: v1.ObjectMeta{Name: name}}
	b, err := json.Marshal(h)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(context.Background(), store.HostKey(name), b, 0); err != nil {
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
	e.addHost("a")
	e.addHost("b")
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

// Only a host writes statuses under its name, and only a host that joined
// has a record. A status under the name of a host that never joined
// (which etcd's berth-gc role may write) is no host's: it does not move a
// rollout past that host, which fails for want of a status.
func TestStatusOfNoHostDoesNotMoveARollout(t *testing.T) {
	t.Parallel()
	e := newControllerEnv(t)
	e.addHost("a")
	deploy := func(j *v1.Job) {
		deployed("a", "ghost")(j)
		j.Spec.Rollout.Timeout = &v1.Duration{Duration: time.Second}
	}
	e.apply(job("1", deploy))
	e.waitBinding("nc", "version 1 on a and ghost", func(b v1.JobBinding) bool {
		return b.Hosts["a"] == "1" && b.Hosts["ghost"] == "1"
	}, func(v1.JobBinding) string { return "" })

	v2 := job("2", deploy)
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "ghost"), running(v2, "ghost"))
	e.apply(v2)
	e.waitBinding("nc", "version 2 on a", func(b v1.JobBinding) bool { return b.Hosts["a"] == "2" }, func(v1.JobBinding) string { return "" })
	e.putStatus(store.StatusKey(v1.KindJob, "nc", "a"), running(v2, "a"))
	b := e.waitBinding("nc", "the rollout to end", func(b v1.JobBinding) bool {
		return b.Rollout != nil && b.Rollout.State != v1.RolloutRollingOut
	}, func(v1.JobBinding) string { return "" })
	if b.Rollout.State != v1.RolloutFailed || !strings.Contains(b.Rollout.Message, "host ghost: not RUNNING and healthy within 1s (no status yet)") {
		t.Errorf("rollout %s: %s; want it failed on host ghost, which reported nothing", b.Rollout.State, b.Rollout.Message)
	}
}
