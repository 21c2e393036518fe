// Package catalog is berth's service catalog: the endpoints of every
// service, their health checks and the hosts they run on, as Consul's
// catalog holds them.
//
// Endpoints live in etcd under catalog/<host>/<service>/<endpoint-id>, each written
// by the host that registered it and attached to a lease of that host, so
// a dead host's endpoints vanish when its lease expires. The key says whose
// endpoint it is (DecodeEndpoint): a value naming another host is no
// endpoint, and two hosts registering the same service id are two
// endpoints, as on two Consul nodes. Readers (the DNS
// server, the Consul-compatible HTTP API, applyctl) use a Reader: an
// in-memory view of the catalog kept up to date by an etcd watch, never
// etcd per query, with an index that only moves forward for blocking
// queries.
//
// Sub-packages serve the catalog: catalog/dns answers DNS,
// catalog/consulapi answers Consul's HTTP API.
package catalog
