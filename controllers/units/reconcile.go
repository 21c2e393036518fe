package units

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/runtime"
)

// Reconcile brings one Unit's or Job's container on this host in line
// with the object. key is a Unit's name, or "job:" and a Job's name. It
// reads the object from the caches and the containers from the engine,
// asks plan what to do, does it, and reports the outcome in the status.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	lp := newLaps()
	w, err := c.workloadOf(ctx, key)
	if err != nil || w.invalid != nil {
		return reconcile.Result{}, err // one that does not decode is left alone; its cache said why
	}
	if w.kind == v1.KindUnit && w.placed && c.deps.hasAny(w.name) && !c.caches.everyStatus.synced() {
		// Its dependencies' instances, or its dependents', may be on
		// any host: look once every host's statuses are here.
		c.caches.everyStatus.start()
		return reconcile.Result{RequeueAfter: everyStatusWait}, nil
	}
	selector := map[string]string{v1.LabelHost: c.o.Host, v1.LabelKind: w.kind, v1.LabelName: w.name}
	if w.kind == v1.KindTimer {
		selector[v1.LabelVersion] = w.version // each run is its own instance
	}
	ctrs, err := c.o.Runtime.List(ctx, runtime.ListOptions{All: true, Labels: selector})
	c.engine(err)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("list containers: %w", err)
	}
	lp.lap("list")
	if w.kind == v1.KindUnit && !w.placed && len(ctrs) == 0 && c.nothingOf(w) {
		// Deleted or placed elsewhere, and with nothing here: what plan
		// and gone would do, without the instance they would make and
		// forget (most of a large cluster's Units, each time it changes).
		c.ports.release(w.key)
		c.probers.stop(w.key)
		return reconcile.Result{}, nil
	}
	in := c.instanceOf(ctx, w)
	c.sawGeneration(in, w)
	if w.unit != nil && w.placed {
		c.instances.want(in, w.unit.Spec.Container.Image)
	} else {
		c.instances.want(in, "")
	}
	pin, denied, err := c.planInputOf(ctx, w, in, ctrs)
	if err != nil {
		return reconcile.Result{}, err
	}
	out := plan(pin)
	in.mem = out.Mem
	lp.lap("plan")
	r := &run{c: c, w: w, u: w.unit, name: w.name, in: in, cur: out.Current,
		state: out.State, msg: out.Message, unhealthy: out.Unhealthy, backOff: out.BackOff, laps: lp}
	if out.PullBackOff {
		r.throttle, r.reason = v1.ThrottleImagePullFailed, v1.ReasonImagePullBackOff
	}
	r.noteBackOff(ctx, out)
	return r.execute(ctx, out, ctrs, denied)
}

// planInputOf gathers what plan decides from: the object, its containers,
// the instance's memory, its dependencies, its health, and why this host
// refuses it (returned too, nil when it does not).
func (c *Controller) planInputOf(ctx context.Context, w *workload, in *instance, ctrs []runtime.Container) (planInput, *refusal, error) {
	u := w.unit
	pin := planInput{Unit: u, Placed: w.placed, Containers: ctrs, Mem: in.mem, Now: time.Now(), Refused: w.refused.message(),
		KeepTemplate: w.kind == v1.KindTimer}
	if u == nil || !w.placed {
		c.probers.stop(w.key)
		return pin, w.refused, nil
	}
	if w.kind == v1.KindUnit {
		pin.Deps = judgeDeps(u, c.depInfos(u))
		if u.Spec.Goal == v1.GoalStop {
			pin.DependentsUp = c.dependentsUp(w.name)
		}
	}
	pin.Health = c.probers.ensure(w.key, u, current(u, ctrs))
	if at := u.Metadata.Annotations[v1.AnnotationRestartedAt]; at != "" {
		pin.RestartAt, _ = time.Parse(time.RFC3339Nano, at)
	}
	denied := w.refused
	if denied == nil && u.Spec.Goal == v1.GoalStart {
		if denied = c.refuse(&u.Spec.Container); denied == nil {
			var err error
			if denied, err = c.refuseForeign(ctx, &u.Spec.Container); err != nil {
				return pin, nil, err
			}
		}
	}
	pin.Refused = denied.message()
	return pin, denied, nil
}

// current is the container of the Unit's current template (the one plan
// keeps), or nil.
func current(u *v1.Unit, ctrs []runtime.Container) *runtime.Container {
	hash := v1.TemplateHash(&u.Spec.Container)
	for i := range ctrs {
		if ctrs[i].Labels[v1.LabelSpecHash] == hash {
			return &ctrs[i]
		}
	}
	return nil
}

// run is one reconcile of one instance under way: what it does, and what
// it will report (status.go).
type run struct {
	c         *Controller
	w         *workload
	u         *v1.Unit
	name      string
	in        *instance
	cur       *runtime.Container
	state     v1.InstanceState
	msg       string
	throttle  v1.ThrottleState
	unhealthy bool
	// backOff: exited, and waiting out its restart delay.
	backOff bool
	// reason of the conditions when the host refuses the container, or
	// when this attempt failed.
	reason string
	// pulling is how far the image's pull is, while it runs.
	pulling *v1.PullStatus
	// image is the template's image as the engine had it before the
	// create (or after the pull), nil when not looked up.
	image *runtime.Image
	// laps time the reconcile's steps; started says it started a
	// container, and logs them.
	laps    *laps
	started bool
	// pending is a state entered and not yet written.
	pending pendingStatus
}

// execute does the plan's actions, once the containers they stop are out
// of discovery for their grace period, and reports the outcome: the
// status written, or deleted with the instance.
func (r *run) execute(ctx context.Context, out planOutput, ctrs []runtime.Container, denied *refusal) (reconcile.Result, error) {
	defer r.settle() // nothing written after the reconcile
	if wait, err := r.drainFirst(ctx, ctrs, out.Actions); err != nil || wait > 0 {
		if err != nil {
			r.fail(ctx, err)
			return reconcile.Result{}, err
		}
		if err := r.report(ctx); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if denied != nil {
		r.refused(ctx, denied)
	}
	for _, a := range out.Actions {
		err := r.do(ctx, a)
		var ref *refusal
		var pf *pullFailure
		if errors.As(err, &pf) {
			// Reported, and tried again after its own delay, as a restart.
			r.msg, r.reason = pullBackOffMessage(pf.Error(), pf.wait), v1.ReasonImagePullBackOff
			if err := r.report(ctx); err != nil {
				return reconcile.Result{}, err
			}
			return reconcile.Result{RequeueAfter: pf.wait}, nil
		}
		if errors.As(err, &ref) {
			// Reported, not retried: a change of the object, the resync
			// or a restart of the controller looks again.
			r.refused(ctx, ref)
			break
		}
		if err != nil {
			r.fail(ctx, err)
			return reconcile.Result{}, err
		}
	}
	if out.DeleteStatus {
		r.settle()
		return reconcile.Result{}, r.gone(ctx)
	}
	if err := r.report(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if r.started {
		r.c.o.Log.Debug("container started", append([]any{"kind", r.w.kind, "name", r.name, "state", r.state}, r.laps.logAttrs()...)...)
	}
	return reconcile.Result{RequeueAfter: out.RequeueAfter}, nil
}

// do does one action.
func (r *run) do(ctx context.Context, a action) error {
	switch a.kind {
	case actRemove:
		return r.remove(ctx, a)
	case actStop:
		return r.stop(ctx, a)
	case actKill:
		return r.kill(ctx, a)
	case actDepStop:
		return r.depStop(ctx, a)
	case actRestart:
		return r.restart(ctx, a)
	case actNoteExit:
		r.noteExit(ctx, a)
	case actCreate:
		return r.create(ctx)
	case actStart:
		return r.start(ctx, a)
	}
	return nil
}

// refused reports that this host will not create the container, with a
// warning event when the reason is new.
func (r *run) refused(ctx context.Context, ref *refusal) {
	r.state, r.msg, r.reason = v1.StateFailed, ref.msg, ref.reason
	if prev := r.in.status; prev == nil || prev.Message != ref.msg || prev.State != v1.StateFailed {
		r.c.o.Log.Warn("container refused", "kind", r.w.kind, "name", r.name, "reason", ref.reason, "message", ref.msg)
		r.event(ctx, v1.EventWarning, ref.reason, "%s", ref.msg)
	}
}

func (r *run) event(ctx context.Context, typ v1.EventType, reason, format string, args ...any) {
	r.c.o.Events.Event(ctx, r.w.kind, r.name, typ, reason, format, args...)
	r.laps.lap("event")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
