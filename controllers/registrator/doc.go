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
// writes their results into the endpoints.
package registrator
