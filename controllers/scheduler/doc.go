// Package scheduler chooses the hosts of Units that do not name their own:
// fleet's cluster-wide scheduler on berth's one reconcile loop.
//
// A Unit whose placement is global, or that lists hosts without replicas,
// runs where it says and has no binding. Every other Unit gets one, written
// by the scheduler under bindings/unit/<name> as a v1.Binding: the hosts that
// run it, sorted, and the generation of the Unit it was computed for. Each
// host's controller runs what is bound to it.
//
// # Rules
//
// Schedule is the whole policy, a pure function: Replicas instances (at
// least one), one per host, among the candidate hosts (those that match the
// placement's hostSelector and hosts list) that are Up and have room,
// fewest instances first and then by name, so the result is deterministic.
// A host has room for an instance when the CPUs and memory its template's
// resources ask, added to what the Units and Jobs placed there ask, stay
// within what the host reports less its controller's --reserved-cpus and
// --reserved-memory, and no instance there publishes (or reports) a host
// port it publishes. A host already bound stays bound while it is a
// candidate, Up or Down for a while, whether it still has room or not: an
// instance is never moved to balance load or to make room. When fewer
// instances are wanted, Down hosts are dropped first, then the most loaded.
//
// Replicas that no host can take are written in the binding as Pending,
// with a reason naming each host and what it lacked, with the figures, and
// recorded as a Pending event (and a Placed one once they have a host);
// applyctl shows them PENDING. They are placed when a host joins or changes
// its labels or capacity, when another Unit's binding leaves a host or its
// Unit changes, when a Job's binding changes, and on every resync.
//
// # Rescheduling
//
// A host Down for longer than Options.RescheduleAfter (the controller's
// --reschedule-after, 1m by default; 0 never) is Lost: its instances move
// to other candidates that are Up, and the Unit gets a Rescheduled event.
// One that comes back sooner keeps them; where there is no room, they are
// Pending. An instance that never ran on a
// Down host (no status of it there) moves at once: there is nothing to wait
// for. The scheduler counts how long a host has been Down from when it
// first saw it Down, by Options.Clock, and reconciles its Units again when
// the delay passes.
//
// What a host has taken (Load) is counted by owner: every Unit bound,
// pinned or global there, with its template's request; every Job its
// binding places there, with its current version's request; and the host
// ports the instances of Units and Jobs report in their statuses. The
// scheduler counts the bindings it writes as soon as it decides them, so an
// apply of many Units at once spreads them across hosts.
//
// # Running it
//
// Exactly one controller schedules at a time: Run runs inside
// store.Election.Run's lead callback, whose context ends when leadership is
// lost. berth's controller does so as one of the components that run only
// while it leads the election "cluster" (internal/agent's manager),
// with Jobs, Timers, GitSources and the garbage collector:
//
//	el := s.NewElection("cluster", hostName, 10*time.Second)
//	sched := scheduler.New(s, scheduler.Options{Log: log, Metrics: metrics})
//	err := el.Run(ctx, func(ctx context.Context) { _ = sched.Run(ctx) })
//
// Run caches units (decoded and defaulted once, store.NewObjectCache),
// bindings, host records, alive keys, Jobs, their bindings and the
// statuses of units and Jobs, and reconciles a unit on every change of the
// unit, of its binding, of the labels, capacity or liveness of any host,
// and every Options.Resync. A binding is
// written only when it changes, with a compare-and-swap on its mod
// revision: an idle cluster writes nothing, and a former leader that lost
// the race cannot overwrite a newer decision. A lost compare is an error the
// loop retries with backoff. A binding that does not decode is rewritten; a
// stored Unit that does not decode is left alone, binding and all, until it
// changes (its cache logs it and records an InvalidObject event).
//
// # Metrics
//
// The scheduler exports only the shared loop's metrics
// (controller_runtime_*, workqueue_*) with controller="scheduler".
package scheduler
