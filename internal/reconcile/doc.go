// Package reconcile is the one loop every berth reconciler runs on, in the
// shape of controller-runtime's: event handlers only Enqueue a key; workers
// take keys off a rate-limited work queue (client-go's workqueue, which
// de-duplicates keys and backs off per key) and call Reconcile; the result
// decides what happens to the key:
//
//   - nil error, zero Result: done (the key's backoff is forgotten);
//   - Result.RequeueAfter > 0: reconciled again after that long;
//   - an error: reconciled again after the key's exponential backoff; the
//     error is logged once, here;
//   - an error wrapped with Terminal: logged and not retried.
//
// # Sources
//
// The loop is given its sources, as controller-runtime's Watches: caches
// (store.Typed, store.Cache) it runs and waits for, and whose changed keys
// it maps to keys to reconcile. Start runs them, waits until every one has
// listed, enqueues every key of the watched ones, then works; every
// Options.Resync (controller-runtime's SyncPeriod) it enqueues them all
// again:
//
//	loop := reconcile.New("job", r, reconcile.Options{Workers: 2, Resync: 30 * time.Second})
//	loop.Watch(jobs, reconcile.TrimPrefix(store.ObjectPrefix(v1.KindJob)))
//	loop.Watch(statuses, statusesOfJobs)    // status/<host>/job/<name> → <name>
//	loop.WatchAll(hosts, nil)               // a host joined or left: every job
//	loop.Watch(versions, nil)               // read by the reconciler only
//	err := loop.Start(ctx)
//
// Options.Clock times the resync and every delay of the queue (RequeueAfter
// and backoff): tests give a fake clock and step it instead of waiting.
//
// A panic in Reconcile is recovered, counted and treated as an error. The
// loop exports controller-runtime's metric names (controller_runtime_*) and
// client-go's workqueue metrics (workqueue_*), so dashboards and alerts
// written for Kubernetes controllers work unchanged.
package reconcile
