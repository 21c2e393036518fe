// Package cli implements applyctl, berth's command line: apply, get,
// describe, diff, delete, wait and version, with kubectl's habits; start,
// stop, restart and status with systemctl's; Helios' deploy, undeploy,
// remove, jobs, status, history and hosts for Jobs; and logs.
//
// start, stop and restart are declarative: they change the stored Units
// (spec.goal, and the restarted-at annotation) with one compare-and-swap
// transaction (store.UpdateObjects), computing with pure functions which
// Units a request reaches: stop follows requires backwards (what requires
// the Unit stops too), start follows it forwards (what the Unit requires
// starts too), as systemd does.
//
// logs and status read container output from the HTTP API of the
// controller of each host that runs the Unit (GET /v1/logs/unit/NAME on
// the address its Host record carries); the hosts come from the Unit's
// status keys. Each request names its host in X-Berth-Host: a controller
// of another host answers 421, and the host is reported unreachable from
// here rather than shown with another host's output.
//
// apply --wait and wait follow the Units they wait for by list-then-watch
// (mirror.go) and decide with one pure function (unitready.Of, through unitReadiness): a Unit is
// Ready when the instances it should have report Ready=True at its current
// generation. While an instance is not progressing (its Progressing
// condition False: refused, an error being retried, a volume its host
// cannot make), apply --wait's progress line, wait's and start --wait's
// lines on standard error, and get units show its message (stuck). describe
// and get events read the events controllers record with internal/events.
//
// get services, get endpoints and describe service (catalog.go) read the
// Service objects and the endpoints the hosts registered under catalog/,
// and build what they show with one pure function (services): a service is
// any name a Service object or a registered endpoint carries. get -w of
// them follows both prefixes with the same mirror.
//
// Helios' verbs for Jobs (deploy.go) are conveniences that change the
// stored Job with one compare-and-swap write (store.UpdateObjects): deploy
// and undeploy add and remove spec.deployments, start|stop job JOB HOST...
// set their goal, and remove deletes the Job and its version records,
// comparing its mod revision, refused while it is deployed unless --force.
// Each of these writes, like apply, keeps the Job's version records
// (objects/jobversion/<name>/<version>, see internal/store). A JOB is a
// name or a NAME:VERSION[:HASH] id that must name the stored version.
// Helios' views (jobviews.go: jobs, status without a unit, history; hosts
// is get hosts) read the Jobs, their version records, their bindings
// (bindings/job/<name>: which version runs where), status, history and
// alive keys once and build their rows with pure functions; a status
// under the name of no host is left out. rollout status job NAME (rollout.go) follows the Job and
// its binding with the same list-then-watch mirror until the rollout the
// leader records there is DONE (exit 0) or FAILED (exit 1).
//
// convert (convert.go) reads files and directories, hands them to
// internal/convert and prints its manifests on standard output and its
// findings on standard error, exiting 1 when a setting was not carried
// over unless --allow-partial. create job and create unit (create.go) build
// one object from helios create's and docker run's flags with the same
// package, then write it through apply's own path (prepareSources, then
// store.Apply), so they check and store exactly as apply does; get,
// describe and delete take a job as NAME:VERSION[:HASH] too (jobref.go).
//
// apply --prune --applyset NAME and diff --prune --applyset NAME (applyset.go)
// hand the objects to internal/applyset, which labels them with the set,
// prunes what the set no longer holds and records the set in one
// transaction; get applysets lists the records.
//
// applyctl talks to etcd directly through internal/store. Every command runs
// in-process through [Main], with its arguments, standard streams and
// environment injected, so tests drive it exactly as a user does:
//
//	code := cli.Main(ctx, []string{"apply", "-f", "todo.yaml"},
//		cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
//
// Exit codes: 0 success, 1 failure (invalid manifests, an object not found,
// etcd unreachable), 2 usage (an unknown command, flag or kind, missing
// arguments). diff exits 0 without differences, 1 with some and 2 on error.
// Every error is one line on standard error starting with "Error: ", except
// the problems of invalid manifests, printed one per line as
// "file:line: document N (unit/name): field: message" before it.
package cli
