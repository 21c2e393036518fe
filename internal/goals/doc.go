// Package goals changes what berth is asked to run: the goal of Units
// (start, stop, restart) and where a Job is deployed and with which goal
// (deploy, undeploy, start and stop on hosts). applyctl's verbs and the
// dashboard's actions both go through it, so a Unit stopped from either
// is stopped the same way, with the same store writes and the same words.
//
// # Units
//
// SetUnits is a read-modify-write of every Unit, in one compare-and-swap
// transaction (store.UpdateObjects), with systemd's meaning:
//
//   - stop sets goal stop on the Units named and on every Unit that
//     requires one of them, transitively (StopSet);
//   - start sets goal start on the Units named and on every Unit they
//     require, transitively; a requirement on a Unit that does not exist
//     is reported, not an error: the Unit waits for it (StartSet);
//   - restart is start, and the annotation v1.AnnotationRestartedAt on
//     the Units named.
//
// A named Unit that does not exist is a *NotFoundError and nothing is
// written. Line says what happened to each Unit as applyctl prints it:
// "unit/db stopped", "unit/todo stopped (requires db)".
//
// # Jobs
//
// Deploy, Undeploy and SetJobGoal change one Job's spec.deployments, as
// Helios' verbs do, through UpdateJob: a read-modify-write validated
// before it is written. Each returns a HostResult per host, which JobLines
// turns into applyctl's lines ("job/nc deployed to host-a").
//
// Nothing here waits for the change to take effect, and nothing logs:
// callers bound each call with a context deadline and report errors. Store
// errors are returned wrapped as they come (test them with errors.Is
// against store.ErrConflict, store.ErrUnavailable and
// store.ErrPermissionDenied).
package goals
