package units

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
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
}

func (c *Controller) workloadOf(ctx context.Context, key string) (*workload, error) {
	if name, ok := strings.CutPrefix(key, jobKeyPrefix); ok {
		return c.jobWorkload(ctx, name)
	}
	if ref, ok := strings.CutPrefix(key, timerRunKeyPrefix); ok {
		return c.timerRunWorkload(key, ref)
	}
	u, err := c.caches.unit(key)
	if err != nil {
		return nil, err
	}
	w := &workload{key: key, kind: v1.KindUnit, name: key, unit: u,
		statusKey: store.StatusKey(v1.KindUnit, key, c.o.Host)}
	w.placed = u != nil && u.Spec.Placement.PlacedOn(c.o.Host, c.o.Labels, c.caches.binding(key))
	return w, nil
}

// jobWorkload adapts a Job to the Unit this host runs for it: the
// version its binding gives this host, if checkBinding lets it run.
func (c *Controller) jobWorkload(ctx context.Context, name string) (*workload, error) {
	w := &workload{key: jobKey(name), kind: v1.KindJob, name: name, statusKey: store.StatusKey(v1.KindJob, name, c.o.Host)}
	cached := func(key string) (store.KV, bool, error) {
		var kv store.KV
		var ok bool
		switch {
		case strings.HasPrefix(key, store.JobVersionsPrefix):
			kv, ok = c.caches.jobVersions.Get(key)
		case strings.HasPrefix(key, store.ObjectPrefix(v1.KindJob)):
			kv, ok = c.caches.jobs.Get(key)
		default:
			kv, ok = c.caches.jobBindings.Get(key)
		}
		return kv, ok, nil
	}
	in, err := c.bindingCheckOf(name, cached)
	if err != nil || in == nil {
		return w, err
	}
	verdict := checkBinding(*in)
	if verdict.Refused != "" {
		// The caches follow the Job, its versions and its binding each on
		// a watch of its own, and one may lag another: a binding may name a
		// version whose Job or record this host has not seen yet. Read them
		// again before refusing.
		read := func(key string) (store.KV, bool, error) {
			kv, err := c.o.Store.Get(ctx, key)
			if errors.Is(err, store.ErrNotFound) {
				return kv, false, nil
			}
			return kv, err == nil, err
		}
		if in, err = c.bindingCheckOf(name, read); err != nil || in == nil {
			return w, err
		}
		verdict = checkBinding(*in)
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
	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}, Metadata: j.Metadata,
		Spec: v1.UnitSpec{Container: tmpl, Goal: goal, GracePeriod: j.Spec.GracePeriod,
			Restart: v1.RestartPolicy{Policy: v1.RestartAlways}}}
	v1.Default(u)
	w.unit, w.placed, w.version = u, verdict.Placed || w.refused != nil, verdict.Version
	return w, nil
}

// bindingCheckOf reads, with get, what checkBinding decides from for the
// Job name on this host: nil when the Job does not exist.
func (c *Controller) bindingCheckOf(name string, get func(key string) (store.KV, bool, error)) (*bindingCheck, error) {
	kv, ok, err := get(store.ObjectKey(v1.KindJob, name))
	if err != nil || !ok {
		return nil, err
	}
	j := &v1.Job{}
	if err := json.Unmarshal(kv.Value, j); err != nil {
		return nil, reconcile.Terminal(fmt.Errorf("decode job %s: %w", name, err))
	}
	v1.Default(j)
	in := &bindingCheck{Host: c.o.Host, Labels: c.o.Labels, Now: time.Now(), Job: j, JobRev: kv.ModRevision}
	bkv, ok, err := get(store.BindingKey(v1.KindJob, name))
	if err != nil || !ok {
		return in, err
	}
	b := &v1.JobBinding{}
	if json.Unmarshal(bkv.Value, b) != nil {
		return in, nil // no binding this host can read
	}
	in.Binding, in.BindingRev = b, bkv.ModRevision
	ver, ok := b.Hosts[c.o.Host]
	if !ok {
		return in, nil
	}
	vkv, ok, err := get(store.JobVersionKey(name, ver))
	if err != nil || !ok {
		return in, err
	}
	in.Version, _ = store.DecodeJobVersion(vkv) // one that does not decode is none
	return in, nil
}
