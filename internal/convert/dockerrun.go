package convert

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	v1 "berth.dev/berth/api/v1"
)

// docker run's flags, under Docker's own names (docker/cli's
// cli/command/container/opts.go and run.go), so that a command line parses
// as Docker parses it. Flags without a berth equivalent are still known,
// so that they are reported by name instead of breaking the parse.

// runValueFlags take a value; each may be given more than once. The
// shorthand follows the name after a comma.
var runValueFlags = []string{
	"add-host", "annotation", "attach,a", "blkio-weight", "blkio-weight-device",
	"cap-add", "cap-drop", "cgroup-parent", "cgroupns", "cidfile", "cpu-count",
	"cpu-percent", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime",
	"cpu-shares,c", "cpus", "cpuset-cpus", "cpuset-mems", "credentialspec",
	"detach-keys", "device", "device-cgroup-rule", "device-read-bps",
	"device-read-iops", "device-write-bps", "device-write-iops", "dns",
	"dns-opt", "dns-option", "dns-search", "domainname", "entrypoint", "env,e",
	"env-file", "expose", "gpus", "group-add", "health-cmd", "health-interval",
	"health-retries", "health-start-interval", "health-start-period",
	"health-timeout", "hostname,h", "io-maxbandwidth", "io-maxiops", "ip", "ip6",
	"ipc", "isolation", "kernel-memory", "label,l", "label-file", "link",
	"link-local-ip", "log-driver", "log-opt", "mac-address", "memory,m",
	"memory-reservation", "memory-swap", "memory-swappiness", "mount", "name",
	"net", "net-alias", "network", "network-alias", "oom-score-adj", "pid",
	"pids-limit", "platform", "publish,p", "pull", "restart", "runtime",
	"security-opt", "shm-size", "stop-signal", "stop-timeout", "storage-opt",
	"sysctl", "tmpfs", "ulimit", "user,u", "userns", "uts", "volume,v",
	"volume-driver", "volumes-from", "workdir,w",
}

// runBoolFlags are docker run's switches.
var runBoolFlags = []string{
	"detach,d", "disable-content-trust", "init", "interactive,i",
	"no-healthcheck", "oom-kill-disable", "privileged", "publish-all,P",
	"quiet,q", "read-only", "rm", "sig-proxy", "tty,t", "use-api-socket",
}

// runImplied are flags whose effect berth has by itself: it runs every
// container detached, removes it itself, reaches every port of a container
// on its network, and pulls as pullPolicy says.
var runImplied = map[string]bool{
	"detach": true, "rm": true, "sig-proxy": true, "detach-keys": true,
	"attach": true, "quiet": true, "cidfile": true, "expose": true,
	"disable-content-trust": true,
}

// runReasons explain, for flags berth has no field for, what to do instead.
var runReasons = map[string]string{
	"interactive":  "berth does not keep a container's standard input open",
	"tty":          "berth does not give containers a terminal",
	"tmpfs":        "berth has no tmpfs mounts; use a named volume",
	"log-driver":   "containers log to the engine's default driver, which applyctl logs reads",
	"log-opt":      "containers log to the engine's default driver, which applyctl logs reads",
	"init":         "berth runs the image's entrypoint as PID 1",
	"publish-all":  "berth publishes the ports listed; list them with -p",
	"volumes-from": "berth mounts volumes by name; mount the same named volume",
	"add-host":     "berth does not edit /etc/hosts; containers find each other by unit name on berth's network",
	"dns":          "containers use the engine's resolver (controller --container-dns)",
	"dns-search":   "containers use the engine's resolver (controller --container-dns)",
	"dns-option":   "containers use the engine's resolver (controller --container-dns)",
	"dns-opt":      "containers use the engine's resolver (controller --container-dns)",
}

// RunFlags holds docker run's flags registered on a FlagSet.
type RunFlags struct {
	fs     *pflag.FlagSet
	values map[string]*[]string
	bools  map[string]*bool
}

// AddRunFlags registers docker run's flags on fs. Flags whose name fs has
// already, or that skip lists, are left out; so is a shorthand fs has (as
// -h, which applyctl keeps for --help).
func AddRunFlags(fs *pflag.FlagSet, skip ...string) *RunFlags {
	r := &RunFlags{fs: fs, values: map[string]*[]string{}, bools: map[string]*bool{}}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	split := func(spec string) (string, string) {
		name, short, _ := strings.Cut(spec, ",")
		if short != "" && fs.ShorthandLookup(short) != nil {
			short = ""
		}
		return name, short
	}
	for _, spec := range runValueFlags {
		name, short := split(spec)
		if skipped[name] || fs.Lookup(name) != nil {
			continue
		}
		v := new([]string)
		r.values[name] = v
		fs.StringArrayVarP(v, name, short, nil, "docker run's --"+name)
	}
	for _, spec := range runBoolFlags {
		name, short := split(spec)
		if skipped[name] || fs.Lookup(name) != nil {
			continue
		}
		v := new(bool)
		r.bools[name] = v
		fs.BoolVarP(v, name, short, false, "docker run's --"+name)
	}
	return r
}

// Run is a docker run command line read into berth's terms.
type Run struct {
	// Name is --name, "" when not given.
	Name     string
	Template v1.ContainerTemplate
	// Restart is --restart, "" when not given.
	Restart v1.RestartPolicyType
	// Links are the containers --link names, without aliases.
	Links []string
	// Detach is -d: docker run returns once the container started.
	Detach bool
	// Issues are the flags not carried over, or carried over differently.
	Issues []Issue
}

// Issue is a problem with one part of a command line: Msg starts with the
// part as written.
type Issue struct {
	Severity Severity
	Msg      string
}

// RunContext is what a docker run command line refers to outside itself.
type RunContext struct {
	// Lookup reads the environment docker run runs in (-e NAME without a
	// value copies it); nil means an empty environment.
	Lookup func(string) (string, bool)
	Host   Host
}

// ParseDockerRun reads the arguments of docker run (after "run"): flags,
// the image, then the command's arguments, as Docker parses them.
func ParseDockerRun(args []string, rc RunContext) (*Run, error) {
	fs := pflag.NewFlagSet("docker run", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	rf := AddRunFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errors.New("docker run: --help is not a container")
		}
		return nil, fmt.Errorf("docker run: %v", err)
	}
	if fs.NArg() == 0 {
		return nil, errors.New("docker run: no image")
	}
	return rf.Run(fs.Arg(0), fs.Args()[1:], rc), nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Run reads the flags as parsed into a container template of image running
// args (docker run's command after the image).
func (r *RunFlags) Run(image string, args []string, rc RunContext) *Run {
	out := &Run{Template: v1.ContainerTemplate{Image: image, Args: append([]string(nil), args...)}}
	t := &out.Template
	issue := func(sev Severity, format string, a ...any) {
		out.Issues = append(out.Issues, Issue{sev, fmt.Sprintf(format, a...)})
	}
	drop := func(format string, a ...any) { issue(Dropped, format, a...) }
	vals := func(name string) []string {
		if v := r.values[name]; v != nil {
			return *v
		}
		return nil
	}
	last := func(name string) string {
		v := vals(name)
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	set := func(name string) bool {
		f := r.fs.Lookup(name)
		return f != nil && f.Changed && (r.values[name] != nil || r.bools[name] != nil)
	}
	env := map[string]string{}
	var envOrder []string
	setEnv := func(k, v string) {
		if _, ok := env[k]; !ok {
			envOrder = append(envOrder, k)
		}
		env[k] = v
	}
	for _, f := range vals("env-file") {
		b, err := rc.Host.readFile(f)
		if err != nil {
			drop("--env-file %s cannot be read here (%v): its variables are not converted; list them with -e", f, unwrapPath(err))
			continue
		}
		for _, kv := range parseEnvFile(b) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				if val, found := lookup(rc, k); found {
					setEnv(k, val)
				}
				continue
			}
			setEnv(k, v)
		}
		issue(Note, "--env-file %s: its values are written into the manifest, which etcd stores; keep secrets in files with env valueFrom.file", f)
	}
	for _, e := range vals("env") {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			val, found := lookup(rc, k)
			if !found {
				// docker run leaves out a variable its environment lacks.
				continue
			}
			v = val
		}
		if k == "" {
			drop("-e %s: a variable needs a name", e)
			continue
		}
		setEnv(k, v)
	}
	for _, k := range envOrder {
		t.Env = append(t.Env, v1.EnvVar{Name: k, Value: env[k]})
	}

	out.Name = last("name")
	out.Detach = r.bools["detach"] != nil && *r.bools["detach"]
	for _, p := range vals("publish") {
		specs, err := types.ParsePortConfig(p)
		if err != nil {
			drop("-p %s: %v", p, err)
			continue
		}
		for _, s := range specs {
			port, problem := portFrom(s)
			if problem != "" {
				drop("-p %s: %s", p, problem)
				continue
			}
			t.Ports = append(t.Ports, port)
		}
	}
	named := func(s string) string { return s }
	owner := out.Name
	if owner == "" {
		owner = image
	}
	for _, v := range vals("volume") {
		spec, err := format.ParseVolume(v)
		if err != nil {
			drop("-v %s: %v", v, err)
			continue
		}
		if spec.Type == types.VolumeTypeBind && !strings.HasPrefix(spec.Source, "/") {
			// docker run takes a source that is not absolute as a volume name.
			spec.Type = types.VolumeTypeVolume
		}
		vol, problem := volumeFrom(spec, rc.Host, named, anonymousVolume(owner, spec.Target))
		if problem != "" {
			drop("-v %s: %s", v, problem)
			continue
		}
		if spec.Source == "" {
			issue(Note, "-v %s: the anonymous volume becomes the named volume %s, kept when the container is recreated", v, vol.Name)
		}
		t.Volumes = append(t.Volumes, vol)
	}
	for _, m := range vals("mount") {
		spec, err := parseMount(m)
		if err != nil {
			drop("--mount %s: %v", m, err)
			continue
		}
		vol, problem := volumeFrom(spec, rc.Host, named, anonymousVolume(owner, spec.Target))
		if problem != "" {
			drop("--mount %s: %s", m, problem)
			continue
		}
		t.Volumes = append(t.Volumes, vol)
	}
	t.WorkingDir = last("workdir")
	t.User = last("user")
	t.Hostname = last("hostname")
	if e := vals("entrypoint"); len(e) > 0 {
		if ep := e[len(e)-1]; ep == "" {
			drop("--entrypoint \"\": berth cannot clear the image's entrypoint; name the program with --entrypoint")
		} else {
			t.Command = []string{ep}
		}
	}
	for _, l := range vals("label") {
		k, v, _ := strings.Cut(l, "=")
		if msg := validLabel(k, v); msg != "" {
			drop("--label %s: %s", l, msg)
			continue
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = v
	}
	if s := last("stop-signal"); s != "" {
		if _, err := v1.ParseSignal(s); err != nil {
			drop("--stop-signal %s: %v", s, err)
		} else {
			t.StopSignal = s
		}
	}
	if s := last("stop-timeout"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 0 {
			drop("--stop-timeout %s: not a number of seconds", s)
		} else {
			t.StopTimeout = dur(v1.D(time.Duration(n) * time.Second))
		}
	}
	if s := last("memory"); s != "" {
		if b, err := units.RAMInBytes(s); err != nil || b <= 0 {
			drop("--memory %s: not a size such as 512m or 1g", s)
		} else {
			t.Resources.Memory = quantity(b)
		}
	}
	if s := last("cpus"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err != nil || f <= 0 {
			drop("--cpus %s: not a number of CPUs", s)
		} else {
			t.Resources.CPUs = cpus(f)
		}
	}
	switch p := last("pull"); p {
	case "":
	case "always":
		t.PullPolicy = v1.PullAlways
	case "missing":
		t.PullPolicy = v1.PullIfNotPresent
	case "never":
		t.PullPolicy = v1.PullNever
	default:
		drop("--pull %s: use always, missing or never", p)
	}
	if s := last("restart"); s != "" {
		policy, problem := restartFrom(s)
		if problem != "" {
			drop("--%s", problem)
		}
		out.Restart = policy
	}
	r.security(out, vals, issue)
	r.network(out, vals, last, issue)
	r.health(out, last, set, issue)

	// Every other flag given: implied, or not carried over.
	handled := map[string]bool{
		"env": true, "env-file": true, "name": true, "publish": true, "volume": true,
		"mount": true, "workdir": true, "user": true, "hostname": true, "entrypoint": true,
		"label": true, "stop-signal": true, "stop-timeout": true, "memory": true, "cpus": true,
		"pull": true, "restart": true, "privileged": true, "cap-add": true, "cap-drop": true,
		"read-only": true, "network": true, "net": true, "link": true, "network-alias": true,
		"net-alias": true, "health-cmd": true, "health-interval": true, "health-timeout": true,
		"health-retries": true, "health-start-period": true, "no-healthcheck": true,
		"health-start-interval": true, "security-opt": true,
	}
	var rest []string
	r.fs.Visit(func(f *pflag.Flag) {
		if (r.values[f.Name] == nil && r.bools[f.Name] == nil) || handled[f.Name] || runImplied[f.Name] {
			return
		}
		if b := r.bools[f.Name]; b != nil && !*b && f.Name != "sig-proxy" {
			return // --flag=false asks for the default
		}
		rest = append(rest, f.Name)
	})
	sort.Strings(rest)
	for _, name := range rest {
		written := "--" + name
		if v := r.values[name]; v != nil {
			written += " " + strings.Join(*v, " --"+name+" ")
		}
		reason := runReasons[name]
		if reason == "" {
			reason = "berth has no such setting"
		}
		drop("%s: not converted: %s", written, reason)
	}
	return out
}

func (r *RunFlags) security(out *Run, vals func(string) []string, issue func(Severity, string, ...any)) {
	t := &out.Template
	sc := &v1.SecurityContext{}
	if b := r.bools["privileged"]; b != nil && *b {
		sc.Privileged = true
	}
	if b := r.bools["read-only"]; b != nil && *b {
		sc.ReadOnlyRootFilesystem = true
	}
	sc.Capabilities = capabilities(vals("cap-add"), vals("cap-drop"), func(_ bool, name string) {
		issue(Dropped, "capability %s: not a Linux capability", name)
	})
	for _, o := range vals("security-opt") {
		switch o {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
			// berth's default.
		case "no-new-privileges:false", "no-new-privileges=false":
			sc.AllowPrivilegeEscalation = new(bool)
			*sc.AllowPrivilegeEscalation = true
		default:
			issue(Dropped, "--security-opt %s: not converted: berth sets no-new-privileges (securityContext.allowPrivilegeEscalation) and nothing else", o)
		}
	}
	if *sc != (v1.SecurityContext{}) {
		t.SecurityContext = sc
	}
}

func (r *RunFlags) network(out *Run, vals func(string) []string, last func(string) string, issue func(Severity, string, ...any)) {
	t := &out.Template
	nets := append(vals("network"), vals("net")...)
	for i, n := range nets {
		switch {
		case n == "host" || n == "none":
			t.NetworkMode = n
		case strings.HasPrefix(n, "container:"):
			t.NetworkMode = n
		case n == "bridge" || n == "default":
			// berth's network is a bridge network.
		default:
			if i == 0 {
				issue(Note, "--network %s: containers join berth's network, where they reach each other by unit name", n)
			} else {
				issue(Dropped, "--network %s: not converted: a container joins one network, berth's", n)
			}
		}
	}
	for _, a := range append(vals("network-alias"), vals("net-alias")...) {
		issue(Dropped, "--network-alias %s: not converted: a container is reachable by its unit name only", a)
	}
	for _, l := range vals("link") {
		target, alias, _ := strings.Cut(l, ":")
		target = strings.TrimPrefix(target, "/")
		out.Links = append(out.Links, target)
		if alias != "" && alias != target {
			issue(Dropped, "--link %s: the alias %s is not converted: the container is reachable by its unit name", l, alias)
		}
	}
}

func (r *RunFlags) health(out *Run, last func(string) string, set func(string) bool, issue func(Severity, string, ...any)) {
	if b := r.bools["no-healthcheck"]; b != nil && *b {
		return // berth does not run the image's HEALTHCHECK either
	}
	cmd := last("health-cmd")
	if cmd == "" {
		for _, f := range []string{"health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval"} {
			if set(f) {
				issue(Dropped, "--%s %s: not converted: berth does not run the image's HEALTHCHECK; give the check with --health-cmd", f, last(f))
			}
		}
		return
	}
	durFlag := func(name string) *time.Duration {
		s := last(name)
		if s == "" {
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			issue(Dropped, "--%s %s: not a duration such as 30s", name, s)
			return nil
		}
		return &d
	}
	var retries *int
	if s := last("health-retries"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 0 {
			issue(Dropped, "--health-retries %s: not a number", s)
		} else {
			retries = &n
		}
	}
	if s := last("health-start-interval"); s != "" {
		issue(Dropped, "--health-start-interval %s: not converted: berth checks at the same interval during the start period", s)
	}
	out.Template.HealthCheck = healthCheck([]string{"/bin/sh", "-c", cmd},
		durFlag("health-interval"), durFlag("health-timeout"), durFlag("health-start-period"), retries)
}

func lookup(rc RunContext, k string) (string, bool) {
	if rc.Lookup == nil {
		return "", false
	}
	return rc.Lookup(k)
}

// parseEnvFile reads Docker's env file format: NAME=value or NAME lines,
// '#' comments and blank lines skipped, values taken as written.
func parseEnvFile(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if ok {
			out = append(out, k+"="+v)
		} else {
			out = append(out, k)
		}
	}
	return out
}

// parseMount reads docker run's --mount: comma-separated key=value fields
// (type, source|src, target|destination|dst, readonly|ro, ...).
func parseMount(s string) (types.ServiceVolumeConfig, error) {
	out := types.ServiceVolumeConfig{Type: types.VolumeTypeVolume}
	fields, err := csv.NewReader(strings.NewReader(s)).Read()
	if err != nil {
		return out, fmt.Errorf("not comma-separated key=value fields: %v", err)
	}
	for _, f := range fields {
		k, v, hasValue := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "type":
			out.Type = v
		case "source", "src":
			out.Source = v
		case "target", "destination", "dst":
			out.Target = v
		case "readonly", "ro":
			if !hasValue {
				out.ReadOnly = true
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return out, fmt.Errorf("readonly=%s is not true or false", v)
			}
			out.ReadOnly = b
		case "bind-propagation":
			out.Bind = &types.ServiceVolumeBind{Propagation: v}
		case "volume-nocopy":
			out.Volume = &types.ServiceVolumeVolume{NoCopy: !hasValue || v == "true" || v == "1"}
		case "volume-subpath":
			out.Volume = &types.ServiceVolumeVolume{Subpath: v}
		default:
			return out, fmt.Errorf("field %s: not converted", k)
		}
	}
	if out.Type == types.VolumeTypeBind {
		if out.Bind == nil {
			out.Bind = &types.ServiceVolumeBind{}
		}
		// --mount type=bind never creates a missing host path.
		out.Bind.CreateHostPath = false
	}
	if out.Target == "" {
		return out, errors.New("no target")
	}
	return out, nil
}
