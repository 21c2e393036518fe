// Package agent runs berth's per-host controller: the process that
// `controller` starts on every host.
//
// Run checks its configuration and makes the data directory (--data-dir),
// with mode 0700 when missing, or returns an error naming the flag and what
// to do when it cannot be one. Then it runs berth's components the way
// controller-runtime's manager runs its runnables (manager.go): each has a
// Start(ctx) that runs until ctx ends, and a group that says where it
// stands in the start and shutdown order, one group running only while
// this host leads. run.go lists them; they start in this order:
//
//  1. the HTTP server (/healthz, /readyz, /metrics, container logs, the
//     Consul-compatible API, the Prometheus targets and the dashboard at
//     /ui/, package ui), which serves from the start: every route is on
//     its mux before it serves, and the catalog's and the agent's routes,
//     the Prometheus targets and the dashboard answer 503 with Retry-After
//     (never 404) until their components have started;
//  2. the embedded etcd, when no etcd endpoints are given;
//  3. the etcd client, retried with backoff while etcd is unreachable,
//     /readyz saying why meanwhile; a wrong certificate or password is an
//     error of Run;
//  4. the events recorder; DNS (a port in use is an error of Run); the
//     catalog; the registrator; the container engine's watch; the units
//     controller; the container DNS; the collector of unused images
//     (--image-gc-after); the dashboard; the collector of this host's own
//     keys; the routes, switched over once the catalog and this
//     host's registrations have loaded (/readyz is 200 only once they
//     have); and the heartbeat, which keeps the Host record alive on an
//     etcd lease;
//  5. the leader election, and while this host leads, the cluster-wide
//     loops: the scheduler, Jobs, Timers, GitSources and the garbage
//     collector. They stop when leadership is lost, and start afresh when
//     it comes back.
//
// A component that fails (the HTTP server) stops the controller, and Run
// returns its error. Run returns when its context ends, after shutting
// down in this order: stop accepting HTTP requests, finishing those under
// way; stop the cluster-wide loops and give up leadership; stop this
// host's components, the heartbeat first, which revokes the lease (the
// host shows DOWN at once), the registrator revoking its endpoints' lease;
// then close the events recorder and the etcd client, and stop the
// embedded etcd with its data intact.
//
// # Container DNS
//
// Containers cannot reach the host's loopback, so Run also serves DNS on
// port 53 and the HTTP API, in plain HTTP on --listen's port, on an
// address of the host they reach (--container-dns: the gateway of the
// berth Docker network by default, created when missing; "off" for none),
// and gives that address to every container the units controller creates
// (unitsctl.Options.Resolver). That DNS forwards names outside the domain
// to --dns-recursor, or to the host's resolvers in /etc/resolv.conf (those
// not on loopback when it lists any), and rate-limits its clients, which
// are never loopback; the HTTP API is the --listen one, behind the same
// access control, so containers write only with the token. When the
// address is taken (several controllers on one engine), the controller
// says so once and tries again every 30s, serving it once it is free; its
// containers are given the address either way. The address is looked up
// again every 30s, and the listeners move when it changes.
//
// # The embedded etcd's protection
//
// Config.Validate refuses an --etcd-listen-client or --etcd-listen-peer
// that is not loopback unless it is https:// with --etcd-server-cert,
// --etcd-server-key and --etcd-client-ca (TLS, and a certificate of that
// CA from every client), or --insecure-etcd is given. The controller then
// reaches its own etcd with --etcd-cacert, --etcd-cert and --etcd-key, as
// applyctl does.
//
// # The HTTP API's protection
//
// Config.Validate refuses a --listen that is not loopback unless the API
// is served over TLS (--tls-cert, --tls-key; TLS 1.2 at least) or plain
// HTTP is asked for (--insecure-http). Writes (every method but GET and
// HEAD) and /v1/logs are protected: with --api-token-file they need its
// token from every address, sent as X-Consul-Token, Authorization: Bearer
// or ?token=; without it they are served to loopback clients only. Reads
// are open unless --api-reads is token; /healthz and /readyz always are,
// but /readyz gives the reasons of a failing check (etcd and Docker
// errors) only to requests that may read.
// A refusal is 403 "Permission denied: ..." and counts in
// berth_api_requests_denied_total{reason}. The token is read once at
// start: restart the controller to change it. The host record's
// httpScheme says whether clients speak http or https to --listen. Only a
// request that carries the token sees the values of check definitions'
// HTTP headers; script checks registered through the API run only with
// --enable-script-checks, in this host's berth containers.
package agent
