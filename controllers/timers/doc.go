// Package timers is the leading controller's loop of Timers: it decides
// when each Timer runs and where, as systemd's timers start their services,
// exactly once per tick across a cluster whose leader can change.
//
// A decision (Decide, a pure function with its rules in its doc comment)
// reads the Timer, its schedule, the leader's record of it
// (status/leader/timer/<name>: the last tick decided, the run counter, the
// runs kept), the run bindings and what hosts report of each run, and
// returns the new record, the run bindings to create or change and the
// events to record. The record and the bindings are written in one etcd
// transaction that expects the record as it was read: a second controller
// deciding at the same moment (an old leader that has not yet seen it lost)
// fails its compare and decides again from what the first wrote, so no tick
// runs twice; and a new leader starts from the last tick written, so none
// is skipped (a tick missed while no controller led runs once if the Timer
// is persistent or the tick is within its starting deadline).
//
// A run is bound to hosts under bindings/timer/<timer>/<run>. Each host's
// units controller runs it as a container of its own (labelled
// berth.dev/kind=Timer and berth.dev/version=<run>, named
// berth-timer-<timer>-<run>) with the Timer's restart policy, and reports
// it under status/<host>/timer/<timer>/<run>. A binding's Stop asks its
// hosts to stop the run (its activeDeadline passed, a newer run replaced
// it) or, once it ended, never to start it again; its exited container
// stays with its logs until the run leaves the history and its binding is
// deleted.
//
// The loop reads Timers, what hosts report of their runs and the hosts from
// typed caches (store.NewObjectCache, store.NewTyped), decoded and defaulted
// once; the record and the run bindings a decision starts from are read from
// etcd. A stored Timer that does not decode is left alone, its record and
// runs kept, with an InvalidObject event, until it changes.
//
// Time comes from Options.Now, so tests move it by hand. Metrics (through
// Options.Runs): berth_timer_runs_total{timer,result},
// berth_timer_run_duration_seconds{timer} and
// berth_timer_last_success_timestamp_seconds{timer}, the last read from the
// record, so it survives a change of leader.
package timers
