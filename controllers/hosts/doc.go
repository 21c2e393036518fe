// Package hosts keeps a host's record in etcd: hosts/<host> says what the
// host is (addresses, CPUs, memory, load, OS, kernel, versions, its HTTP
// address) and alive/<host>, on a lease, says that it is up. Readers show a
// host whose alive key is gone as DOWN, not forgotten.
//
// A Heartbeat is run by the host's controller. It keeps the lease alive and
// rewrites the record when it changes, and every RecordRefresh for its load
// figures, so an idle host writes little; its addresses are read from the
// kernel again at the same pace (a new address shows within RecordRefresh
// and a beat). When etcd is unreachable for longer than
// the TTL the lease is lost, and a new one is granted once etcd answers
// again. When its context ends it revokes the lease, so the host is DOWN at
// once rather than a TTL later.
package hosts
