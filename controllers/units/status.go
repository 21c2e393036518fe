package units

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// DefaultStatusSettle is how long a state on the way (PULLING_IMAGE,
// CREATING, STARTING, STOPPING) must last before it is written, unless
// Options.StatusSettle says. A step that ends sooner leaves no trace in
// etcd: the state it ends in is written instead, in one write, so a
// container created and started within a reconcile costs one status write
// (RUNNING), and a slow step still shows where the instance is while it
// lasts.
const DefaultStatusSettle = 100 * time.Millisecond

// enter moves the instance to a state on the way to running or stopping
// (PULLING_IMAGE, CREATING, STARTING, STOPPING) before a step that may take
// a while. The state is written once it has lasted Options.StatusSettle, while the
// step is still under way, so that what waits for the instance sees where
// it is; a step that ends sooner is not written (report writes what it
// ends in).
func (r *run) enter(ctx context.Context, state v1.InstanceState, msg string) {
	r.settle()
	r.state, r.msg = state, msg
	c, in := r.c, r.in
	if r.u == nil {
		return
	}
	c.noteImage(ctx, r)
	st := r.status(time.Now().UTC().Truncate(time.Second))
	if in.status != nil && sameStatus(in.status, st) && c.statusKept(r.w, in) {
		return
	}
	p := &r.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	gen, history, at := p.gen, r.historyDue(st), time.Now().UTC()
	p.st = st
	p.timer = time.AfterFunc(c.o.StatusSettle, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gen != gen || p.st == nil {
			return // settled, or replaced, meanwhile
		}
		st := p.st
		p.st = nil
		rev, err := r.put(ctx, st, history, at)
		if err != nil {
			c.o.Log.Debug("report status", "kind", r.w.kind, "name", r.name, "state", st.State, "err", err)
			return
		}
		p.wrote, p.rev = st, rev
	})
}

// pendingStatus is a state entered and not yet written: its timer writes it
// once it has lasted Options.StatusSettle, unless settle comes first. The timer
// runs on its own goroutine, so what it wrote is recorded in the instance
// by settle, on the reconcile's.
type pendingStatus struct {
	mu    sync.Mutex
	gen   int
	timer *time.Timer
	st    *v1.InstanceStatus // to be written; nil once written or settled
	wrote *v1.InstanceStatus // written by the timer, not yet recorded
	rev   int64
}

// settle ends a state entered: not written if it has not lasted
// Options.StatusSettle; when the timer is writing it, settle waits for the write,
// and records what was written.
func (r *run) settle() {
	p := &r.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.st = nil
	if p.wrote != nil {
		r.c.instances.reported(r.in, p.wrote, p.rev)
		p.wrote = nil
	}
}

// report writes the instance's status when it differs from the last one
// written, or when the one written is no longer in etcd as written. It is
// the one place a status is written, with the timer of a state entered
// (enter); a Job's status changes are also recorded in its history.
func (r *run) report(ctx context.Context) error {
	r.settle()
	c, u, in := r.c, r.u, r.in
	if u == nil {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	c.noteImage(ctx, r)
	r.laps.lap("noteImage")
	st := r.status(now)
	if in.status != nil && sameStatus(in.status, st) && c.statusKept(r.w, in) {
		return nil
	}
	rev, err := r.put(ctx, st, r.historyDue(st), time.Now().UTC())
	if err != nil {
		return err
	}
	c.instances.reported(in, st, rev)
	c.timeToRunning(r.w, in, st)
	r.laps.lap("status")
	return nil
}

// historyDue reports whether st is a change a Job's history records: of
// state, container or throttling, from the status last written.
func (r *run) historyDue(st *v1.InstanceStatus) bool {
	prev := r.in.status
	return r.w.kind == v1.KindJob && (prev == nil || prev.State != st.State || prev.ContainerID != st.ContainerID || prev.Throttled != st.Throttled)
}

// put writes st, and records it in the Job's history as entered at at
// when history says, and returns the status's revision.
func (r *run) put(ctx context.Context, st *v1.InstanceStatus, history bool, at time.Time) (int64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	rev, err := r.c.o.Store.Put(ctx, r.w.statusKey, b, 0)
	if err != nil {
		return 0, fmt.Errorf("write status: %w", err)
	}
	if history {
		r.c.history.record(ctx, r.name, v1.HistoryEntry{Host: r.c.o.Host, Timestamp: at, State: st.State,
			Throttled: st.Throttled, ContainerID: st.ContainerID, Version: r.w.version, Message: st.Message})
	}
	return rev, nil
}

// status is the instance's status as this run leaves it.
func (r *run) status(now time.Time) *v1.InstanceStatus {
	u, in := r.u, r.in
	st := &v1.InstanceStatus{
		Host:               r.c.o.Host,
		Goal:               u.Spec.Goal,
		State:              r.state,
		Since:              now,
		Restarts:           in.mem.Restarts,
		LastExitCode:       in.mem.LastExitCode,
		LastExitTime:       in.mem.LastExitTime.UTC(),
		Throttled:          r.throttle,
		Message:            r.msg,
		ObservedGeneration: u.Metadata.Generation,
		SpecHash:           v1.TemplateHash(&u.Spec.Container),
	}
	if st.State == "" {
		st.State = v1.StateUnknown
	}
	backOff := r.backOff && st.State == v1.StateExited
	if st.Throttled == "" && backOff {
		st.Throttled = v1.ThrottleFlapping
	}
	if r.cur != nil {
		st.ContainerID = r.cur.ID
		st.Ports = portStatus(&u.Spec.Container, r.cur.Ports)
		st.ImageID = r.in.imageIDOf(r.cur)
	}
	if st.State == v1.StatePullingImage && r.pulling != nil {
		p := *r.pulling
		st.Pull = &p
	}
	var prev []v1.Condition
	if in.status != nil {
		if in.status.State == st.State {
			st.Since = in.status.Since
		}
		prev = append(prev, in.status.Conditions...)
	}
	if r.cur != nil && (st.State == v1.StateRunning || st.State == v1.StateHealthchecking) && !r.cur.StartedAt.IsZero() {
		st.Since = r.cur.StartedAt.UTC() // running since the container started, restarts included
	}
	st.Conditions = conditions(prev, st, r.unhealthy, backOff, r.reason, now)
	return st
}

// fail reports what went wrong in the status before the error is retried
// with backoff: the message, and conditions that say the instance is not
// progressing (reason Error, or the hostProblem's), so that what waits for
// it shows why. A hostProblem is also a warning event when it is new.
func (r *run) fail(ctx context.Context, err error) {
	r.msg, r.reason, r.backOff = err.Error(), v1.ReasonError, false
	var hp *hostProblem
	if errors.As(err, &hp) {
		r.reason = hp.reason
		if prev := r.in.status; prev == nil || prev.Message != r.msg {
			r.event(ctx, v1.EventWarning, hp.reason, "%s", r.msg)
		}
	}
	if r.state == "" || r.state == v1.StateRunning {
		r.state = v1.StateUnknown
	}
	if rerr := r.report(ctx); rerr != nil {
		r.c.o.Log.Debug("report status", "unit", r.name, "err", rerr)
	}
}

// statusKept reports whether the status this host last wrote of an
// instance is still in etcd as written, as far as the statuses cache has
// seen: a status deleted since (by the leader's garbage collection, by
// hand) or written over is to be written again. Until the cache has seen
// the write, it is taken as kept.
func (c *Controller) statusKept(w *workload, in *instance) bool {
	rev := in.statusRev
	if c.caches.statuses.Revision() < rev {
		return true
	}
	e, ok := c.caches.statuses.Get(w.statusKey)
	return ok && e.ModRevision == rev
}

func sameStatus(a, b *v1.InstanceStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// conditions derives Ready and Progressing from the state (an instance
// that backs off before a restart is progressing); reason, when set (a
// refusal, an error being retried), is the reason of both, and Progressing
// is False.
func conditions(prev []v1.Condition, st *v1.InstanceStatus, unhealthy, backOff bool, reason string, now time.Time) []v1.Condition {
	ready := v1.Condition{Type: v1.ConditionReady, Status: v1.ConditionFalse, ObservedGeneration: st.ObservedGeneration}
	progressing := v1.Condition{Type: v1.ConditionProgressing, Status: v1.ConditionFalse, ObservedGeneration: st.ObservedGeneration}
	switch st.State {
	case v1.StateRunning:
		ready.Status, ready.Reason = v1.ConditionTrue, "Running"
		progressing.Reason = "Running"
		if unhealthy {
			ready.Status, ready.Reason = v1.ConditionFalse, "Unhealthy"
		}
	case v1.StateWaiting:
		ready.Reason = "WaitingForDependencies"
		progressing.Status, progressing.Reason = v1.ConditionTrue, "WaitingForDependencies"
	case v1.StatePullingImage, v1.StateCreating, v1.StateStarting, v1.StateHealthchecking:
		ready.Reason = "Starting"
		progressing.Status, progressing.Reason = v1.ConditionTrue, "Starting"
	case v1.StateExited:
		ready.Reason = "Exited"
		progressing.Reason = "Exited"
		if backOff {
			progressing.Status, progressing.Reason = v1.ConditionTrue, "BackOff"
		}
	case v1.StateFailed:
		ready.Reason, progressing.Reason = "Failed", "Failed"
	case v1.StateStopping, v1.StateStopped:
		ready.Reason, progressing.Reason = "Stopped", "Stopped"
	default:
		ready.Reason, progressing.Reason = "Unknown", "Unknown"
	}
	if reason != "" {
		ready.Reason, progressing.Reason = reason, reason
		progressing.Status = v1.ConditionFalse
	}
	ready.Message, progressing.Message = st.Message, st.Message
	conds := append([]v1.Condition(nil), prev...)
	conds = v1.SetCondition(conds, ready, now)
	conds = v1.SetCondition(conds, progressing, now)
	return conds
}

// portStatus names the published ports as the template names them.
func portStatus(t *v1.ContainerTemplate, published []runtime.PortBinding) []v1.PortStatus {
	var out []v1.PortStatus
	seen := map[string]bool{}
	for _, p := range published {
		proto := v1.Protocol(p.Protocol)
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		k := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
		if seen[k] {
			continue // the same port on IPv4 and IPv6
		}
		seen[k] = true
		ps := v1.PortStatus{ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: proto}
		for _, tp := range t.Ports {
			if tp.ContainerPort == p.ContainerPort && tp.Protocol == proto {
				ps.Name = tp.Name
			}
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerPort < out[j].ContainerPort })
	return out
}
