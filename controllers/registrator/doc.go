// Package registrator keeps this host's endpoints in the service catalog,
// as Registrator and a Consul agent do, but as a reconciler rather than an
// event listener: on any change (a container started or died, a Service or
// Unit changed, a check changed its verdict, a registration through the
// agent API) and every resync it rebuilds the host's endpoints from
// scratch with a pure function, compares them with what it wrote, and
// writes the difference to etcd under catalog/<host>/<service>/<id>, on a lease
// of this host, so that a dead host's endpoints vanish with its lease.
//
// Endpoints come from:
//
//   - every container on the host that publishes ports, berth's and
//     foreign ones alike, with Registrator's conventions: SERVICE_NAME,
//     SERVICE_<port>_NAME, SERVICE_TAGS, SERVICE_ID, SERVICE_IGNORE,
//     SERVICE_<port>_IGNORE, SERVICE_CHECK_HTTP|TCP|SCRIPT|TTL|INTERVAL|
//     TIMEOUT|INITIAL_STATUS, any other SERVICE_<KEY> as meta; read from
//     the environment and the labels (labels win, the per-port form wins);
//     id <host>:<container-name>:<port>[:udp]; address the host's advertise
//     address, port the published host port;
//   - Service objects, whose selector matches the labels of the Units whose
//     containers run here, with their port, tags, meta and checks (a
//     container a Service selects is registered for that Service only);
//   - the static endpoints of Services (those naming this host, and, on the
//     leading controller, those naming none);
//   - registrations through the Consul-compatible agent API (this package
//     implements catalog.Agent), kept in --data-dir across restarts.
//
// It also runs the endpoints' health checks (http, tcp, exec inside the
// container, ttl, and the container's own Docker health status) and
// writes their results into the endpoints. http, tcp and exec checks are
// probed by internal/probe with Consul's rules (HTTP 2xx passing, 429
// warning; exit code 0 passing, 1 warning; anything else critical; output
// capped at 4 KiB), on Consul's thresholds (SuccessBeforePassing,
// FailuresBeforeCritical, DeregisterCriticalAfter).
//
// # Where things are
//
//   - registrator.go: Options, New and Run: the loop (one key, "sync"),
//     its sources (typed caches of Services, Units and Jobs, each object
//     decoded and defaulted once, and the engine's events) and its resync
//     (Options.Resync), and the order of shutdown: the sources and the
//     loop stop, then the checks' runners, then the lease is revoked. A
//     stored object that does not decode is logged once and left out of
//     the rebuilds until it changes.
//   - reconcile.go: one rebuild, desired → diff → write: input reads the
//     world, desired (desired.go, conventions.go) builds the endpoints
//     without I/O, withResults adds the checks' verdicts, diff (diff.go,
//     pure) says what to put and delete, write does it on the lease
//     (writer.go, which owns the lease and what was written on it).
//   - checks.go: a runner per check, started, replaced when its
//     definition changes, stopped when it goes; runner.go: one check's
//     schedule, thresholds and TTL; floors.go: berth's minimum durations.
//   - agent.go: the Consul-compatible agent API (catalog.Agent);
//     registrations.go keeps its registrations in --data-dir;
//     scriptchecks.go decides where a script check registered through it
//     may run.
//   - events.go: the events recorded about the objects endpoints belong
//     to.
//
// # Which container a command runs in
//
// A check a container declares for itself (SERVICE_CHECK_SCRIPT or
// SERVICE_CHECK_CMD in its environment or labels), a Service's exec check
// and a Job's exec healthCheck run in the container they belong to, always.
// A script check registered through the agent API names a container
// (DockerContainerID): it is refused in Consul's words unless
// Options.EnableScriptChecks is set (controller --enable-script-checks),
// and then runs only in a container berth created on this host: labelled
// with this host's name as a Unit's or Job's container, and the container
// this host's status of that instance names. That is decided when the
// check is registered (a *catalog.RefusedError otherwise) and again
// before every run, so a registration kept from before, or a container
// that is no longer berth's, gets no exec: the check is critical and says
// why.
//
// # Floors
//
// Whatever declares a check, its interval and TTL are at least
// v1.MinCheckInterval and its timeout at least v1.MinCheckTimeout (one
// second each), as Consul raises an interval below its minimum: an
// interval of 1ns would otherwise run a docker exec back to back. The
// catalog shows the raised values; raising one logs a warning and records
// a CheckBelowMinimum warning event on the Unit or Job that owns the
// endpoint (on the Service, for a static endpoint), once per runner.
package registrator
