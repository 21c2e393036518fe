// Package applyset applies a list of objects as one named apply set and
// prunes the objects of the set that are no longer in the list: what
// `applyctl apply --prune --applyset NAME` does, and what a Git sync loop
// calls with the manifests of a revision.
//
// It follows kubectl's ApplySet (KEP-3659) in berth's terms:
//
//   - every object of a set carries the label LabelPartOf
//     (applyset.berth.dev/part-of) whose value is the set's name, a DNS label;
//   - the set itself is a Record stored under applysets/<name>: its name, the
//     kind/name of the objects it owns, the tooling that manages it and when
//     it last changed;
//   - pruning deletes the live objects whose label names the set and that are
//     not in the input. The label on the live object decides: an object
//     applied by hand or by another set is never pruned, even when a stale
//     Record lists it.
//
// Apply refuses, with nothing written, to adopt an object whose label names
// another set (ErrOtherSet), to touch a set recorded by other tooling
// (ErrOtherTooling), and to prune every object of a set because the input is
// empty (ErrPruneAll) unless Options.AllowEmpty.
//
// # Writing
//
// Apply reads the set's Record and every stored object of the appliable
// kinds, plans with a pure function (plan), and writes the applied objects
// (store.PlanApply: created, configured or unchanged, as store.Apply), the
// deletions and the Record in one etcd transaction that compares the mod
// revision of every key it writes. A Job's version records
// (store.JobVersionKey) go with it: written when it is applied, deleted
// when it is pruned; they are no objects of the set and are never pruned
// on their own. A conflict with another writer re-reads and plans again a
// few times. A transaction larger than etcd accepts (its --max-txn-ops or
// --max-request-bytes) writes nothing and returns an error wrapping
// store.ErrTxnTooLarge that says how to raise the limit.
// When nothing changes (a re-apply of the same input) nothing is written,
// not even the Record, so a sync loop that runs every minute does not churn
// etcd.
//
//	res, err := applyset.Apply(ctx, st, "web", objs, applyset.Options{Prune: true, Tooling: "applyctl"})
//	for _, r := range res.Applied { ... }   // unit/todo created
//	for _, p := range res.Pruned { ... }    // unit/old pruned
//
// Apply is safe for concurrent use; errors name the set.
package applyset
