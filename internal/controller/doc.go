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
//
// # The HTTP API's protection
//
// Config.Validate refuses a --listen that is not loopback unless the API
// is served over TLS (--tls-cert, --tls-key; TLS 1.2 at least) or plain
// HTTP is asked for (--insecure-http). Writes (every method but GET and
// HEAD) and /v1/logs are protected: with --api-token-file they need its
// token from every address, sent as X-Consul-Token, Authorization: Bearer
// or ?token=; without it they are served to loopback clients only. Reads
// are open unless --api-reads is token; /healthz and /readyz always are.
// A refusal is 403 "Permission denied: ..." and counts in
// berth_api_requests_denied_total{reason}. The token is read once at
// start: restart the controller to change it. The host record's
// httpScheme says whether clients speak http or https to --listen.
package controller
