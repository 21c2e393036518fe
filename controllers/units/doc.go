// Package units reconciles the Units placed on one host against that host's
// container engine: it pulls, creates and starts the container a Unit asks
// for, restarts it per the Unit's restart policy with exponential backoff,
// recreates it when its template changes, stops it when the goal is stop,
// removes it when the Unit is deleted or placed elsewhere, removes this
// host's orphans, and writes the instance's status under
// status/<host>/unit/<name> only when it changes.
//
// It is level-triggered: etcd watches (Units, bindings), the engine's event
// stream and a periodic resync only enqueue Unit names; Reconcile reads the
// desired state from the caches and the actual state from the engine, asks
// the pure function plan what to do, and does it. berth never sets a Docker
// restart policy: restarting is this package's job.
//
// Restart: a container that exits is started again when the policy says so
// (always; on-failure after a non-zero exit; never), after a delay that
// doubles from restart.delay to restart.maxDelay and starts again from
// restart.delay once a container has run for ResetBackoffAfter. More than
// startLimit.burst starts within startLimit.interval move the instance to
// FAILED, as systemd's start limit does, until its spec changes.
//
// Containers are named berth-unit-<name> and labelled berth.dev/host,
// berth.dev/kind, berth.dev/name and berth.dev/spec-hash; only containers
// labelled with this host are ever touched. The name makes a second
// container for a Unit impossible, even across a crash of the controller.
package units
