package convert

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"

	v1 "berth.dev/berth/api/v1"
)

// MaxUnitFileBytes is the largest unit file read.
const MaxUnitFileBytes = 1 << 20

// File is one input file: its name as the user wrote it and its content.
type File struct {
	Name string
	Data []byte
}

// Systemd converts systemd unit files whose ExecStart= runs docker run into
// Units, one per file, with Requires=, Wants=, After= and Before= between
// the files converted together turned into dependencies between the Units.
// See the package documentation for what each directive becomes.
func Systemd(files []File, host Host) Result {
	var res Result
	var units []*sdUnit
	for _, f := range files {
		u, findings := parseUnitFile(f, host)
		res.Findings = append(res.Findings, findings...)
		if u != nil {
			units = append(units, u)
		}
	}
	res.Findings = append(res.Findings, linkUnits(units)...)
	for _, u := range units {
		res.Objects = append(res.Objects, Object{Source: u.file, Object: u.unit})
	}
	fit(&res)
	return res
}

// sdUnit is one unit file as read, before the units are linked together.
type sdUnit struct {
	file     string // as given
	unitName string // systemd's name: todo.service
	unit     *v1.Unit
	// container is docker run's --name.
	container string
	oneshot   bool
	// deps are the dependencies as written, by directive.
	deps  []sdDep
	links []string
}

type sdDep struct {
	directive string // Requires, Wants, After, Before, BindsTo
	target    string // systemd unit name, suffixed
	line      int
}

// sdOption is one directive with its line.
type sdOption struct {
	section, name, value string
	line                 int
}

// unitTargetsImplied are units berth stands for or needs no ordering
// against: the engine, and systemd's targets.
func unitImplied(name string) bool {
	switch name {
	case "docker.service", "docker.socket", "containerd.service":
		return true
	}
	return strings.HasSuffix(name, ".target")
}

func parseUnitFile(f File, host Host) (*sdUnit, []Finding) {
	var findings []Finding
	at := func(line int, sev Severity, format string, a ...any) {
		findings = append(findings, Finding{File: f.Name, Line: line, Severity: sev, Msg: fmt.Sprintf(format, a...)})
	}
	if len(f.Data) > MaxUnitFileBytes {
		at(0, Dropped, "the file is %d bytes, more than the limit of %d: not converted", len(f.Data), MaxUnitFileBytes)
		return nil, findings
	}
	opts, err := unit.DeserializeOptions(bytes.NewReader(f.Data))
	if err != nil {
		at(0, Dropped, "not a unit file (%v): not converted", err)
		return nil, findings
	}
	lines := optionLines(f.Data)
	seen := map[string]int{}
	var all []sdOption
	for _, o := range opts {
		k := o.Section + "\x00" + o.Name
		line := 0
		if l := lines[k]; seen[k] < len(l) {
			line = l[seen[k]]
		}
		seen[k]++
		v := strings.ReplaceAll(o.Value, "\\\n", " ")
		all = append(all, sdOption{o.Section, o.Name, strings.TrimSpace(v), line})
	}

	base := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
	unitName := base
	if !strings.Contains(unitName, ".") {
		unitName += ".service"
	}
	stem := strings.TrimSuffix(unitName, path.Ext(unitName))
	prefix, instance, templated := strings.Cut(stem, "@")
	if templated && instance == "" {
		at(0, Dropped, "%s is a template unit: not converted; convert an instance, named as %s@NAME.service", base, prefix)
		return nil, findings
	}
	spec := func(c byte) (string, bool) {
		switch c {
		case '%':
			return "%", true
		case 'n':
			return unitName, true
		case 'N':
			return stem, true
		case 'p':
			return prefix, true
		case 'i', 'I':
			return instance, true
		}
		return "", false
	}

	u := &sdUnit{file: f.Name, unitName: unitName}
	c := &sdConverter{u: u, at: at, spec: spec, host: host, env: map[string]string{}}
	// Environment= and EnvironmentFile= first: ExecStart= uses them
	// wherever they are written.
	for _, o := range all {
		if o.section == "Service" && (o.name == "Environment" || o.name == "EnvironmentFile") {
			c.environment(o)
		}
	}
	for _, o := range all {
		c.option(o)
	}
	if c.start == nil {
		if c.startErr == "" {
			at(0, Dropped, "%s has no ExecStart= that runs docker run: not converted", base)
		}
		return nil, findings
	}
	name := objectName(u.container)
	if name == "" {
		name = objectName(strings.ReplaceAll(stem, "@", "-"))
	}
	if msg := v1.ValidName(name); msg != "" {
		at(c.startLine, Dropped, "no unit name can be made of %s: not converted", base)
		return nil, findings
	}
	un := newUnit(name)
	un.Spec.Description = c.description
	un.Spec.Container = c.start.Template
	un.Spec.Restart = c.restart()
	if c.global || len(c.selector) > 0 {
		un.Spec.Placement = v1.Placement{Global: c.global, HostSelector: c.selector}
	}
	if c.pull && un.Spec.Container.PullPolicy == "" {
		un.Spec.Container.PullPolicy = v1.PullAlways
	}
	if c.stopTimeout != nil && un.Spec.Container.StopTimeout == nil {
		un.Spec.Container.StopTimeout = c.stopTimeout
	}
	if u.container != "" && objectName(u.container) != u.container {
		at(c.startLine, Note, "docker run --name %s: the unit is named %s, and reachable by that name on berth's network", u.container, name)
	}
	u.unit = un
	// A oneshot unit whose docker run detaches leaves a service running.
	u.oneshot = c.oneshot && !c.start.Detach
	u.links = c.start.Links
	return u, findings
}

// optionLines maps section and directive to the lines they are written on,
// in order, so that each option go-systemd returns gets its line.
func optionLines(data []byte) map[string][]int {
	out := map[string][]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxUnitFileBytes+1)
	section := ""
	continued := false
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimRight(sc.Text(), " \t\r")
		line := strings.TrimSpace(raw)
		wasContinued := continued
		continued = strings.HasSuffix(raw, "\\")
		if wasContinued || line == "" || line[0] == '#' || line[0] == ';' {
			if !wasContinued {
				continued = false
			}
			continue
		}
		if line[0] == '[' {
			if end := strings.IndexByte(line, ']'); end > 0 {
				section = line[1:end]
			}
			continued = false
			continue
		}
		if name, _, ok := strings.Cut(line, "="); ok {
			k := section + "\x00" + strings.TrimSpace(name)
			out[k] = append(out[k], n)
		}
	}
	return out
}

// sdConverter carries one unit file's directives into a Unit.
type sdConverter struct {
	u    *sdUnit
	at   func(line int, sev Severity, format string, a ...any)
	spec func(byte) (string, bool)
	host Host
	env  map[string]string

	description string
	start       *Run
	startLine   int
	startErr    string
	oneshot     bool
	global      bool
	selector    map[string]string
	pull        bool
	stopTimeout *v1.Duration

	restartSet                bool
	restartPolicy             v1.RestartPolicyType
	restartSec, restartMax    *time.Duration
	limitBurst, limitInterval *int64 // interval in ns
	restartLine               int
}

// written is the directive as written, cut to a readable length.
func (c *sdConverter) written(o sdOption) string {
	v := strings.Join(strings.Fields(o.value), " ")
	if len(v) > 72 {
		v = v[:69] + "..."
	}
	return o.name + "=" + v
}

func (c *sdConverter) drop(o sdOption, reason string) {
	c.at(o.line, Dropped, "%s %s", c.written(o), reason)
}

func (c *sdConverter) environment(o sdOption) {
	switch o.name {
	case "Environment":
		words, err := splitCommand(o.value, c.spec)
		if err != nil {
			c.drop(o, fmt.Sprintf("cannot be read (%v): not converted", err))
			return
		}
		for _, w := range words {
			if k, v, ok := strings.Cut(w, "="); ok && k != "" {
				c.env[k] = v
			}
		}
	case "EnvironmentFile":
		name := o.value
		optional := strings.HasPrefix(name, "-")
		name = strings.TrimPrefix(name, "-")
		b, err := c.host.readFile(name)
		if err != nil {
			if !optional {
				c.drop(o, fmt.Sprintf("cannot be read here (%v): the variables it sets are not known", unwrapPath(err)))
			}
			return
		}
		for _, kv := range parseEnvFile(b) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				c.env[k] = unquote(strings.TrimSpace(v))
			}
		}
	}
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func (c *sdConverter) lookup(k string) (string, bool) {
	v, ok := c.env[k]
	return v, ok
}

// command splits and expands an Exec*= line into argv, without systemd's
// prefixes; a problem is reported and nil returned.
func (c *sdConverter) command(o sdOption) []string {
	v := strings.TrimLeft(o.value, "-@:+!")
	words, err := splitCommand(v, c.spec)
	if err != nil {
		c.drop(o, fmt.Sprintf("cannot be read (%v): not converted", err))
		return nil
	}
	argv, missing := expandEnv(words, c.lookup)
	for _, m := range slices.Compact(slices.Sorted(slices.Values(missing))) {
		c.at(o.line, Dropped, "%s uses $%s, which the unit does not set (Environment=, EnvironmentFile=): expanded as empty", c.written(o), m)
	}
	return argv
}

// dockerArgs returns the arguments of a docker command line after the
// binary and its global flags: ["run", ...], or nil when argv does not run
// docker. A command run through sh -c is read when it is one simple
// command.
func (c *sdConverter) dockerArgs(o sdOption, argv []string) []string {
	if len(argv) == 3 && (path.Base(argv[0]) == "sh" || path.Base(argv[0]) == "bash") && argv[1] == "-c" {
		if strings.ContainsAny(argv[2], ";|&`$()<>\n") {
			return nil
		}
		inner, err := splitCommand(argv[2], nil)
		if err != nil || len(inner) == 0 {
			return nil
		}
		if inner[0] == "exec" {
			inner = inner[1:]
		}
		argv = inner
	}
	if len(argv) > 1 && path.Base(argv[0]) == "env" {
		argv = argv[1:]
	}
	if len(argv) == 0 || path.Base(argv[0]) != "docker" {
		return nil
	}
	args := argv[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		flag := args[0]
		args = args[1:]
		name, _, hasValue := strings.Cut(flag, "=")
		switch name {
		case "-H", "--host", "-c", "--context":
			c.at(o.line, Dropped, "%s: docker %s: not converted: berth runs the container on the engine of the host it places it on", c.written(o), flag)
		case "--config", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey":
		default:
			continue // -D, --debug, --tls, --tlsverify
		}
		if !hasValue && len(args) > 0 {
			args = args[1:]
		}
	}
	if len(args) > 0 && args[0] == "container" {
		args = args[1:]
	}
	if len(args) == 0 {
		return []string{""}
	}
	return args
}

func (c *sdConverter) option(o sdOption) {
	switch o.section {
	case "Unit":
		c.unitOption(o)
	case "Service":
		c.serviceOption(o)
	case "Install":
		switch o.name {
		case "WantedBy", "RequiredBy":
			for _, t := range strings.Fields(o.value) {
				if t != "multi-user.target" && t != "default.target" && t != "graphical.target" {
					c.drop(o, fmt.Sprintf("is not converted: a unit starts when its goal is start, not with %s", t))
					return
				}
			}
		case "Alias", "Also", "DefaultInstance":
		default:
			c.drop(o, "is not converted")
		}
	case "X-Fleet":
		c.fleetOption(o)
	default:
		c.drop(o, fmt.Sprintf("in [%s] is not converted", o.section))
	}
}

func (c *sdConverter) unitOption(o sdOption) {
	switch o.name {
	case "Description":
		c.description = expandSpecifiers(o.value, c.spec)
	case "Documentation", "DefaultDependencies", "SourcePath":
	case "Requires", "Wants", "After", "Before", "BindsTo":
		for _, t := range strings.Fields(o.value) {
			if !strings.Contains(t, ".") {
				t += ".service"
			}
			c.u.deps = append(c.u.deps, sdDep{o.name, t, o.line})
		}
	case "StartLimitIntervalSec", "StartLimitInterval":
		c.limit(o, false)
	case "StartLimitBurst":
		c.limit(o, true)
	case "PartOf", "Requisite", "Conflicts", "OnFailure", "OnSuccess", "Upholds", "PropagatesReloadTo", "ReloadPropagatedFrom", "JoinsNamespaceOf":
		c.drop(o, "is not converted: berth's dependencies are requires, wants and after")
	default:
		if strings.HasPrefix(o.name, "Condition") || strings.HasPrefix(o.name, "Assert") {
			c.drop(o, "is not converted: berth starts a unit whatever the host's state; use placement.hostSelector to choose hosts")
			return
		}
		c.drop(o, "is not converted")
	}
}

// clientOnly are [Service] directives that shape the docker client
// process, not the container it asks the engine to run.
var clientOnly = map[string]bool{
	"User": true, "Group": true, "WorkingDirectory": true, "SyslogIdentifier": true,
	"StandardOutput": true, "StandardError": true, "StandardInput": true,
	"KillMode": true, "KillSignal": true, "SendSIGKILL": true, "FinalKillSignal": true,
	"TimeoutStopSec": true, "TimeoutSec": true, "PIDFile": true, "GuessMainPID": true,
	"NotifyAccess": true, "Slice": true, "LimitNOFILE": true, "Nice": true,
	"RemainAfterExit": true, "SyslogLevel": true, "SyslogFacility": true,
	"Environment": true, "EnvironmentFile": true, "DynamicUser": true,
}

func (c *sdConverter) serviceOption(o sdOption) {
	switch o.name {
	case "ExecStart":
		c.execStart(o)
	case "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload", "ExecCondition":
		c.hook(o)
	case "Type":
		switch o.value {
		case "simple", "exec", "forking":
		case "oneshot":
			c.oneshot = true
		default:
			c.drop(o, "is not converted: a unit is started once its container runs (startCondition started), or is healthy (healthy)")
		}
	case "Restart":
		c.restartSet, c.restartLine = true, o.line
		switch o.value {
		case "no":
			c.restartPolicy = v1.RestartNever
		case "always":
			c.restartPolicy = v1.RestartAlways
		case "on-failure", "on-abnormal", "on-abort", "on-watchdog":
			c.restartPolicy = v1.RestartOnFailure
			if o.value != "on-failure" {
				c.at(o.line, Note, "%s becomes restart on-failure: berth restarts a container that exits with a code other than 0 or is killed", c.written(o))
			}
		case "on-success":
			c.restartPolicy = v1.RestartNever
			c.drop(o, "is not converted: berth restarts always, on-failure or never; converted as never")
		default:
			c.restartSet = false
			c.drop(o, "is not a restart setting: not converted")
		}
	case "RestartSec":
		if d, ok := c.timespan(o); ok {
			c.restartSec = &d
		}
	case "RestartMaxDelaySec":
		if d, ok := c.timespan(o); ok {
			c.restartMax = &d
		}
	case "RestartSteps":
		c.drop(o, "is not converted: berth doubles the delay from restart.delay to restart.maxDelay")
	case "StartLimitInterval", "StartLimitIntervalSec":
		c.limit(o, false)
	case "StartLimitBurst":
		c.limit(o, true)
	case "TimeoutStartSec":
		if o.value != "0" && o.value != "infinity" {
			c.drop(o, "is not converted: berth waits for a pull and a start as long as they take")
		}
	default:
		if clientOnly[o.name] {
			return
		}
		if strings.HasPrefix(o.name, "Restart") || o.name == "SuccessExitStatus" {
			c.drop(o, "is not converted: berth restarts on the policy alone")
			return
		}
		c.drop(o, "is not converted: it shapes the docker client process, not the container; set it on the container with docker run's flags")
	}
}

func (c *sdConverter) fleetOption(o sdOption) {
	switch o.name {
	case "Global":
		c.global = o.value == "true" || o.value == "yes" || o.value == "1"
	case "MachineMetadata":
		words, err := splitCommand(o.value, nil)
		if err != nil {
			c.drop(o, fmt.Sprintf("cannot be read (%v): not converted", err))
			return
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				c.drop(o, fmt.Sprintf("is not converted: %q is not key=value", w))
				continue
			}
			if c.selector == nil {
				c.selector = map[string]string{}
			}
			if old, dup := c.selector[k]; dup && old != v {
				c.drop(o, fmt.Sprintf("is not converted: %s=%s or %s=%s: a hostSelector matches one value per key", k, old, k, v))
				continue
			}
			c.selector[k] = v
		}
	default:
		c.drop(o, "is not converted: berth places units by placement.hosts, hostSelector and global")
	}
}

func (c *sdConverter) limit(o sdOption, burst bool) {
	if burst {
		n, err := strconv.ParseInt(o.value, 10, 32)
		if err != nil || n < 0 {
			c.drop(o, "is not a number: not converted")
			return
		}
		c.limitBurst = &n
		return
	}
	d, ok := c.timespan(o)
	if !ok {
		return
	}
	ns := int64(d)
	c.limitInterval = &ns
}

func (c *sdConverter) timespan(o sdOption) (time.Duration, bool) {
	d, err := parseTimespan(o.value)
	if err != nil {
		c.drop(o, fmt.Sprintf("is not converted: %v", err))
		return 0, false
	}
	return d, true
}

// restart builds the restart policy: Restart= (else docker run
// --restart, else never, systemd's default), RestartSec= as a fixed delay
// (maxDelay too, unless RestartMaxDelaySec=), and the start limit.
func (c *sdConverter) restart() v1.RestartPolicy {
	r := v1.RestartPolicy{Policy: v1.RestartNever}
	switch {
	case c.restartSet:
		r.Policy = c.restartPolicy
	case c.start.Restart != "":
		r.Policy = c.start.Restart
	}
	if c.restartSec != nil {
		r.Delay = dur(v1.D(*c.restartSec))
		r.MaxDelay = dur(v1.D(*c.restartSec))
	}
	if c.restartMax != nil {
		r.MaxDelay = dur(v1.D(*c.restartMax))
		if r.Delay != nil && r.MaxDelay.Duration < r.Delay.Duration {
			r.MaxDelay = dur(*r.Delay)
		}
	}
	if c.limitBurst != nil || c.limitInterval != nil {
		sl := &v1.StartLimit{Burst: v1.DefaultStartLimitBurst}
		if c.limitBurst != nil {
			sl.Burst = int(*c.limitBurst)
		}
		if c.limitInterval != nil {
			if *c.limitInterval == 0 {
				sl.Burst = 0 // StartLimitIntervalSec=0 turns the limit off
			} else {
				sl.Interval = dur(v1.D(time.Duration(*c.limitInterval)))
			}
		}
		r.StartLimit = sl
	}
	return r
}

func (c *sdConverter) execStart(o sdOption) {
	if o.value == "" {
		c.start, c.startErr = nil, ""
		return
	}
	if c.start != nil {
		c.drop(o, "is not converted: a unit runs one container")
		return
	}
	argv := c.command(o)
	if argv == nil {
		c.startErr = "unreadable"
		return
	}
	args := c.dockerArgs(o, argv)
	if args == nil || args[0] != "run" {
		c.startErr = "not docker run"
		c.drop(o, "does not run a container with docker run: the unit is not converted")
		return
	}
	run, err := ParseDockerRun(args[1:], RunContext{Lookup: c.lookup, Host: c.host})
	if err != nil {
		c.startErr = err.Error()
		c.drop(o, fmt.Sprintf("cannot be read (%v): the unit is not converted", err))
		return
	}
	if argv[0] != "docker" && !strings.HasSuffix(argv[0], "/docker") {
		c.at(o.line, Note, "%s: the docker run inside is converted", c.written(o))
	}
	for _, is := range run.Issues {
		c.at(o.line, is.Severity, "%s", is.Msg)
	}
	c.start, c.startLine = run, o.line
	c.u.container = run.Name
}

// hook reads ExecStartPre= and the other hooks: docker commands whose
// effect berth has are implied; anything else runs on the host and is
// not converted.
func (c *sdConverter) hook(o sdOption) {
	argv := c.command(o)
	if argv == nil {
		return
	}
	args := c.dockerArgs(o, argv)
	if args != nil {
		verb := args[0]
		switch {
		case verb == "rm" || verb == "kill" || verb == "wait":
			return // berth removes and replaces its containers itself
		case verb == "stop":
			if o.name == "ExecStop" {
				c.stopFlags(o, args[1:])
			}
			return
		case verb == "pull" && o.name == "ExecStartPre":
			c.pull = true
			return
		case (verb == "network" || verb == "volume") && len(args) > 1 && args[1] == "create":
			return // berth's network, and named volumes, are created as needed
		case verb == "login":
			c.drop(o, "is not converted: hosts log in to registries with the controller's --registry-config")
			return
		}
		c.drop(o, "is not converted: berth runs one container per unit and nothing else")
		return
	}
	hint := ""
	if len(argv) > 0 {
		switch path.Base(argv[0]) {
		case "touch":
			hint = "; use a volume with type FileOrCreate"
		case "mkdir":
			hint = "; use a volume with type DirectoryOrCreate"
		}
	}
	c.drop(o, "runs on the host: not converted"+hint)
}

// stopFlags reads docker stop's -t/--time/--timeout into the container's
// stop timeout.
func (c *sdConverter) stopFlags(o sdOption, args []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		switch name {
		case "-t", "--time", "--timeout":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				c.drop(o, fmt.Sprintf("is not converted: %s %s is not a number of seconds", name, value))
				return
			}
			d := v1.D(time.Duration(n) * time.Second)
			c.stopTimeout = &d
		case "-s", "--signal":
			if !hasValue && i+1 < len(args) {
				i++
			}
			c.drop(o, "is not converted: the stop signal is docker run's --stop-signal")
		}
	}
}

// parseTimespan reads a systemd time span: "5" (seconds), "100ms",
// "1min 30s", "2h", "infinity" is refused.
func parseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%q is not a time span", s)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 || n > 1e9 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	units := []struct {
		names []string
		d     time.Duration
	}{
		{[]string{"usec", "us", "µs"}, time.Microsecond},
		{[]string{"msec", "ms"}, time.Millisecond},
		{[]string{"seconds", "second", "sec", "s"}, time.Second},
		{[]string{"minutes", "minute", "min", "m"}, time.Minute},
		{[]string{"hours", "hour", "hr", "h"}, time.Hour},
		{[]string{"days", "day", "d"}, 24 * time.Hour},
		{[]string{"weeks", "week", "w"}, 7 * 24 * time.Hour},
	}
	var total time.Duration
	rest := s
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t")
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a time span such as 5s, 100ms or 1min 30s", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n > 1e9 {
			return 0, fmt.Errorf("%q is not a time span such as 5s, 100ms or 1min 30s", s)
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		j := 0
		for j < len(rest) && rest[j] != ' ' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unitName := rest[:j]
		rest = rest[j:]
		found := false
		for _, u := range units {
			if slices.Contains(u.names, unitName) {
				total += time.Duration(n * float64(u.d))
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%q is not a time span such as 5s, 100ms or 1min 30s", s)
		}
	}
	return total, nil
}

// linkUnits turns the dependencies between the unit files into the Units'
// requires, wants, after and startCondition.
func linkUnits(units []*sdUnit) []Finding {
	var findings []Finding
	byUnit := map[string]*sdUnit{}
	byContainer := map[string]*sdUnit{}
	for _, u := range units {
		byUnit[u.unitName] = u
		if u.container != "" {
			byContainer[u.container] = u
		}
	}
	add := func(list *[]string, name string) {
		if !slices.Contains(*list, name) {
			*list = append(*list, name)
		}
	}
	for _, u := range units {
		s := &u.unit.Spec
		for _, d := range u.deps {
			note := func(sev Severity, format string, a ...any) {
				findings = append(findings, Finding{File: u.file, Line: d.line, Severity: sev, Msg: fmt.Sprintf(format, a...)})
			}
			if unitImplied(d.target) {
				continue
			}
			written := d.directive + "=" + d.target
			if !strings.HasSuffix(d.target, ".service") {
				note(Dropped, "%s is not converted: berth orders units that run containers", written)
				continue
			}
			other := byUnit[d.target]
			if d.directive == "Before" {
				if other != nil {
					add(&other.unit.Spec.After, u.unit.Metadata.Name)
				} else {
					note(Dropped, "%s is not converted: %s is not among the files converted", written, d.target)
				}
				continue
			}
			name := ""
			if other != nil {
				name = other.unit.Metadata.Name
			} else {
				stem := strings.TrimSuffix(d.target, ".service")
				name = objectName(strings.ReplaceAll(stem, "@", "-"))
				if v1.ValidName(name) != "" {
					note(Dropped, "%s is not converted: no unit name can be made of it", written)
					continue
				}
				if d.directive == "Requires" || d.directive == "BindsTo" {
					note(Note, "%s: %s is not among the files converted; the unit waits for a unit named %s", written, d.target, name)
				} else {
					note(Note, "%s: %s is not among the files converted; the unit starts after a unit named %s when there is one", written, d.target, name)
				}
			}
			if name == u.unit.Metadata.Name {
				continue
			}
			switch d.directive {
			case "Requires":
				add(&s.Requires, name)
			case "BindsTo":
				add(&s.Requires, name)
				note(Note, "%s becomes requires: the unit stops when %s is stopped, fails or is deleted, not when it exits cleanly", written, name)
			case "Wants":
				add(&s.Wants, name)
			case "After":
				add(&s.After, name)
			}
		}
		for _, l := range u.links {
			other := byContainer[l]
			if other == nil || other == u {
				continue
			}
			add(&s.Requires, other.unit.Metadata.Name)
		}
	}
	// After= a oneshot unit waits for it to finish: startCondition completed.
	for _, u := range units {
		s := &u.unit.Spec
		for _, list := range [][]string{s.Requires, s.Wants, s.After} {
			for _, n := range list {
				for _, o := range units {
					if o.oneshot && o.unit.Metadata.Name == n && (slices.Contains(s.After, n) || slices.Contains(s.Requires, n)) {
						if s.StartCondition == nil {
							s.StartCondition = map[string]v1.StartCondition{}
						}
						s.StartCondition[n] = v1.StartConditionCompleted
					}
				}
			}
		}
		// requires implies after in berth: drop the repetition.
		s.After = slices.DeleteFunc(s.After, func(n string) bool { return slices.Contains(s.Requires, n) })
		if len(s.After) == 0 {
			s.After = nil
		}
	}
	return findings
}

// expandSpecifiers replaces the %-specifiers of s that spec knows, and
// leaves the others as written.
func expandSpecifiers(s string, spec func(byte) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			if v, ok := spec(s[i+1]); ok {
				b.WriteString(v)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
