package units

import (
	"slices"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
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

// timerRunWorkload adapts one run of a Timer to the Unit this host runs
// for it; ref is "<timer>/<run>". A run whose binding does not decode is
// no run.
func (c *Controller) timerRunWorkload(key, ref string) *workload {
	timer, run, _ := strings.Cut(ref, "/")
	w := &workload{key: key, kind: v1.KindTimer, name: timer, version: run,
		statusKey: store.StatusKey(v1.KindTimer, ref, c.o.Host)}
	be, ok := c.caches.timerRuns.Get(store.BindingKey(v1.KindTimer, ref))
	if !ok {
		return w
	}
	te, ok := c.caches.timers.Get(store.ObjectKey(v1.KindTimer, timer))
	if !ok || be.Err != nil {
		return w
	}
	if te.Err != nil {
		w.invalid = te.Err
		return w
	}
	t, b := te.Value, be.Value
	if !slices.Contains(b.Hosts, c.o.Host) {
		return w
	}
	goal := v1.GoalStart
	if b.Stop {
		goal = v1.GoalStop
	}
	restart := v1.RestartPolicy{Policy: t.Spec.Restart.Policy}
	if restart.Policy == v1.RestartOnFailure && t.Spec.Restart.Limit != nil {
		restart.StartLimit = &v1.StartLimit{Burst: *t.Spec.Restart.Limit + 1, Interval: &v1.Duration{Duration: timerRunStartLimitInterval}}
	}
	w.unit, w.placed = adapt(t.Metadata, v1.UnitSpec{Container: t.Spec.Container, Goal: goal, Restart: restart}), true
	return w
}
