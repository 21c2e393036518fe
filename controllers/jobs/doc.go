// Package jobs is the leading controller's loop for Jobs, as Helios' master
// ran them: it decides which version of a Job runs on which host and
// writes that decision as the Job's binding (bindings/job/<name>); each
// host's controller runs what the binding gives it.
//
// A Job runs on the hosts its deployments name (with their goal) and on
// every Up host that matches its hostSelector, hosts that join later
// included; after its expires time it runs nowhere. A host new to the
// Job gets the current version at once. A new version rolls across the
// hosts that run an older one, rollout.parallelism hosts at a time: each
// step waits until those hosts run the new version RUNNING and Ready,
// within rollout.timeout; a host that fails or times out stops the
// rollout (rollout.onFailure: stop) or is passed over (continue). The
// rollout's progress is kept in the binding for `applyctl rollout status`.
//
// A binding names versions, never templates: for each host the version it
// runs, and for each version the hash of the template operators stored
// for it (its record under objects/jobversion/<name>/<version>, or the
// Job's own for its current version). Hosts take the template from there
// and check the binding against the Job's placement (controllers/units),
// so whoever writes bindings chooses only where, among the hosts the Job
// allows, a version operators stored runs. A host bound to a version of
// which no template is stored (pruned, or stored before records were
// kept) moves to the current version at once. Statuses count only under
// the name of a host that has a record (hosts/<host>).
//
// The loop reads Jobs, bindings, statuses, version records and hosts from
// typed caches (store.Typed) and reconciles a Job on every change of it,
// of its binding, statuses or records, on any change of a host, and every
// Options.Resync. A stored Job that does not decode is left alone, its
// binding kept, until it changes: the cache logs it and records an
// InvalidObject event on it.
package jobs
