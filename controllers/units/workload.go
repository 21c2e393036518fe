package units

import (
	"context"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// jobKeyPrefix marks the work-queue keys of Jobs; a Unit's key is its name.
const jobKeyPrefix = "job:"

func jobKey(name string) string { return jobKeyPrefix + name }

// keyOf returns the work-queue key of a container's object from its labels.
func keyOf(labels map[string]string) string {
	name := labels[v1.LabelName]
	if name == "" {
		return ""
	}
	switch labels[v1.LabelKind] {
	case v1.KindUnit:
		return name
	case v1.KindJob:
		return jobKey(name)
	case v1.KindTimer:
		if run := labels[v1.LabelVersion]; run != "" {
			return timerRunKey(name + "/" + run)
		}
	}
	return ""
}

// workload is what one key asks of this host: a Unit, or a Job seen as a
// Unit that always restarts (Helios' behaviour), running the version its
// binding gives this host.
type workload struct {
	key, kind, name string
	// unit is the object (a Job adapted), nil when it is gone.
	unit *v1.Unit
	// placed: it runs on this host.
	placed bool
	// version of a Job on this host.
	version   string
	statusKey string
	// refused: the Job's binding gives this host a version it does not
	// run (checkBinding); reported, with a warning event, never run.
	refused *refusal
	// invalid says why the stored object does not decode: its instance
	// is left as it is until the object changes.
	invalid error
}

func (c *Controller) workloadOf(ctx context.Context, key string) (*workload, error) {
	if name, ok := strings.CutPrefix(key, jobKeyPrefix); ok {
		return c.jobWorkload(ctx, name)
	}
	if ref, ok := strings.CutPrefix(key, timerRunKeyPrefix); ok {
		return c.timerRunWorkload(key, ref), nil
	}
	w := &workload{key: key, kind: v1.KindUnit, name: key,
		statusKey: store.StatusKey(v1.KindUnit, key, c.o.Host)}
	w.unit, w.invalid = c.caches.unit(key)
	w.placed = w.unit != nil && w.unit.Spec.Placement.PlacedOn(c.o.Host, c.o.Labels, c.caches.binding(key))
	return w, nil
}

// jobWorkload adapts a Job to the Unit this host runs for it: the
// version its binding gives this host, if checkBinding lets it run.
func (c *Controller) jobWorkload(ctx context.Context, name string) (*workload, error) {
	w := &workload{key: jobKey(name), kind: v1.KindJob, name: name, statusKey: store.StatusKey(v1.KindJob, name, c.o.Host)}
	in, err := c.bindingCheckOf(ctx, name, false)
	if err != nil || in == nil || in.invalid != nil {
		return w.invalidAs(in), err
	}
	verdict := checkBinding(in.bindingCheck)
	if verdict.Refused != "" {
		// The caches follow the Job, its versions and its binding each on
		// a watch of its own, and one may lag another: a binding may name a
		// version whose Job or record this host has not seen yet. Read them
		// again before refusing.
		if in, err = c.bindingCheckOf(ctx, name, true); err != nil || in == nil || in.invalid != nil {
			return w.invalidAs(in), err
		}
		verdict = checkBinding(in.bindingCheck)
	}
	j := in.Job
	goal := v1.GoalStart
	for _, d := range j.Spec.Deployments {
		if d.Host == c.o.Host {
			goal = d.Goal
		}
	}
	tmpl := verdict.Template
	switch {
	case verdict.Refused != "" && verdict.Stale:
		c.o.Log.Debug("job binding not followed until the leader decides again", "job", name, "why", verdict.Refused)
	case verdict.Refused != "":
		// Reported as a refused start, whatever the goal: nothing runs.
		// The status carries the Job's template, the one an operator
		// stored.
		w.refused = &refusal{reason: v1.ReasonBindingRefused, msg: verdict.Refused}
		tmpl, goal = j.Spec.Container, v1.GoalStart
	}
	w.unit = adapt(j.Metadata, v1.UnitSpec{Container: tmpl, Goal: goal, GracePeriod: j.Spec.GracePeriod,
		Restart: v1.RestartPolicy{Policy: v1.RestartAlways}})
	w.placed, w.version = verdict.Placed || w.refused != nil, verdict.Version
	return w, nil
}

// adapt returns the Unit of meta and spec, defaulted. It shares nothing
// with them: they come from the caches, whose values every reader shares.
func adapt(meta v1.ObjectMeta, spec v1.UnitSpec) *v1.Unit {
	u := (&v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}, Metadata: meta, Spec: spec}).DeepCopyObject().(*v1.Unit)
	v1.Default(u)
	return u
}

// jobCheck is what checkBinding decides from, and whether the Job decodes.
type jobCheck struct {
	bindingCheck
	// invalid says why the stored Job does not decode.
	invalid error
}

// invalidAs marks w invalid when the Job of in does not decode.
func (w *workload) invalidAs(in *jobCheck) *workload {
	if in != nil {
		w.invalid = in.invalid
	}
	return w
}

// bindingCheckOf gathers what checkBinding decides from for the Job name
// on this host, from the caches or, when fresh, from etcd: nil when the
// Job does not exist. A binding or a version record that does not decode
// is none.
func (c *Controller) bindingCheckOf(ctx context.Context, name string, fresh bool) (*jobCheck, error) {
	cs := c.caches
	je, ok, err := lookup(ctx, c.o.Store, cs.jobs, store.DecodeObjectOf[*v1.Job], fresh, store.ObjectKey(v1.KindJob, name))
	if err != nil || !ok {
		return nil, err
	}
	if je.Err != nil {
		return &jobCheck{invalid: je.Err}, nil
	}
	in := &jobCheck{bindingCheck: bindingCheck{Host: c.o.Host, Labels: c.o.Labels, Now: time.Now(), Job: je.Value, JobRev: je.ModRevision}}
	be, ok, err := lookup(ctx, c.o.Store, cs.jobBindings, store.DecodeJSON[v1.JobBinding], fresh, store.BindingKey(v1.KindJob, name))
	if err != nil || !ok || be.Err != nil {
		return in, err // no binding this host can read
	}
	in.Binding, in.BindingRev = &be.Value, be.ModRevision
	ver, ok := be.Value.Hosts[c.o.Host]
	if !ok {
		return in, nil
	}
	ve, ok, err := lookup(ctx, c.o.Store, cs.jobVersions, store.DecodeJobVersion, fresh, store.JobVersionKey(name, ver))
	if err != nil || !ok || ve.Err != nil {
		return in, err // one that does not decode is none
	}
	in.Version = ve.Value
	return in, nil
}
