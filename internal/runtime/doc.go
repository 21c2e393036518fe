// Package runtime is berth's seam to the container engine: the Runtime
// interface and the types it speaks, which are ours, never Docker's.
//
// Two implementations exist and behave the same, which one conformance suite
// (package runtimetest) proves:
//
//   - runtime/docker talks to a Docker engine through Docker's Go client
//     (API version negotiated, so Debian's 20.10 speaking 1.41 works);
//   - runtime/fake keeps containers in memory for fast tests, and can be
//     scripted to fail, to lose the engine, to make containers exit.
//
// # Using it
//
// Reconcilers read actual state with List and Inspect, and act with Create,
// Start, Stop and Remove:
//
//	id, err := rt.Create(ctx, runtime.ContainerSpec{
//		Name:   "berth-unit-todo",
//		Image:  "berth/todo:latest",
//		Labels: map[string]string{"berth.dev/host": host},
//		Ports:  []runtime.PortBinding{{ContainerPort: 8080}}, // HostPort 0: the engine picks
//	})
//	switch {
//	case errors.Is(err, runtime.ErrConflict): // name taken: inspect it and decide
//	case errors.Is(err, runtime.ErrNotFound): // image missing: Pull, then retry
//	}
//	err = rt.Start(ctx, id)
//	c, err := rt.Inspect(ctx, id) // c.Ports holds the host ports actually published
//
// InspectNetwork, InspectVolume and EnsureVolume tell who made a network or
// a named volume by its labels: the units controller lets a container use
// only those berth made, or those its operator lists (SECURITY.md).
// EnsureVolume answers with the volume as the engine has it, so a volume
// that existed before, under the same name, shows its own labels.
//
// # Images
//
// Pull fetches an image with the credentials in PullOptions.Auth (a
// RegistryAuth, whose String and GoString never show a secret) and reports
// its progress (layers and bytes done) to PullOptions.Progress; its error
// wraps ErrUnauthorized when the registry refused or wanted credentials and
// ErrNotFound for an unknown tag or digest, with the registry's own words.
// InspectImage and ListImages report images by ID ("sha256:...", the same
// for the same bytes on every host) with their tags and the digests they
// were pulled by; Container.ImageID is the image a container runs.
// RemoveImage is never forced: an image a container uses is ErrConflict.
//
// No restart policy is ever set on a container: berth is the process manager.
// A container that exits stays exited until berth starts or removes it.
//
// # Errors
//
// Every error names the operation and the container, and wraps ErrNotFound,
// ErrConflict, ErrUnavailable or ErrUnauthorized where they apply; test with errors.Is.
// ErrUnavailable means the engine could not be reached: report not-ready and
// retry with backoff. Each call takes a context; give it a deadline.
//
// # Stopping
//
// Stop sends the signal (default: the container's StopSignal, else SIGTERM),
// waits up to the timeout (default: the container's StopTimeout, else 10s),
// then kills with SIGKILL. A process that ignores its signal (a shell or
// sleep as PID 1) therefore holds Stop for the whole timeout and exits 137.
//
// # Events
//
// Events streams container events (create, start, die with its exit code,
// stop, kill, destroy, oom, health_status ...) until its context ends.
// Events are hints, not a log: a broken stream reports one error and closes;
// callers re-subscribe and resync with List, and never assume they saw every
// transition.
//
// # States
//
// Container states and health are typed (StateRunning, HealthHealthy ...);
// nothing outside runtime/docker compares Docker's raw strings.
package runtime
