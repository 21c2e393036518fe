package units

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// A Timer's run is a workload of its own: the leader binds it to hosts
// under bindings/timer/<timer>/<run>, and each of them runs the Timer's
// container once, as a Unit whose restart policy is the run's (never, or
// on-failure up to a limit), labelled with the run as its version. Its
// status is status/<host>/timer/<timer>/<run>. A run asked to stop (its
// deadline passed, a newer run replaced it, or it finished) is a Unit with
// goal stop: nothing starts it again, and its exited container is kept, with
// its logs, until the leader forgets the run and deletes its binding. A
// run's container is made once: a Timer changed while it runs changes the
// next runs (planInput.KeepTemplate), never restarts this one.

// timerRunKeyPrefix marks the work-queue keys of Timer runs:
// "timer:<timer>/<run>".
const timerRunKeyPrefix = "timer:"

func timerRunKey(ref string) string { return timerRunKeyPrefix + ref }

// timerRunStartLimitInterval holds the restarts of a run within one
// window: a run's limit counts its whole life.
const timerRunStartLimitInterval = 24 * time.Hour

func (c *Controller) timerRunCaches(cs *caches) {
	timerPrefix := store.ObjectPrefix(v1.KindTimer)
	runPrefix := store.BindingKey(v1.KindTimer, "")
	cs.timers = store.NewCache(c.o.Store, timerPrefix, func(key string) {
		c.enqueueTimerRuns(strings.TrimPrefix(key, timerPrefix))
	})
	cs.timerRuns = store.NewCache(c.o.Store, runPrefix, func(key string) {
		c.loop.Enqueue(timerRunKey(strings.TrimPrefix(key, runPrefix)))
	})
}

// enqueueTimerRuns enqueues the runs of one Timer, or of every Timer when
// timer is "".
func (c *Controller) enqueueTimerRuns(timer string) {
	prefix := store.BindingKey(v1.KindTimer, "")
	for _, kv := range c.caches.timerRuns.List() {
		ref := strings.TrimPrefix(kv.Key, prefix)
		if timer == "" || strings.HasPrefix(ref, timer+"/") {
			c.loop.Enqueue(timerRunKey(ref))
		}
	}
}

// timerRunWorkload adapts one run of a Timer to the Unit this host runs
// for it; ref is "<timer>/<run>".
func (c *Controller) timerRunWorkload(key, ref string) (*workload, error) {
	timer, run, _ := strings.Cut(ref, "/")
	w := &workload{key: key, kind: v1.KindTimer, name: timer, version: run,
		statusKey: store.StatusKey(v1.KindTimer, ref, c.o.Host)}
	bkv, ok := c.caches.timerRuns.Get(store.BindingKey(v1.KindTimer, ref))
	if !ok {
		return w, nil
	}
	tkv, ok := c.caches.timers.Get(store.ObjectKey(v1.KindTimer, timer))
	if !ok {
		return w, nil
	}
	var b v1.TimerRunBinding
	if err := json.Unmarshal(bkv.Value, &b); err != nil {
		return w, nil // no binding this host can read
	}
	t := &v1.Timer{}
	if err := json.Unmarshal(tkv.Value, t); err != nil {
		return nil, reconcile.Terminal(fmt.Errorf("decode timer %s: %w", timer, err))
	}
	v1.Default(t)
	if !slices.Contains(b.Hosts, c.o.Host) {
		return w, nil
	}
	goal := v1.GoalStart
	if b.Stop {
		goal = v1.GoalStop
	}
	restart := v1.RestartPolicy{Policy: t.Spec.Restart.Policy}
	if restart.Policy == v1.RestartOnFailure && t.Spec.Restart.Limit != nil {
		restart.StartLimit = &v1.StartLimit{Burst: *t.Spec.Restart.Limit + 1, Interval: &v1.Duration{Duration: timerRunStartLimitInterval}}
	}
	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}, Metadata: t.Metadata,
		Spec: v1.UnitSpec{Container: t.Spec.Container, Goal: goal, Restart: restart}}
	v1.Default(u)
	w.unit, w.placed = u, true
	return w, nil
}
