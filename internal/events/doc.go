// Package events records Events about objects, the lines an operator reads in
// "applyctl describe unit todo" and "applyctl get events": a container pulled,
// started, died, restarted, backed off.
//
// A controller makes one Recorder at start and passes it to its reconcilers:
//
//	rec := events.NewRecorder(st, hostName, log)
//	defer rec.Close()
//	...
//	rec.Event(ctx, v1.KindUnit, "todo", v1.EventWarning, "BackOff", "restarting in %s", delay)
//
// # Storage
//
// Each event is a JSON v1.Event under events/<kind>/<name>/<id>, where id is
// the time in unix nanoseconds (16 hex digits, so ids sort by time) and the
// host: 17a2b3c4d5e6f708-host-a. Events are attached to a lease of one hour
// that the Recorder grants and reuses; it grants a new one when the current
// one has less than ten minutes left, so every event lives at least 50
// minutes after its last write and etcd forgets it by itself afterwards.
//
// # Deduplication
//
// A repeat of the same object, type, reason and message within ten minutes
// of its last occurrence does not add an event: it raises Count and
// LastTimestamp of the stored one (kubectl shows "(x17 over 8m)"). The
// Recorder remembers what it wrote in memory only, so a restarted controller
// starts new series.
//
// # Errors and concurrency
//
// Event never fails and never blocks a reconcile for long: each call writes
// within two seconds (less when ctx ends sooner). When etcd cannot be
// reached the event is dropped and logged at debug level, and for the next
// few seconds further events are dropped without trying, so a controller
// that lost etcd is not slowed down by its own events. A Recorder is safe
// for concurrent use; Close only marks it closed: events are never revoked,
// they must outlive the controller that wrote them.
package events
