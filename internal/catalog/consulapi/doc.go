// Package consulapi serves berth's catalog as Consul's HTTP API, shaped so
// that github.com/hashicorp/consul/api, Prometheus' consul_sd_configs and
// other Consul clients work against a berth controller unchanged.
//
// A Server reads through a catalog.Reader (the in-memory view of the
// catalog, never etcd per request) and writes through a catalog.Agent (this
// host's registrations, on its lease). Register mounts its routes on the
// controller's mux:
//
//	srv := consulapi.New(reader, agent, consulapi.Options{Datacenter: "dc1", Log: log})
//	srv.Register(mux)
//
// Routes lists the same routes without a Server, each marked Agent when it
// goes through the catalog.Agent: a process that serves HTTP before its
// catalog has loaded holds them on its mux from the start (the controller
// answers 503 with Retry-After there until then), so that none is ever a
// 404. NotFound is the 404 of every other path under /v1/.
//
// # Routes
//
// Agent (this host): GET /v1/agent/self, /v1/agent/members,
// /v1/agent/services, /v1/agent/service/{id}, /v1/agent/checks; PUT
// /v1/agent/service/register (?replace-existing-checks),
// /v1/agent/service/deregister/{id}, /v1/agent/check/register,
// /v1/agent/check/deregister/{id}, /v1/agent/check/{pass,warn,fail}/{id}
// (?note=) and /v1/agent/check/update/{id} ({"Status","Output"}).
//
// Catalog and health (every host): GET /v1/catalog/datacenters,
// /v1/catalog/services, /v1/catalog/service/{name} (?tag=, repeatable, all
// must match), /v1/catalog/nodes, /v1/catalog/node/{node},
// /v1/health/service/{name} (?passing, ?tag=), /v1/health/checks/{service},
// /v1/health/node/{node} and /v1/health/state/{any|passing|warning|critical}.
// Any other path under /v1/ is 404.
//
// # Shapes and semantics
//
// Responses use Consul's PascalCase field names (CatalogService,
// ServiceEntry, AgentService, HealthCheck, AgentMember, Node). Every host is
// a node whose ID is a UUID derived from its name; a node-level serfHealth
// check is passing while the host is Up and critical when it is Down. An
// endpoint registered by no host (a static one) is shown on a node named
// "external" at its own address.
//
// Writes answer 200 with an empty body. A body that does not parse, or
// that asks for something berth does not do (Connect kinds, gRPC, UDP,
// H2PING and alias checks, scripts outside a container), gets 400 with the
// reason as text; a body over Options.MaxBodyBytes gets 413. Field names
// are matched case-insensitively and in snake_case (ScriptArgs,
// script_args and Args are the same field); fields berth does not know are
// ignored, as Consul clients send many. A check's ID defaults to
// service:<id> (service:<id>:<n> when the service has several), its status
// to critical. Re-registering a service keeps the status and output of its
// checks whose ID and type are unchanged and that give no Status, so a
// periodic re-registration does not flap; checks it no longer lists are
// kept unless ?replace-existing-checks is given, as Consul does.
// An ID that is one of this host's container endpoints cannot be taken
// over through the API (400), and check/register adds checks only to
// services registered through the API. Deregistering an unknown id is a
// no-op; updating an unknown check is 404, a non-TTL one 400. What the
// Agent's policy refuses (a *catalog.RefusedError: script checks while
// they are off, in Consul's words, or in a container berth does not run
// on this host) is 403 with the Agent's reason; any other failure of the
// Agent is 500.
//
// Check definitions are served on reads (/v1/agent/checks,
// /v1/health/...). The values of their HTTP headers are shown as
// "[redacted]" and the password in their URLs as "xxxxx", unless
// Options.ShowSecrets says the request may see them (the controller: it
// carries the API token).
//
// Intervals, timeouts and TTLs are taken as sent; the Agent raises those
// under berth's floor (one second) where the check runs, as Consul raises
// an interval below its minimum, and the catalog shows what runs.
//
// Reads set X-Consul-Index, X-Consul-LastContact: 0 and
// X-Consul-KnownLeader: true. The index of /v1/catalog/service/{name},
// /v1/health/service/{name} and /v1/health/checks/{name} is the index of
// that service's last change; every other read carries the whole catalog's
// index. Both only move forward and are at least 1. Blocking queries
// (?index=N&wait=D; wait defaults to 5m, at most 10m, plus up to wait/16 of
// jitter) hold the request until the index of its scope passes N, then
// answer; a timeout answers the same data and index. An index ahead of the
// catalog's answers at once, so a client whose index is from elsewhere
// resynchronises instead of hanging.
//
// ?pretty indents an answer's JSON, as Consul does (four spaces, and a
// final newline), for people reading it from curl.
//
// ?stale, ?consistent, ?cached, ?dc (of this datacenter), ?ns, ?partition
// and ?near are accepted; every answer comes from this host's in-memory
// catalog. ?node-meta=key:value filters nodes. ?filter (Consul's bexpr
// expressions) is accepted and ignored: the answer is unfiltered. ?dc of
// another datacenter is 400. A Server has no ACLs of its own: it
// ignores X-Consul-Token and ?token=, which the controller that mounts it
// checks (--api-token-file) before a request reaches it.
//
// A body must arrive whole within 10 seconds, or the request is 400.
//
// A Server is safe for concurrent use; it holds no state of its own beyond
// its options.
package consulapi
