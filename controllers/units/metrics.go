package units

import (
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// timing is what an instance remembers for berth_time_to_running_seconds
// and the BackOff event.
type timing struct {
	gen        int64     // the generation last read
	seenAt     time.Time // when this host first read it
	timedGen   int64     // the generation whose RUNNING was observed
	backOff    time.Time // the exit whose back-off was announced
	backOffSet bool
}

// registerMetrics makes the instances the source of berth_instances.
func (c *Controller) registerMetrics() {
	for _, kind := range []string{v1.KindUnit, v1.KindJob} {
		c.o.BerthMetrics.CountInstances(kind, func() map[v1.InstanceState]int { return c.instances.states(kind) })
	}
}

// kindOfKey returns the kind of a work-queue key.
func kindOfKey(key string) string {
	if strings.HasPrefix(key, jobKeyPrefix) {
		return v1.KindJob
	}
	if strings.HasPrefix(key, timerRunKeyPrefix) {
		return v1.KindTimer
	}
	return v1.KindUnit
}

// sawGeneration notes when this host first read the object's generation:
// berth_time_to_running_seconds counts from then. A generation that was
// already reported RUNNING (before a restart of the controller) is not
// timed again.
func (c *Controller) sawGeneration(in *instance, w *workload) {
	if w.unit == nil || !w.placed {
		return
	}
	gen := w.unit.Metadata.Generation
	if in.timing.gen == gen {
		return
	}
	first := in.timing.gen == 0
	in.timing.gen, in.timing.seenAt = gen, time.Now()
	st := in.status // the reconcile of the instance's key is the one that writes it
	if first && st != nil && st.State == v1.StateRunning && st.ObservedGeneration == gen {
		in.timing.timedGen = gen
	}
}

// timeToRunning observes the time to RUNNING the first time a generation
// is reported RUNNING.
func (c *Controller) timeToRunning(w *workload, in *instance, st *v1.InstanceStatus) {
	if st.State == v1.StateRunning && st.ObservedGeneration == in.timing.gen && in.timing.timedGen != in.timing.gen && !in.timing.seenAt.IsZero() {
		in.timing.timedGen = in.timing.gen
		c.o.BerthMetrics.Running(w.kind, time.Since(in.timing.seenAt))
	}
}
