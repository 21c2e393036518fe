package registrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// ScriptChecksDisabled is the refusal of a script check registered through
// the agent API while script checks are off: Consul's own words, which
// its clients and users know, and the flag that turns them on.
const ScriptChecksDisabled = "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true (controller --enable-script-checks)"

// scriptContainer decides whether a script check registered through the
// agent API may run in the container ref names (an ID, a short ID or a
// name), and returns that container's full ID. It may when script checks
// are on (Options.EnableScriptChecks) and the container is one berth
// created on this host: labelled with this host's name as a Unit's or a
// Job's container, and the very container this host recorded in that
// instance's status (status/<host>/<kind>/<name>, which only this host
// writes). Labels alone are not enough: anyone who can run a container
// can label it. Other containers on the engine (another host's, one run
// by hand, a privileged one) are refused with a *catalog.RefusedError.
//
// It is asked when the check is registered and again before every run, so
// a container that stopped being berth's, or a name that now stands for
// another container, gets no exec; the ID returned is the one to exec in.
// An engine or etcd that cannot be asked is a plain error.
func (r *Registrator) scriptContainer(ctx context.Context, ref string) (string, error) {
	if !r.o.EnableScriptChecks {
		return "", &catalog.RefusedError{Reason: ScriptChecksDisabled}
	}
	if ref == "" {
		return "", &catalog.RefusedError{Reason: "a script check needs DockerContainerID: berth runs scripts inside a container, never on the host"}
	}
	refuse := func(why string) error {
		return &catalog.RefusedError{Reason: fmt.Sprintf("DockerContainerID %q: %s; script checks registered through the agent API run only in the containers berth runs on this host (%s)", ref, why, r.o.Host)}
	}
	ctr, err := r.o.Runtime.Inspect(ctx, ref)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return "", refuse("no such container")
	case err != nil:
		return "", fmt.Errorf("inspect container %s: %w", ref, err)
	}
	kind, name := ctr.Labels[v1.LabelKind], ctr.Labels[v1.LabelName]
	if ctr.Labels[v1.LabelHost] != r.o.Host || (kind != v1.KindUnit && kind != v1.KindJob) || name == "" {
		return "", refuse("not a container berth runs on this host")
	}
	kv, err := r.o.Store.Get(ctx, store.StatusKey(kind, name, r.o.Host))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", refuse(fmt.Sprintf("not the container of %s %s that berth created", kind, name))
	case err != nil:
		return "", fmt.Errorf("read the status of %s %s: %w", kind, name, err)
	}
	var st v1.InstanceStatus
	if json.Unmarshal(kv.Value, &st) != nil || st.ContainerID != ctr.ID {
		return "", refuse(fmt.Sprintf("not the container of %s %s that berth created", kind, name))
	}
	return ctr.ID, nil
}

// checkScripts refuses an agent registration whose script checks may not
// run (see scriptContainer); container is the endpoint's DockerContainerID.
func (r *Registrator) checkScripts(ctx context.Context, container string, checks ...catalog.Check) error {
	for _, c := range checks {
		if c.Type == catalog.CheckExec {
			_, err := r.scriptContainer(ctx, container)
			return err
		}
	}
	return nil
}
