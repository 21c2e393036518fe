// Package convert turns what berth's users already run into berth objects
// that applyctl apply takes unchanged: docker compose files, systemd unit
// files that wrap docker run, and Helios jobs. applyctl convert is its
// shell; applyctl create unit reads docker run's flags with it, and
// applyctl create job Helios' job JSON.
//
// # Use
//
//	res, err := convert.Convert(ctx, files, convert.Options{Env: env, Host: host})
//	manifest, err := convert.Manifest(res.Objects, false) // YAML documents
//	for _, f := range res.Findings { fmt.Fprintln(os.Stderr, f) }
//
// Each converter is a function from the files' bytes (and, for compose, the
// environment and project directory) to objects and Findings. A Finding
// names a setting as written, with its file and line, and says why it was
// not carried over (Dropped) or how it was carried over differently (Note).
// Nothing is left out silently: what berth does by itself anyway (remove
// and recreate containers, order after docker.service, detach) is implied
// and not reported. Host lets a conversion read files the input names
// (env files) and see what a bind-mounted path is; with a zero Host
// nothing outside the input is read, which is how the fuzz tests run.
//
// # systemd units (Systemd)
//
// Every file is one Unit; files converted together are linked by their
// dependencies. The container comes from ExecStart=, which must run docker
// run (directly, through "docker container run", or as the one command of
// sh -c): its flags are parsed with pflag under Docker's own names
// (ParseDockerRun) and become the container template: -p, -v, --mount,
// -e, --env-file, --name, -w, -u, -h, --entrypoint, -l, --restart,
// --health-cmd and the other --health-* flags (run with /bin/sh -c as the
// engine runs them, with its defaults of 30s, 30s and 3 retries),
// --memory, --cpus, --network, --link, --stop-signal, --stop-timeout,
// --pull, --privileged, --cap-add, --cap-drop, --read-only,
// --security-opt no-new-privileges. Every other docker run flag is known by
// name and reported. Environment= and EnvironmentFile= are expanded in
// ExecStart= as systemd expands them ($NAME splits, ${NAME} does not), and
// the specifiers %n %N %p %i %I %% are replaced.
//
// The unit is named after docker run's --name, else after the file. The
// directives:
//
//   - Description= becomes spec.description.
//   - Requires=, Wants=, After= become requires, wants and after;
//     BindsTo= becomes requires; Before=X puts this unit in X's after.
//     Dependencies on docker.service, containerd and systemd's targets are
//     implied. A unit named that is not among the files converted is kept
//     by name (a note says so); After= a Type=oneshot unit waits for it to
//     complete (startCondition completed), unless its docker run detaches
//     (-d), which leaves a service running. --link X makes the unit require
//     X's unit.
//   - Restart= (else docker run's --restart, else never, systemd's
//     default) becomes the restart policy; on-abnormal, on-abort and
//     on-watchdog become on-failure. RestartSec= becomes a fixed delay
//     (delay and maxDelay), RestartMaxDelaySec= the maxDelay;
//     StartLimitBurst= and StartLimitIntervalSec= the start limit
//     (interval 0 turns it off).
//   - ExecStartPre= running docker rm, kill or stop is implied; docker
//     pull makes pullPolicy Always; ExecStop= docker stop -t N becomes
//     stopTimeout; any other command runs on the host and is reported
//     (touch and mkdir with the hostPath type that replaces them).
//   - [X-Fleet] Global= and MachineMetadata= become placement.global and
//     hostSelector.
//   - Directives that shape only the docker client process (User=,
//     KillMode=, TimeoutStopSec=, StandardOutput=, ...) are implied;
//     everything else is reported.
//
// # compose files (Compose)
//
// The files of one project go through the compose specification's own
// loader (github.com/compose-spec/compose-go/v2): interpolation with the
// environment over the project's .env (ComposeEnv), profiles, extends,
// env_file, merging of several files. Each service becomes a Unit of the
// same name (containers reach each other by it on berth's network, as by
// service name under compose), labelled com.docker.compose.project and
// com.docker.compose.service, and each service with ports a Service that
// selects it on its first port. image; entrypoint and command (berth's
// command and args); environment; ports; volumes (bind mounts as hostPath,
// named volumes under the Docker name compose gives them, anonymous ones as
// named volumes); secrets and configs kept in files (mounted read-only at
// /run/secrets/NAME and at their target); restart (no: never,
// unless-stopped and always: always, on-failure[:N]: on-failure, N
// reported) or deploy.restart_policy; healthcheck (CMD and CMD-SHELL as
// exec, compose's defaults of 30s, 30s and 3 retries); labels; depends_on
// (required: requires, else wants; service_healthy and
// service_completed_successfully as startCondition healthy and completed);
// deploy.replicas and scale (placement.replicas, 0 as goal stop);
// deploy.mode global; deploy.resources.limits, mem_limit and cpus;
// deploy.placement.constraints on node.labels (hostSelector); hostname,
// user, working_dir, stop_signal, stop_grace_period, network_mode,
// privileged, cap_add, cap_drop, read_only, pull_policy. Every other field
// that is set is reported, found by reflection over compose-go's service
// type so that none is missed.
//
// # Helios jobs (Helios)
//
// A file holds one job as helios inspect --json prints it (and helios
// create -f reads it), a map of job ids to jobs (helios jobs --json), or a
// list. Each becomes a Job of the name and version of its id (the hash is
// berth's, of the container template): image, command (args), env, named
// ports (internalPort, externalPort, ip, protocol), registration (service
// per named port with tags; a lone port is the default), healthCheck
// (http and tcp on a port name, exec), volumes ("/ctr[:ro]": host path,
// volume name, or "" for a new volume), hostname, networkMode, labels,
// metadata (annotations), add/dropCapabilities, resources.memory,
// gracePeriod, expires (ISO-8601 or milliseconds), secondsToWaitBeforeKill
// (stopTimeout; the agent's default of 120s when absent) and
// rolloutOptions parallelism, timeout and ignoreFailures. token,
// registrationDomain, ramdisks, runtime, securityOpt, the other resources
// and rollout options are reported.
//
// # Limits
//
// Unit files larger than MaxUnitFileBytes are refused, as go-systemd's
// parser refuses lines longer than systemd's LINE_MAX. Every input is
// fuzzed (fuzz_test.go): no input panics.
package convert
