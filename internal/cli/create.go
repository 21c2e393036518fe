package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/convert"
	"berth.dev/berth/internal/store"
)

func (a *app) createCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create job|unit ...",
		Short: "Create a Job as helios create does, or a Unit as docker run takes it",
		Long: `create job NAME:VERSION IMAGE stores a Job from Helios' flags and prints its
id, NAME:VERSION:HASH; create unit NAME --image IMAGE stores a Unit from
docker run's flags. Both go through apply's checks and writes: creating
what exists with the same spec is unchanged, and a Job version that exists
with another container template is refused (versions are immutable).
With --dry-run -o yaml|json they print the manifest instead, without
reaching etcd.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("create needs a kind: create job NAME:VERSION IMAGE, or create unit NAME --image IMAGE")
		},
	}
	cmd.AddCommand(a.createJobCommand(), a.createUnitCommand())
	return cmd
}

// createOutput checks create's --dry-run and -o.
func createOutput(output string) error {
	switch output {
	case "", "yaml", "json":
		return nil
	}
	return usagef("unsupported output format %q: use yaml or json", output)
}

// heliosFlags are helios create's flags.
type heliosFlags struct {
	file                                   string
	ports, registers, env, volumes, labels []string
	metadata, addCaps, dropCaps, deploy    []string
	httpCheck, tcpCheck, execCheck         string
	gracePeriod                            int
	expires, hostname, networkMode         string
}

func (a *app) createJobCommand() *cobra.Command {
	var hf heliosFlags
	var dryRun bool
	var output string
	cmd := &cobra.Command{
		Use:   "job NAME:VERSION IMAGE [-p NAME=[IP:]INTERNAL[:EXTERNAL][/udp]] [--env K=V] [-r SERVICE[/PROTO][=PORT]] [--deploy HOST]... [-f job.json] [--dry-run -o yaml] [-- CMD...]",
		Short: "Create a Job as helios create does, and print its id",
		Long: `create job stores a Job, as helios create does with the same flags, and
prints its id NAME:VERSION:HASH (the hash covers the container template).
-f reads a Helios job config (as helios inspect --json prints one) and the
flags override it. Ports are named, as Helios spells them:
NAME=[IP:]INTERNAL[:EXTERNAL][/udp], the engine choosing the host port
when EXTERNAL is left out. -r registers a named port as a service
(SERVICE[/PROTO][=PORT]; a lone port is the default). --deploy HOST
deploys the Job to hosts (repeatable, or comma-separated), as a following
applyctl deploy would; the hosts a stored version is deployed to are kept.

Creating a NAME:VERSION that exists with the same container template is
unchanged; with another template it is refused, since versions are
immutable: create NAME:NEWVERSION, which then replaces the running
version host by host. The agent's wait before SIGKILL is Helios' 120s.`,
		Example: `  applyctl create job netcat:v1 berth/testapp:latest -p nc=8080:8080 -r netcat --deploy host-a -- --listen :8080
  applyctl create job web:2 example/web -f web.json --env LOG=debug
  applyctl create job netcat:v1 berth/testapp -p nc=8080 --dry-run -o yaml`,
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			n := len(args)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				n = d
			}
			if n < 1 || n > 2 {
				return errors.New("create job takes NAME:VERSION and IMAGE (IMAGE may come from -f), then -- and the command")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := createOutput(output); err != nil {
				return err
			}
			pos, command := args, []string(nil)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				pos, command = args[:d], args[d:]
			}
			image := ""
			if len(pos) > 1 {
				image = pos[1]
			}
			h, err := hf.job(pos[0], image, command, cmd.Flags().Changed("grace-period"))
			if err != nil {
				return err
			}
			return a.createJob(cmd.Context(), h, hf.deploy, dryRun, output)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&hf.file, "file", "f", "", "Helios job config (JSON) the flags are merged over")
	f.StringArrayVarP(&hf.ports, "port", "p", nil, "named port NAME=[IP:]INTERNAL[:EXTERNAL][/udp] (repeatable)")
	f.StringArrayVarP(&hf.registers, "register", "r", nil, "register a port as a service: SERVICE[/PROTO][=PORT] (repeatable)")
	f.StringArrayVar(&hf.env, "env", nil, "environment variable K=V (repeatable)")
	f.StringArrayVar(&hf.volumes, "volume", nil, "volume [SOURCE:]CONTAINER-PATH[:ro|rw]: a host path, a volume name, or a new volume (repeatable)")
	f.StringArrayVar(&hf.labels, "labels", nil, "container label K=V (repeatable)")
	f.StringArrayVarP(&hf.metadata, "metadata", "m", nil, "metadata K=V, kept as annotations (repeatable)")
	f.StringArrayVar(&hf.addCaps, "add-capability", nil, "Linux capability to add (repeatable)")
	f.StringArrayVar(&hf.dropCaps, "drop-capability", nil, "Linux capability to drop (repeatable)")
	f.StringSliceVar(&hf.deploy, "deploy", nil, "host to deploy the job to (repeatable, or comma-separated)")
	f.StringVar(&hf.httpCheck, "http-check", "", "HTTP health check on a named port: PORT:PATH")
	f.StringVar(&hf.tcpCheck, "tcp-check", "", "TCP health check on a named port")
	f.StringVar(&hf.execCheck, "exec-check", "", "health check command run in the container (split at spaces)")
	f.IntVar(&hf.gracePeriod, "grace-period", 0, "seconds between leaving discovery and stopping")
	f.StringVarP(&hf.expires, "expires", "e", "", "ISO-8601 time at which the job is undeployed")
	f.StringVar(&hf.hostname, "hostname", "", "container host name")
	f.StringVar(&hf.networkMode, "network-mode", "", "bridge, host or container:NAME")
	f.BoolVar(&dryRun, "dry-run", false, "check and report, write nothing; with -o, print the manifest without reaching etcd")
	f.StringVarP(&output, "output", "o", "", "print the Job as yaml or json instead of its id")
	return cmd
}

// job builds the Helios job the flags describe, over -f's.
func (hf *heliosFlags) job(id, image string, command []string, graceSet bool) (convert.HeliosJob, error) {
	var h convert.HeliosJob
	if hf.file != "" {
		b, err := readLimited(hf.file)
		if err != nil {
			return h, fmt.Errorf("-f %s: %v", hf.file, cleanPathError(err))
		}
		jobs, _, err := convert.ParseHeliosJobs(b)
		if err != nil {
			return h, fmt.Errorf("-f %s: %v", hf.file, err)
		}
		if len(jobs) != 1 {
			return h, fmt.Errorf("-f %s holds %d jobs: give one", hf.file, len(jobs))
		}
		h = jobs[0]
	}
	parts := strings.Split(id, ":")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return h, usagef("%q is not NAME:VERSION", id)
	}
	h.ID = id
	if image != "" {
		h.Image = image
	}
	if h.Image == "" {
		return h, usagef("create job needs an IMAGE, here or in -f")
	}
	if len(command) > 0 {
		h.Command = command
	}
	pairs := func(flag string, list []string, into *map[string]string) error {
		for _, kv := range list {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usagef("--%s %q: want KEY=VALUE", flag, kv)
			}
			if *into == nil {
				*into = map[string]string{}
			}
			(*into)[k] = v
		}
		return nil
	}
	if err := pairs("env", hf.env, &h.Env); err != nil {
		return h, err
	}
	if err := pairs("labels", hf.labels, &h.Labels); err != nil {
		return h, err
	}
	if err := pairs("metadata", hf.metadata, &h.Metadata); err != nil {
		return h, err
	}
	for _, p := range hf.ports {
		name, port, err := parseHeliosPort(p)
		if err != nil {
			return h, err
		}
		if h.Ports == nil {
			h.Ports = map[string]convert.HeliosPort{}
		}
		h.Ports[name] = port
	}
	for _, r := range hf.registers {
		svc, port, _ := strings.Cut(r, "=")
		if !strings.Contains(svc, "/") {
			svc += "/tcp"
		}
		if h.Registration == nil {
			h.Registration = map[string]convert.HeliosServicePorts{}
		}
		sp := convert.HeliosServicePorts{}
		if port != "" {
			sp.Ports = map[string]convert.HeliosServicePort{port: {}}
		} else if len(h.Ports) != 1 {
			return h, usagef("-r %s names no port, and the job has %d: write -r %s=PORT", r, len(h.Ports), r)
		}
		h.Registration[svc] = sp
	}
	for _, v := range hf.volumes {
		src, dst, ok := strings.Cut(v, ":")
		if !ok {
			src, dst = "", v
		}
		if h.Volumes == nil {
			h.Volumes = map[string]string{}
		}
		h.Volumes[dst] = src
	}
	checks := 0
	if hf.httpCheck != "" {
		port, p, ok := strings.Cut(hf.httpCheck, ":")
		if !ok {
			return h, usagef("--http-check %q: want PORT:PATH", hf.httpCheck)
		}
		h.HealthCheck = &convert.HeliosHealthCheck{Type: "http", Port: port, Path: p}
		checks++
	}
	if hf.tcpCheck != "" {
		h.HealthCheck = &convert.HeliosHealthCheck{Type: "tcp", Port: hf.tcpCheck}
		checks++
	}
	if hf.execCheck != "" {
		h.HealthCheck = &convert.HeliosHealthCheck{Type: "exec", Command: strings.Fields(hf.execCheck)}
		checks++
	}
	if checks > 1 {
		return h, usagef("give one of --http-check, --tcp-check and --exec-check")
	}
	if graceSet {
		g := hf.gracePeriod
		h.GracePeriod = &g
	}
	if hf.expires != "" {
		b, _ := json.Marshal(hf.expires)
		h.Expires = b
	}
	if hf.hostname != "" {
		h.Hostname = hf.hostname
	}
	if hf.networkMode != "" {
		h.NetworkMode = hf.networkMode
	}
	h.AddCapabilities = append(h.AddCapabilities, hf.addCaps...)
	h.DropCapabilities = append(h.DropCapabilities, hf.dropCaps...)
	return h, nil
}

// parseHeliosPort reads NAME=[IP:]INTERNAL[:EXTERNAL][/PROTO], as helios
// create -p does.
func parseHeliosPort(s string) (string, convert.HeliosPort, error) {
	var p convert.HeliosPort
	name, spec, ok := strings.Cut(s, "=")
	if !ok || name == "" || spec == "" {
		return "", p, usagef("-p %q: want NAME=[IP:]INTERNAL[:EXTERNAL][/udp]", s)
	}
	spec, p.Protocol, _ = strings.Cut(spec, "/")
	parts := strings.Split(spec, ":")
	if len(parts) == 3 || len(parts) == 2 && strings.Contains(parts[0], ".") {
		p.IP, parts = parts[0], parts[1:]
	}
	if len(parts) < 1 || len(parts) > 2 {
		return "", p, usagef("-p %q: want NAME=[IP:]INTERNAL[:EXTERNAL][/udp]", s)
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil {
		return "", p, usagef("-p %q: %q is not a port number", s, parts[0])
	}
	p.InternalPort = n
	if len(parts) == 2 {
		e, err := strconv.Atoi(parts[1])
		if err != nil {
			return "", p, usagef("-p %q: %q is not a port number", s, parts[1])
		}
		p.ExternalPort = &e
	}
	return name, p, nil
}

// refuseDropped turns the settings a create could not carry over into an
// error; notes go to standard error.
func (a *app) refuseDropped(what string, issues []convert.Issue) error {
	var lines []string
	for _, is := range issues {
		if is.Severity == convert.Dropped {
			lines = append(lines, is.Msg)
		} else {
			fmt.Fprintf(a.err, "note: %s\n", is.Msg)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return &problemsError{lines: lines, summary: fmt.Sprintf("%s: %d settings cannot be carried over (listed above): nothing was written", what, len(lines))}
}

func (a *app) createJob(ctx context.Context, h convert.HeliosJob, deploy []string, dryRun bool, output string) error {
	j, jobIssues := convert.HeliosToJob(h)
	issues := make([]convert.Issue, len(jobIssues))
	for i, is := range jobIssues {
		issues[i] = convert.Issue{Severity: is.Severity, Msg: is.Msg}
	}
	if err := a.refuseDropped("create job "+h.ID, issues); err != nil {
		return err
	}
	for _, host := range deploy {
		if msg := v1.ValidHostName(host); msg != "" {
			return usagef("--deploy: host %s", msg)
		}
		if !slices.ContainsFunc(j.Spec.Deployments, func(d v1.Deployment) bool { return d.Host == host }) {
			j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: host, Goal: v1.GoalStart})
		}
	}
	if dryRun && output != "" {
		return a.printManifest(j, output)
	}
	stored, err := a.storedObject(ctx, v1.KindJob, j.Metadata.Name)
	if err != nil {
		return err
	}
	if old, ok := stored.(*v1.Job); ok {
		candidate := j.DeepCopyObject().(*v1.Job)
		v1.Default(candidate)
		if old.Spec.Version == j.Spec.Version && v1.FullTemplateHash(&old.Spec.Container) != v1.FullTemplateHash(&candidate.Spec.Container) {
			return fmt.Errorf("job %s exists with another container template (%s): versions are immutable; create %s:NEWVERSION",
				versionID(old.Metadata.Name, old.Spec.Version, &old.Spec.Container, true), versionID(j.Metadata.Name, j.Spec.Version, &candidate.Spec.Container, true), j.Metadata.Name)
		}
		// A new version replaces the stored one where it runs.
		for _, d := range old.Spec.Deployments {
			if !slices.ContainsFunc(j.Spec.Deployments, func(n v1.Deployment) bool { return n.Host == d.Host }) {
				j.Spec.Deployments = append(j.Spec.Deployments, d)
			}
		}
		if j.Spec.HostSelector == nil {
			j.Spec.HostSelector = old.Spec.HostSelector
		}
		j.Metadata.Labels = old.Metadata.Labels
	}
	r, err := a.createApply(ctx, "create job "+h.ID, j, dryRun)
	if err != nil {
		return err
	}
	job := r.Object.(*v1.Job)
	if output != "" {
		return a.encodeDoc(output, job)
	}
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	fmt.Fprintf(a.out, "%s%s\n", jobID(job, true), suffix)
	if !dryRun && len(deploy) > 0 {
		st, err := a.connect(ctx)
		if err == nil {
			a.warnUnknownHosts(ctx, st, deploy)
			st.Close()
		}
	}
	return nil
}

// storedObject reads the stored object of kind and name, nil when there is
// none.
func (a *app) storedObject(ctx context.Context, kind, name string) (v1.Object, error) {
	st, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	o, err := store.GetObject(rctx, st, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return o, nil
}

// createApply writes one object through apply's path: decoded from its
// manifest, defaulted and validated with the stored objects, then
// store.Apply.
func (a *app) createApply(ctx context.Context, what string, o v1.Object, dryRun bool) (store.ApplyResult, error) {
	b, err := convert.Manifest([]convert.Object{{Object: o}}, false)
	if err != nil {
		return store.ApplyResult{}, err
	}
	p, err := a.prepareSources(ctx, []source{{what, b}}, nil, false, what)
	if err != nil {
		return store.ApplyResult{}, err
	}
	defer p.st.Close()
	rctx, cancel := a.withTimeout(ctx)
	defer cancel()
	results, err := store.Apply(rctx, p.st, []v1.Object{p.docs[0].Object}, store.ApplyOptions{DryRun: dryRun})
	if err != nil {
		return store.ApplyResult{}, storeErr(err)
	}
	return results[0], nil
}

// printManifest prints o as convert prints it: YAML, or a JSON List.
func (a *app) printManifest(o v1.Object, output string) error {
	b, err := convert.Manifest([]convert.Object{{Object: o}}, output == "json")
	if err != nil {
		return err
	}
	_, err = a.out.Write(b)
	return err
}

func (a *app) createUnitCommand() *cobra.Command {
	var image, description string
	var requires, wants, after []string
	var dryRun bool
	var output string
	var rf *convert.RunFlags
	cmd := &cobra.Command{
		Use:   "unit NAME --image IMAGE [docker run flags] [--dry-run -o yaml] [-- ARGS...]",
		Short: "Create a Unit from docker run's flags",
		Long: `create unit stores a Unit whose container is what docker run would run with
the same flags: -p, -v, --mount, -e, --env-file, -w, -u, --hostname,
--entrypoint, -l, --restart (no restart without it, as docker run),
--health-cmd and the other --health-* flags, --memory, --cpus, --network,
--stop-signal, --stop-timeout, --pull, --privileged, --cap-add, --cap-drop,
--read-only; --link NAME makes the Unit require the Unit NAME. The words
after -- are the arguments given to the image's entrypoint. A flag berth
cannot carry over is refused with the reason, and nothing is written.

Creating a Unit that exists with the same spec is unchanged; with another
spec it is refused: change it with apply.`,
		Example: `  applyctl create unit todo --image berth/todo:latest -p 8000:8000 -v /var/lib/berth-volumes/todo:/data -e TODO_DATA=/data/todo.json --restart always
  applyctl create unit web --image berth/testapp --restart on-failure --dry-run -o yaml -- --listen :8080`,
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			n := len(args)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				n = d
			}
			if n != 1 {
				return errors.New("create unit takes NAME, then -- and the arguments")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := createOutput(output); err != nil {
				return err
			}
			if image == "" {
				return usagef("create unit needs --image")
			}
			if msg := v1.ValidName(args[0]); msg != "" {
				return usagef("unit name %s", msg)
			}
			var rest []string
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				rest = args[d:]
			}
			run := rf.Run(image, rest, convert.RunContext{
				Lookup: func(k string) (string, bool) { v := a.getenv(k); return v, v != "" },
				Host:   convert.Host{ReadFile: readLimited, Stat: os.Stat},
			})
			if err := a.refuseDropped("create unit "+args[0], run.Issues); err != nil {
				return err
			}
			u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}, Metadata: v1.ObjectMeta{Name: args[0]}}
			u.Spec.Description = description
			u.Spec.Container = run.Template
			u.Spec.Restart.Policy = v1.RestartNever
			if run.Restart != "" {
				u.Spec.Restart.Policy = run.Restart
			}
			u.Spec.Requires = append(requires, run.Links...)
			u.Spec.Wants, u.Spec.After = wants, after
			return a.createUnit(cmd.Context(), u, dryRun, output)
		},
	}
	cmd.InitDefaultHelpFlag()
	f := cmd.Flags()
	f.StringVar(&image, "image", "", "the image to run")
	f.StringVar(&description, "description", "", "what the unit is, as systemd's Description=")
	f.StringArrayVar(&requires, "requires", nil, "unit this one requires (repeatable)")
	f.StringArrayVar(&wants, "wants", nil, "unit this one wants (repeatable)")
	f.StringArrayVar(&after, "after", nil, "unit this one starts after (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "check and report, write nothing; with -o, print the manifest without reaching etcd")
	f.StringVarP(&output, "output", "o", "", "print the Unit as yaml or json")
	rf = convert.AddRunFlags(f)
	return cmd
}

func (a *app) createUnit(ctx context.Context, u *v1.Unit, dryRun bool, output string) error {
	if dryRun && output != "" {
		return a.printManifest(u, output)
	}
	stored, err := a.storedObject(ctx, v1.KindUnit, u.Metadata.Name)
	if err != nil {
		return err
	}
	if old, ok := stored.(*v1.Unit); ok {
		candidate := u.DeepCopyObject().(*v1.Unit)
		v1.Default(candidate)
		// The goal and the restart annotation are the user's verbs' to change.
		candidate.Spec.Goal = old.Spec.Goal
		if !reflect.DeepEqual(old.Spec, candidate.Spec) {
			return fmt.Errorf("unit/%s exists with another spec: change it with apply (applyctl get unit %s -o yaml shows it)", u.Metadata.Name, u.Metadata.Name)
		}
		u.Spec.Goal = old.Spec.Goal
		u.Metadata.Labels, u.Metadata.Annotations = old.Metadata.Labels, old.Metadata.Annotations
	}
	r, err := a.createApply(ctx, "create unit "+u.Metadata.Name, u, dryRun)
	if err != nil {
		return err
	}
	if output != "" {
		return a.encodeDoc(output, r.Object)
	}
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	fmt.Fprintf(a.out, "%s %s%s\n", ref(r.Kind, r.Name), r.Action, suffix)
	return nil
}
