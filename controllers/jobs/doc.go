// Package jobs is the leading controller's loop for Jobs, as Helios' master
// ran them: it decides which version of a Job runs on which host and
// writes that decision as the Job's binding (bindings/job/<name>); each
// host's controller runs what the binding gives it.
//
// A Job runs on the hosts its deployments name (with their goal) and on
// every Up host that matches its hostSelector, hosts that join later
// included; after its expires time it runs nowhere. A host new to the
// Job gets the current version at once.
//
// # Rollouts
//
// A new version rolls across the hosts that run an older one, with the
// semantics of Nomad's update block (plan.go's step has the rules):
//
//   - rollout.canary hosts move first, all at once. Once they are healthy
//     the rollout goes on by itself with autoPromote, else it waits
//     (WAITING_FOR_PROMOTION) until `applyctl rollout promote` annotates
//     the Job berth.dev/promote=<version>.
//   - The other hosts move rollout.parallelism at a time, each step once
//     the previous one is done. A host that joins while the rollout is
//     under way (or stopped), or comes back to a hostSelector's targets
//     after a while Down, starts on the version being replaced and waits
//     its turn; one that was done keeps the new version.
//   - A moved host is healthy once its instance has been RUNNING and Ready
//     on the version for minHealthyTime; it fails when it is FAILED, or not
//     healthy within healthyDeadline (or timeout, when shorter).
//   - A failure with autoRevert returns every host to the binding's
//     Stable version, the last one that ran RUNNING and Ready on every host
//     of the Job once its rollout was done, when its template is still
//     stored (the version records keep the last ten): REVERTED, "version 3
//     unhealthy on host-b for 30s (healthyDeadline): reverted to 2". The
//     hosts that never moved keep their instances. The Job stays reverted,
//     hosts that join included, until another version is applied (or
//     `applyctl rollout undo` applies the stable one).
//   - Otherwise a failing canary, or any host under onFailure: stop, stops
//     the rollout where it is (FAILED); onFailure: continue passes a host
//     over.
//
// The rollout's progress is kept in the binding (v1.RolloutStatus: hosts
// done, moving, pending, failed, canaries) for `applyctl rollout status`,
// and each step is recorded as an event on the Job (RolloutEvents).
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
