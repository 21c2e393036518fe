// Package metrics holds berth's own Prometheus metrics (the berth_*
// families): instances by state, container restarts, time to RUNNING, image
// pulls, health check runs, endpoints by status, etcd request latency and
// errors, and Docker API errors. controller-runtime's and the workqueue's
// metrics live with the loop, in internal/reconcile; the heartbeat, leader
// and build metrics with the controller; the images' disk and removals
// (berth_images_bytes, berth_images_removed_total) with internal/imagegc.
//
// New registers every family with a private registry and initialises the
// series a user alerts on to zero. Every method is safe on a nil *Metrics
// and then does nothing, so packages take a *Metrics in their Options and
// tests or a controller run with --metrics=false pass none:
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	rt = m.Runtime(rt)                    // counts Docker API errors by op
//	st, _ := store.New(ctx, store.Config{..., Observe: m.EtcdRequest})
//	units.New(units.Options{..., BerthMetrics: m})
//
// Labels are bounded: kinds, states, check types and statuses, results and
// operation names are fixed sets; no series is labelled by a user's name
// (a service, a Unit, a container). Endpoints are counted by status only:
// service names come from users and from any container that publishes a
// port (SERVICE_NAME), so a per-service series would grow without bound;
// which endpoints are critical is read from `applyctl get endpoints` or the
// Consul-compatible API once the alert fires.
package metrics
