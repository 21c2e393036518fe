// Package reconcile is the one loop every berth reconciler runs on, in the
// shape of controller-runtime's: event handlers only Enqueue a key; workers
// take keys off a rate-limited work queue (client-go's workqueue, which
// de-duplicates keys and backs off per key) and call Reconcile; the result
// decides what happens to the key:
//
//   - nil error, zero Result: done (the key's backoff is forgotten);
//   - Result.RequeueAfter > 0: reconciled again after that long;
//   - Result.Requeue or an error: reconciled again after the key's
//     exponential backoff; the error is logged once, here;
//   - an error wrapped with Terminal: logged and not retried.
//
// A panic in Reconcile is recovered, counted and treated as an error. The
// loop exports controller-runtime's metric names (controller_runtime_*) and
// client-go's workqueue metrics (workqueue_*), so dashboards and alerts
// written for Kubernetes controllers work unchanged.
package reconcile
