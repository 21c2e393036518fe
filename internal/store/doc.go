// Package store is everything in berth that touches etcd: a small CRUD + watch API
// over etcd's client, compare-and-swap transactions, a list-then-watch cache, leases,
// leader election. etcd's own types do not leave this package and its subpackage
// embedded, which runs an etcd server in process (kept apart so that a client such
// as applyctl does not carry a server).
//
// # Keys and revisions
//
// Every key berth writes starts with Prefix ("/berth/v1/"); callers build full keys.
// A KV carries etcd's revisions: ModRevision is berth's resourceVersion, the value a
// compare-and-swap compares against.
//
// # Connecting
//
//	s, err := store.New(ctx, store.Config{Endpoints: []string{"https://10.0.0.1:2379"},
//		CACert: "ca.pem", Cert: "client.pem", Key: "client-key.pem"})
//	defer s.Close()
//
// New verifies the connection with a linearizable read within Config.DialTimeout (5s
// by default) and never hangs: a wrong CA, a missing client certificate, a wrong
// password or an unreachable endpoint fails with an error naming the endpoint and the
// cause, for example
//
//	store: connect https://127.0.0.1:2379: tls: failed to verify certificate: x509: certificate signed by unknown authority
//	store: connect http://127.0.0.1:2379: etcdserver: authentication failed, invalid user ID or password
//
// With several endpoints the client balances across them and fails over when one
// member is down. A member that went away is tried again at most ReconnectMaxDelay
// (2s) apart, however long it was away: requests go through soon after etcd serves
// again. Without an etcd cluster, embedded.Start runs a single-member etcd in
// process; its limits are raised from etcd's defaults (128 operations in a transaction,
// 1.5 MiB in a request) to EmbeddedMaxTxnOps (10000) and EmbeddedMaxRequestBytes (32
// MiB), so that an apply of up to 10000 objects is one transaction. Start other etcds
// with the same --max-txn-ops and --max-request-bytes (SECURITY.md does).
//
// # Writing
//
// Txn writes a list of Op atomically. Each Op is compared unless Force is set:
// ExpectRev 0 means "create, the key must not exist", ExpectRev>0 means "the key must
// still be at this ModRevision". A lost compare returns an error wrapping ErrConflict
// that names the key; re-read and retry (a requeue in a controller). A transaction is
// never split: one the server refuses as too large writes nothing and returns an error
// wrapping ErrTxnTooLarge that says the server's limit and the etcd flag that raises
// it, for example
//
//	transaction too large for etcd: 403 operations, and this etcd accepts at most 128 in one (its --max-txn-ops, 128 by default); nothing was written. berth writes an apply whole or not at all: start every etcd member with --max-txn-ops=10000 (as berth's embedded etcd) or more
//
// Put, Delete and DeletePrefix write unconditionally.
//
// MayWrite asks whether this client's etcd user may write a key, with a
// transaction that writes nothing (its put is behind a compare that never
// holds, and etcd checks the permissions of every branch): the dashboard
// offers its actions only where it answers true.
//
// # Jobs' versions
//
// Apply, UpdateObjects and applysets (PlanApply) keep a record of each
// version of a Job, v1.JobVersion under JobVersionKey
// (objects/jobversion/<name>/<version>), in the transaction that stores the
// Job: under objects/, so only operators' roles may write them, which is
// what lets a host trust them rather than the leader's binding. A record
// never changes (an apply giving a recorded version another template fails
// with ErrVersionChanged); a Job keeps JobVersionsKept of them, and those
// its binding names; DeleteObject, DeleteObjectAt and DeleteOps delete them
// with the Job. They are no objects: ObjectPrefix("job") does not hold
// them.
//
// # Reading and watching
//
// Get returns ErrNotFound for a missing key. List returns a prefix sorted by key and the
// revision of the read; Watch from that revision+1 sees every later change, in order.
// When the revision was compacted the watch reports Compacted and ends: list again.
// Typed does exactly that (an informer): list, watch, relist after a compaction or a
// broken watch with backoff, and handlers (OnChange) called with each changed key, which
// should only enqueue it. It decodes each value once, when its key changes, and keeps
// the decoded values for every reader (sample-controller's lister):
//
//	jobs := store.NewObjectCache[*v1.Job](s, store.CacheOptions{Log: log, Events: rec})
//	bindings := store.NewTyped(s, store.BindingKey(v1.KindJob, ""), store.DecodeJSON[v1.JobBinding], store.CacheOptions{Log: log})
//	e, ok := jobs.Get(store.ObjectKey(v1.KindJob, "web")) // e.Value is a defaulted *v1.Job
//
// A value that does not decode is logged (and recorded as an event on its object) once
// per change and held with its error: Get tells "absent" from "unreadable", so that a
// controller leaves an unreadable object alone instead of taking it for deleted; List
// leaves it out. Cache is the same mirror of raw values. The loops of
// internal/reconcile run caches as their sources.
//
// # Leases and leader election
//
// Grant, KeepAlive and Revoke manage leases; keys written with a lease vanish when it
// expires. KeepAlive's channel closes when the lease is lost, so the owner can grant a
// new lease and rewrite its keys. Election runs a function while this process is the
// one leader of a name, and cancels its context when leadership is lost.
//
// # Errors and concurrency
//
// A Store, a Typed cache, a Cache and an Election are safe for concurrent use. Every method takes a
// context and returns when it ends. Errors are wrapped as "store: <operation> <key>:
// <cause>"; test them with errors.Is against ErrNotFound, ErrConflict and
// ErrUnavailable (etcd could not be reached: report not-ready and retry with backoff).
// Nothing in this package logs but a Typed cache, of the values that do not decode
// (CacheOptions.Log); the embedded etcd's own error logs go to embedded.Config.Logger,
// or nowhere.
package store
