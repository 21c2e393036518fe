// Package units reconciles the Units placed on one host against that host's
// container engine: it pulls, creates and starts the container a Unit asks
// for, restarts it per the Unit's restart policy with exponential backoff,
// recreates it when its template changes, stops it when the goal is stop,
// removes it when the Unit is deleted or placed elsewhere, removes this
// host's orphans, and writes the instance's status under
// status/<host>/unit/<name> only when it changes, or when the key vanished
// or was written over (its watch of the statuses sees it, and the status
// is written again). A state on the way (PULLING_IMAGE, CREATING,
// STARTING, STOPPING) is written only once it has lasted
// Options.StatusSettle (100ms), by a timer off the reconcile's path: a
// container created and started at once is one status write, RUNNING.
// Each container started logs at debug level ("container started") how
// long each step of its reconcile took.
//
// It reconciles Jobs (as Units that always restart) and the runs of
// Timers too, each under a work-queue key of its own: a Unit's name,
// "job:<name>", "timer:<timer>/<run>".
//
// It is level-triggered, on internal/reconcile's loop, which is given its
// sources: the caches of etcd (Units and their bindings, Jobs, their
// bindings and version records, Timers and their runs' bindings, this
// host's statuses and, once needed, every host's (below), the host
// records), the engine's event stream, and the
// loop's periodic resync (Options.Resync), which all only enqueue keys.
// The caches are typed (store.Typed): each value is decoded and defaulted
// once, when it changes. Reconcile reads the desired state from the caches
// and the actual state from the engine, asks the pure function plan what
// to do, and does it. A stored object that does not decode is left alone,
// its container as it is, until it changes (its cache logs why; the
// leading controller records an InvalidObject event). berth never sets a
// Docker restart policy: restarting is this package's job.
//
// Restart: a container that exits is started again when the policy says so
// (always; on-failure after a non-zero exit; never), after a delay that
// doubles from restart.delay to restart.maxDelay and starts again from
// restart.delay once a container has run for ResetBackoffAfter. More than
// startLimit.burst starts within startLimit.interval move the instance to
// FAILED, as systemd's start limit does, until its spec changes.
//
// Health: a healthCheck runs against the instance's own container (exec
// inside it, http or tcp on its port) from the moment it runs, one probe
// at a time, through internal/probe with a container's rules (HTTP 200 to
// 399 and exit code 0 pass; retries failures in a row after startPeriod
// make it unhealthy, as Docker's HEALTHCHECK counts them). Until the check
// first passes, a failed probe is followed sooner than the interval:
// startInterval (100ms unless set) after it, then twice as long each time
// up to the interval, as Kubernetes' startup probes and compose's
// start_interval allow, so that a dependent waiting for its requirement
// to be healthy starts about when the requirement's application first
// answers. Those quick failures count no more than probes an interval
// apart would: a failure counts only an interval or more after the last
// that counted. The interval and timeout are at least one second, the
// startInterval 100ms (v1.MinCheckInterval, v1.MinCheckTimeout,
// v1.MinCheckStartInterval) whatever the object says: a shorter one is
// raised, logged, and recorded as a CheckBelowMinimum warning event each
// time a prober starts.
//
// Containers are named berth-unit-<name> and labelled berth.dev/host,
// berth.dev/kind, berth.dev/name and berth.dev/spec-hash; only containers
// labelled with this host are ever touched. The name makes a second
// container for a Unit impossible, even across a crash of the controller.
//
// Placement: a Unit runs here when its placement names this host or
// selects it (global), or when the scheduler's binding names it and the
// placement allows it (v1.Placement.PlacedOn): a binding chooses among
// the hosts the Unit allows, never others.
//
// Jobs: a Job runs on this host the version its binding
// (bindings/job/<name>, written by the leading controller) gives the host,
// with the template operators stored for that version: its record
// (objects/jobversion/<name>/<version>) or, for the Job's current version
// without one, the Job's own; never a template the binding carries.
// Before anything runs, checkBinding checks the binding against the Job:
// its placement must allow this host (deployments, or hostSelector and
// this host's labels), a template must be stored for the version, and the
// hash the binding gives must be that template's. A binding that fails is
// refused like a template the policy refuses (below), with reason
// BindingRefused, unless it is older than the Job's last change (the
// leader has not caught up): then the Job simply does not run here yet.
// The caches of Jobs, records and bindings follow separate watches, so a
// refusal is read again from etcd before it is made.
//
// Statuses of dependencies count only under the name of a host that has a
// record (hosts/<host>). A host watches its own statuses
// (status/<host>/) from the start, and every host's only from the first
// reconcile of a Unit placed on it that has dependencies or dependents
// (that Unit waits until they are listed): in a cluster of many hosts
// whose Units stand alone, a host is not sent every status write of every
// other host.
//
// Policy: before a container is created, its template is checked against
// the host's Policy (the controller's --allow-privileged,
// --allowed-capabilities, --allow-host-network, --allowed-host-paths,
// --allow-privilege-escalation, --secrets-dir). What it refuses gets no
// container (and loses one made before the policy changed): the instance
// is FAILED, its Ready and Progressing conditions have reason PolicyDenied
// and a message naming the field and the flag, and a PolicyDenied warning
// event is recorded once. hostPath volumes are checked with the symbolic
// links of their existing part followed, and mounted at the resolved path.
// Every container runs with no-new-privileges unless its template asks
// allowPrivilegeEscalation: true and the host allows it.
//
// Named volumes and networks are checked against the engine
// (policy_engine.go): only those berth made (labelled berth.dev/volume,
// berth.dev/network) or the operator lists (--allowed-volumes,
// --allowed-networks) may be used; a named volume that does not exist yet
// is made, as berth's, just before the container. networkMode
// container:<x> joins only a container this controller made, known by its
// ID, never by its labels.
//
// hostPath volumes on a fresh host: the allowed host paths are created
// when the controller starts (mode 0755, owned by the controller's user,
// root) and again, when missing, before a volume under one is made; one
// that cannot be created is one error line at start. A volume this host
// cannot make or use (its allowed directory cannot be created, a file is
// in the way, a Directory that is not there) is not a refusal: the
// instance stays CREATING with a message naming the path, the host and
// what to do, its Ready and Progressing conditions False with reason
// HostPathUnavailable, a warning event is recorded once, and it is tried
// again with backoff until the host is fixed. Any other error of an
// attempt (the engine refusing to create or start the container) is
// reported the same way with reason Error.
//
// Images (pull.go): pullPolicy IfNotPresent (the default) pulls an image
// the engine does not have, Always pulls each time a container is created
// (a container that is only started again does not pull, and a running
// container is never recreated because its tag moved), Never pulls
// nothing. A pull presents the credentials for the image's registry from
// the template's imagePullSecret (a Docker config.json in the secrets
// directory), else from the controller's --registry-config (see package
// registryauth): read at each pull, never written anywhere. While it pulls
// the instance is PULLING_IMAGE with its layers and bytes done in the
// status (written at most once a second, and when a layer is found or
// done); a pull is bounded by --image-pull-timeout. A pull that fails leaves it
// PULLING_IMAGE, throttled IMAGE_PULL_FAILED, reason ImagePullBackOff,
// with the registry's words made actionable (registryauth.Explain), and
// the next pull waits a delay that doubles from restart.delay to
// restart.maxDelay, as restarts do. The status's imageID is what the
// container runs: the digest it was pulled by ("repo@sha256:..."), or the
// engine's image ID. An imagePullSecret that cannot be read or parsed
// fails the instance with reason PullSecretUnavailable, as env files do.
// ImagesInUse tells image garbage collection which images the instances
// placed here use.
//
// Env values from files (valueFrom.file) are read when the container is
// created, from the host's secrets directory: at most 64 KiB, one trailing
// newline dropped, never written to etcd, status, events or logs. A file
// that cannot be read leaves the instance FAILED with reason
// EnvFileUnavailable, naming the file; a refusal is not retried as an
// error but looked at again when the object changes, at every resync and
// when the controller starts again. A file's new content reaches a
// container when it is next created.
//
// # Layout
//
// The deciding is pure and tested by tables: plan.go (what to do about one
// instance, by the state of its container, with typed causes), backoff.go
// (restart delays and the start limit), deps.go (what dependencies allow),
// jobbinding.go (whether a Job's binding may run here), spec.go (the
// container created, from the template and hostFacts), policy.go (what
// the host refuses). The doing is one file per part: controller.go
// (Options, New, Run), caches.go (the typed caches of etcd, and
// lazycache.go: every host's statuses, once needed) and sources.go
// (the loop's sources: what a change of each cache, and each engine event,
// enqueues), workload.go (a key as a Unit, or a Job adapted to one),
// instance.go
// (what is remembered of each instance), reconcile.go (Reconcile: gather,
// plan, execute), and one file per action: create.go, pull.go, start.go,
// stop.go (one stop within the stop budget for every action that stops),
// remove.go, restart.go; drain.go (gracePeriod), probers.go and health.go
// (health checks), ports.go (host ports), status.go (the one place a
// status is written, and the settling of states on the way), laps.go (the
// steps' times), history.go (a Job's history), metrics.go.
package units
