// Package controller runs berth's per-host controller: the process that
// `controller` starts on every host.
//
// Run starts, in this order: the embedded etcd when no etcd endpoints are
// given; the connection to etcd (retried with backoff while etcd is
// unreachable, the controller reporting not-ready meanwhile); the Host
// record, kept alive on an etcd lease; and the HTTP server that serves
// /healthz, /readyz and /metrics. It returns when its context ends, after
// shutting down in the reverse order: stop accepting HTTP requests, revoke
// the lease (the host shows DOWN at once), close the etcd client, stop the
// embedded etcd with its data intact.
package controller
