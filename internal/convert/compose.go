package convert

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	v1 "berth.dev/berth/api/v1"
)

// Labels the Units converted from compose carry, under compose's own names,
// so that the Service of each selects it.
const (
	LabelComposeProject = "com.docker.compose.project"
	LabelComposeService = "com.docker.compose.service"
)

// ComposeInput is one compose project: its files, merged in order as
// docker compose -f a -f b merges them.
type ComposeInput struct {
	Files []File
	// WorkingDir is the project directory: relative paths, extends and
	// env_file are read from it.
	WorkingDir string
	// Env is the environment interpolation reads (see ComposeEnv).
	Env map[string]string
	// Profiles are the active profiles (--profile, else
	// COMPOSE_PROFILES); services of other profiles are left out, as
	// docker compose leaves them.
	Profiles []string
	// ProjectName overrides the project's name (docker compose -p).
	ProjectName string
}

// ComposeEnv is the environment docker compose interpolates with: the
// variables of the env files (the project's .env, or --env-file), each
// overridden by the process environment.
func ComposeEnv(process map[string]string, envFiles []File) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range envFiles {
		vars, err := dotenv.ParseWithLookup(bytes.NewReader(f.Data), func(k string) (string, bool) {
			if v, ok := process[k]; ok {
				return v, true
			}
			v, ok := out[k]
			return v, ok
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		maps.Copy(out, vars)
	}
	maps.Copy(out, process)
	return out, nil
}

// Compose converts a compose project with the compose specification's own
// loader (interpolation, profiles, extends, env_file): each service becomes
// a Unit of the same name, and each service that publishes ports a
// Service selecting it. See the package documentation for what each field
// becomes. A project that does not load is an error.
func Compose(ctx context.Context, in ComposeInput, host Host) (res Result, err error) {
	defer func() {
		// The loader is not ours: an input it cannot take is an error here,
		// never a crash of applyctl.
		if p := recover(); p != nil {
			res, err = Result{}, fmt.Errorf("%s: the compose loader failed on this file: %v", in.Files[0].Name, p)
		}
	}()
	if len(in.Files) == 0 {
		return Result{}, fmt.Errorf("no compose file")
	}
	details := types.ConfigDetails{WorkingDir: in.WorkingDir, Environment: in.Env}
	for _, f := range in.Files {
		name := f.Name
		if !path.IsAbs(name) && in.WorkingDir != "" {
			name = path.Join(in.WorkingDir, path.Base(name))
		}
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: name, Content: f.Data})
	}
	var unset []string
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		// The project's name as docker compose chooses it: -p, else
		// COMPOSE_PROJECT_NAME, else the file's name:, else the directory.
		switch {
		case in.ProjectName != "":
			o.SetProjectName(loader.NormalizeProjectName(in.ProjectName), true)
		case in.Env["COMPOSE_PROJECT_NAME"] != "":
			o.SetProjectName(loader.NormalizeProjectName(in.Env["COMPOSE_PROJECT_NAME"]), true)
		default:
			o.SetProjectName(loader.NormalizeProjectName(path.Base(in.WorkingDir)), false)
		}
		o.Profiles = in.Profiles
		if len(o.Profiles) == 0 && in.Env["COMPOSE_PROFILES"] != "" {
			o.Profiles = strings.Split(in.Env["COMPOSE_PROFILES"], ",")
		}
		o.ResolvePaths = true
		if o.Interpolate != nil {
			// Variables without a value are reported as findings, where
			// docker compose logs a warning.
			o.Interpolate.Substitute = func(t string, m template.Mapping) (string, error) {
				return template.SubstituteWithOptions(t, m, template.WithoutLogging, template.WithReplacementFunction(
					func(sub string, m template.Mapping, cfg *template.Config) (string, error) {
						v, applied, err := template.DefaultReplacementAppliedFunc(sub, m, cfg)
						if err == nil && !applied {
							unset = append(unset, strings.Trim(sub, "${}"))
						}
						return v, err
					}))
			}
		}
	})
	if err != nil {
		return Result{}, fmt.Errorf("%s: %v", in.Files[0].Name, err)
	}
	c := &composeConverter{in: in, project: project, host: host, lines: newComposeLines(in.Files)}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(unset))) {
		file, line := c.lines.variable(name)
		c.res.Findings = append(c.res.Findings, Finding{File: file, Line: line, Severity: Note,
			Msg: fmt.Sprintf("the variable %s is not set (environment, .env): interpolated as an empty string", name)})
	}
	return c.convert(), nil
}

type composeConverter struct {
	in      ComposeInput
	project *types.Project
	host    Host
	lines   *composeLines
	res     Result
	// names maps service names to unit names.
	names map[string]string
}

func (c *composeConverter) at(svc string, field []string, sev Severity, format string, a ...any) {
	file, line := c.lines.find(svc, field)
	c.res.Findings = append(c.res.Findings, Finding{File: file, Line: line, Severity: sev, Msg: fmt.Sprintf(format, a...)})
}

func (c *composeConverter) convert() Result {
	p := c.project
	svcs := slices.Sorted(maps.Keys(p.Services))
	c.names = map[string]string{}
	for _, s := range svcs {
		c.names[s] = objectName(s)
	}
	networks := map[string]bool{}
	for _, s := range svcs {
		for n := range p.Services[s].Networks {
			networks[n] = true
		}
	}
	for _, s := range svcs {
		c.service(p.Services[s], len(networks) > 1)
	}
	for _, j := range slices.Sorted(maps.Keys(p.Jobs)) {
		c.at("", []string{"jobs", j}, Dropped, "jobs.%s: not converted: berth runs one-off containers as Units with restart never", j)
	}
	fit(&c.res)
	return c.res
}

// composeHandled are the service fields the converter reads (or that the
// loader already applied); any other field set is reported.
var composeHandled = map[string]bool{
	"name": true, "profiles": true, "deploy": true, "restart": true, "scale": true,
	"extends": true, "image": true, "command": true, "entrypoint": true,
	"environment": true, "env_file": true, "ports": true, "expose": true, "volumes": true,
	"healthcheck": true, "labels": true, "depends_on": true, "hostname": true, "user": true,
	"working_dir": true, "stop_signal": true, "stop_grace_period": true, "network_mode": true,
	"networks": true, "privileged": true, "cap_add": true, "cap_drop": true, "read_only": true,
	"security_opt": true, "pull_policy": true, "build": true, "container_name": true,
	"mem_limit": true, "cpus": true, "secrets": true, "configs": true, "links": true,
	"tty": true, "stdin_open": true, "init": true, "logging": true,
}

// composeReasons explain the fields berth has nothing for.
var composeReasons = map[string]string{
	"tty":          "berth does not give containers a terminal",
	"stdin_open":   "berth does not keep a container's standard input open",
	"init":         "berth runs the image's entrypoint as PID 1",
	"tmpfs":        "berth has no tmpfs mounts; use a named volume",
	"extra_hosts":  "berth does not edit /etc/hosts; containers find each other by unit name on berth's network",
	"dns":          "containers use the engine's resolver (controller --container-dns)",
	"dns_search":   "containers use the engine's resolver (controller --container-dns)",
	"volumes_from": "berth mounts volumes by name; mount the same named volume",
	"post_start":   "berth runs no hooks; put the command in the image's entrypoint",
	"pre_stop":     "berth runs no hooks; let the program handle its stop signal",
	"pre_start":    "berth runs no hooks; run it as a Unit with restart never and startCondition completed",
}

func (c *composeConverter) service(s types.ServiceConfig, manyNetworks bool) {
	name := c.names[s.Name]
	drop := func(field []string, format string, a ...any) { c.at(s.Name, field, Dropped, format, a...) }
	note := func(field []string, format string, a ...any) { c.at(s.Name, field, Note, format, a...) }
	where := func(f ...string) string { return "services." + s.Name + "." + strings.Join(f, ".") }
	if msg := v1.ValidName(name); msg != "" {
		drop(nil, "services.%s: no unit name can be made of %q: not converted", s.Name, s.Name)
		return
	}
	if name != s.Name {
		drop(nil, "services.%s: the unit is named %s: containers reach it by that name on berth's network, not as %s", s.Name, name, s.Name)
	}
	u := newUnit(name)
	u.Metadata.Labels = map[string]string{LabelComposeService: name}
	pn := c.project.Name
	if validLabel(LabelComposeProject, pn) != "" {
		pn = objectName(pn)
	}
	if pn != "" {
		u.Metadata.Labels[LabelComposeProject] = pn
	}
	t := &u.Spec.Container
	t.Image = s.Image
	if s.Build != nil {
		if t.Image == "" {
			t.Image = c.project.Name + "-" + s.Name
		}
		drop([]string{"build"}, "%s: not converted: berth runs images; build %s and load it on every host", where("build"), t.Image)
	}
	if t.Image == "" {
		drop(nil, "services.%s has no image: not converted", s.Name)
		return
	}
	if s.Entrypoint != nil {
		if len(s.Entrypoint) == 0 {
			drop([]string{"entrypoint"}, "%s: an empty entrypoint cannot clear the image's in berth: not converted", where("entrypoint"))
		} else {
			t.Command = append([]string(nil), s.Entrypoint...)
		}
	}
	if s.Command != nil {
		t.Args = append([]string(nil), s.Command...)
		if len(s.Command) == 0 {
			drop([]string{"command"}, "%s: an empty command cannot clear the image's in berth: not converted", where("command"))
		}
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil { // a variable without a value that the environment lacks is left out, as compose does
			env[k] = *v
		}
	}
	t.Env = envList(env)
	if len(s.EnvFiles) > 0 {
		note([]string{"env_file"}, "%s: its values are written into the manifest, which etcd stores; keep secrets in files with env valueFrom.file", where("env_file"))
	}
	for i, p := range s.Ports {
		port, problem := portFrom(p)
		if problem != "" {
			drop([]string{"ports"}, "%s[%d]: %s: not converted", where("ports"), i, problem)
			continue
		}
		t.Ports = append(t.Ports, port)
	}
	c.volumes(s, t, drop, note, where)
	c.secrets(s, t, drop, where)
	t.Hostname = s.Hostname
	t.User = s.User
	t.WorkingDir = s.WorkingDir
	if s.StopSignal != "" {
		if _, err := v1.ParseSignal(s.StopSignal); err != nil {
			drop([]string{"stop_signal"}, "%s: %v", where("stop_signal"), err)
		} else {
			t.StopSignal = s.StopSignal
		}
	}
	if s.StopGracePeriod != nil {
		t.StopTimeout = dur(v1.D(time.Duration(*s.StopGracePeriod)))
	}
	c.network(s, t, manyNetworks, drop, note, where)
	c.security(s, t, drop, where)
	switch s.PullPolicy {
	case "", types.PullPolicyMissing, types.PullPolicyIfNotPresent:
	case types.PullPolicyAlways:
		t.PullPolicy = v1.PullAlways
	case types.PullPolicyNever:
		t.PullPolicy = v1.PullNever
	case types.PullPolicyBuild:
		drop([]string{"pull_policy"}, "%s: build: not converted: berth runs images", where("pull_policy"))
	default:
		drop([]string{"pull_policy"}, "%s: %s: not converted: berth pulls always, when missing, or never", where("pull_policy"), s.PullPolicy)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if msg := validLabel(k, s.Labels[k]); msg != "" {
			drop([]string{"labels"}, "%s: %s: not converted: %s", where("labels"), k, msg)
			continue
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = s.Labels[k]
	}
	c.health(s, t, drop, where)
	c.restart(s, u, drop, where)
	c.deploy(s, u, drop, note, where)
	c.dependsOn(s, u, drop, where)
	if s.ContainerName != "" && s.ContainerName != name {
		drop([]string{"container_name"}, "%s: %s: not converted: the container is named by berth and reachable as %s", where("container_name"), s.ContainerName, name)
	}
	for _, l := range s.Links {
		target, alias, _ := strings.Cut(l, ":")
		if alias != "" && alias != target {
			drop([]string{"links"}, "%s: %s: the alias %s is not converted: the container is reachable as %s", where("links"), l, alias, c.names[target])
		}
	}
	if s.Logging != nil && (s.Logging.Driver != "" || len(s.Logging.Options) > 0) {
		drop([]string{"logging"}, "%s: not converted: containers log to the engine's default driver, which applyctl logs reads", where("logging"))
	}
	for _, f := range []struct {
		set   bool
		field string
	}{{s.Tty, "tty"}, {s.StdinOpen, "stdin_open"}, {s.Init != nil && *s.Init, "init"}} {
		if f.set {
			drop([]string{f.field}, "%s: not converted: %s", where(f.field), composeReasons[f.field])
		}
	}
	c.unknownFields(s, drop, where)
	c.res.Objects = append(c.res.Objects, Object{Source: c.in.Files[0].Name, Object: u})
	if len(t.Ports) > 0 {
		svc := newService(name)
		svc.Spec.Selector = maps.Clone(u.Metadata.Labels)
		svc.Spec.Port = v1.IntOrString{IntVal: int32(t.Ports[0].ContainerPort)}
		if t.Ports[0].Name != "" {
			svc.Spec.Port = v1.IntOrString{StrVal: t.Ports[0].Name, IsStr: true}
		}
		c.res.Objects = append(c.res.Objects, Object{Source: c.in.Files[0].Name, Object: svc})
	}
}

// unknownFields reports every other field of the service that is set.
func (c *composeConverter) unknownFields(s types.ServiceConfig, drop func([]string, string, ...any), where func(...string) string) {
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.Anonymous && tag == "" {
				visit(v.Field(i))
				continue
			}
			if tag == "" || tag == "-" || strings.HasPrefix(tag, "#") || composeHandled[tag] || !f.IsExported() {
				continue
			}
			if v.Field(i).IsZero() {
				continue
			}
			reason := composeReasons[tag]
			if reason == "" {
				reason = "berth has no such setting"
			}
			drop([]string{tag}, "%s: not converted: %s", where(tag), reason)
		}
	}
	visit(reflect.ValueOf(s))
}

func (c *composeConverter) volumes(s types.ServiceConfig, t *v1.ContainerTemplate, drop, note func([]string, string, ...any), where func(...string) string) {
	named := func(src string) string {
		docker := src
		if v, ok := c.project.Volumes[src]; ok {
			if v.Name != "" {
				docker = v.Name
			}
			if v.Driver != "" && v.Driver != "local" || len(v.DriverOpts) > 0 {
				drop([]string{"volumes"}, "volumes.%s: driver %s: not converted: berth's volumes use the engine's local driver", src, v.Driver)
			}
		}
		n := objectName(docker)
		if n != docker {
			note([]string{"volumes"}, "%s: the volume %s is the Docker volume %s under compose; berth mounts the volume %s: copy its data over to keep it", where("volumes"), src, docker, n)
		}
		return n
	}
	for i, v := range s.Volumes {
		vol, problem := volumeFrom(v, c.host, named, anonymousVolume(c.project.Name+"-"+s.Name, v.Target))
		if problem != "" {
			drop([]string{"volumes"}, "%s[%d]: %s: not converted", where("volumes"), i, problem)
			continue
		}
		if v.Source == "" && v.Type == types.VolumeTypeVolume {
			note([]string{"volumes"}, "%s[%d]: the anonymous volume becomes the named volume %s", where("volumes"), i, vol.Name)
		}
		t.Volumes = append(t.Volumes, vol)
	}
}

// secrets mounts file-based secrets and configs as compose does: a
// secret read-only at /run/secrets/<target>, a config at its target
// (/<name> by default).
func (c *composeConverter) secrets(s types.ServiceConfig, t *v1.ContainerTemplate, drop func([]string, string, ...any), where func(...string) string) {
	mount := func(field, src, file, target string) {
		if file == "" {
			drop([]string{field}, "%s: %s: not converted: berth mounts secrets and configs kept in files only", where(field), src)
			return
		}
		t.Volumes = append(t.Volumes, v1.Volume{HostPath: path.Clean(file), Type: v1.HostPathFile, ContainerPath: target, ReadOnly: true})
	}
	for _, ref := range s.Secrets {
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		mount("secrets", ref.Source, c.project.Secrets[ref.Source].File, target)
	}
	for _, ref := range s.Configs {
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		mount("configs", ref.Source, c.project.Configs[ref.Source].File, target)
	}
}

func (c *composeConverter) network(s types.ServiceConfig, t *v1.ContainerTemplate, manyNetworks bool, drop, note func([]string, string, ...any), where func(...string) string) {
	switch m := s.NetworkMode; {
	case m == "":
	case m == "host" || m == "none":
		t.NetworkMode = m
	case strings.HasPrefix(m, types.ServicePrefix):
		target := c.names[strings.TrimPrefix(m, types.ServicePrefix)]
		t.NetworkMode = "container:" + v1.ContainerName(v1.KindUnit, target, "")
	case strings.HasPrefix(m, types.ContainerPrefix):
		t.NetworkMode = m
	case m == "bridge" || m == "default":
	default:
		note([]string{"network_mode"}, "%s: %s: the container joins berth's network, where it reaches the others by unit name", where("network_mode"), m)
	}
	if manyNetworks {
		for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
			drop([]string{"networks"}, "%s: %s: not converted: every container joins berth's network, so services on different networks reach each other", where("networks"), n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
		if cfg := s.Networks[n]; cfg != nil {
			for _, a := range cfg.Aliases {
				if a != s.Name {
					drop([]string{"networks"}, "%s.%s.aliases: %s: not converted: the container is reachable by its unit name only", where("networks"), n, a)
				}
			}
			if cfg.Ipv4Address != "" || cfg.Ipv6Address != "" {
				drop([]string{"networks"}, "%s.%s: a fixed address is not converted", where("networks"), n)
			}
		}
	}
}

func (c *composeConverter) security(s types.ServiceConfig, t *v1.ContainerTemplate, drop func([]string, string, ...any), where func(...string) string) {
	sc := &v1.SecurityContext{Privileged: s.Privileged, ReadOnlyRootFilesystem: s.ReadOnly}
	sc.Capabilities = capabilities(s.CapAdd, s.CapDrop, func(added bool, name string) {
		field := "cap_drop"
		if added {
			field = "cap_add"
		}
		drop([]string{field}, "%s: %s: not a Linux capability", where(field), name)
	})
	for _, o := range s.SecurityOpt {
		switch o {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
		case "no-new-privileges:false", "no-new-privileges=false":
			sc.AllowPrivilegeEscalation = new(bool)
			*sc.AllowPrivilegeEscalation = true
		default:
			drop([]string{"security_opt"}, "%s: %s: not converted: berth sets no-new-privileges and nothing else", where("security_opt"), o)
		}
	}
	if *sc != (v1.SecurityContext{}) {
		t.SecurityContext = sc
	}
}

func (c *composeConverter) health(s types.ServiceConfig, t *v1.ContainerTemplate, drop func([]string, string, ...any), where func(...string) string) {
	h := s.HealthCheck
	if h == nil || h.Disable {
		return
	}
	cmd, none, problem := healthTest(h.Test)
	if problem != "" {
		drop([]string{"healthcheck"}, "%s: %s: not converted", where("healthcheck", "test"), problem)
		return
	}
	if none {
		return
	}
	if cmd == nil {
		drop([]string{"healthcheck"}, "%s: no test: berth does not run the image's HEALTHCHECK; write the test here", where("healthcheck"))
		return
	}
	d := func(p *types.Duration) *time.Duration {
		if p == nil {
			return nil
		}
		v := time.Duration(*p)
		return &v
	}
	var retries *int
	if h.Retries != nil {
		n := int(min(*h.Retries, 1<<20))
		retries = &n
	}
	t.HealthCheck = healthCheck(cmd, d(h.Interval), d(h.Timeout), d(h.StartPeriod), retries)
	// berth probes at startInterval, doubling, until the first pass
	// (compose: at start_interval during start_period).
	if si := d(h.StartInterval); si != nil && *si > 0 {
		t.HealthCheck.StartInterval = dur(v1.D(*si))
	}
}

func (c *composeConverter) restart(s types.ServiceConfig, u *v1.Unit, drop func([]string, string, ...any), where func(...string) string) {
	r := &u.Spec.Restart
	r.Policy = v1.RestartNever // compose's default is "no"
	if s.Restart != "" {
		policy, problem := restartFrom(s.Restart)
		if problem != "" {
			drop([]string{"restart"}, "%s: %s", where("restart"), problem)
		}
		if policy != "" {
			r.Policy = policy
		}
		return
	}
	if s.Deploy == nil || s.Deploy.RestartPolicy == nil {
		return
	}
	rp := s.Deploy.RestartPolicy
	switch rp.Condition {
	case "none":
	case "on-failure":
		r.Policy = v1.RestartOnFailure
	case "any", "":
		r.Policy = v1.RestartAlways
	default:
		drop([]string{"deploy"}, "%s: %s: not converted: use none, on-failure or any", where("deploy", "restart_policy", "condition"), rp.Condition)
	}
	if rp.Delay != nil {
		r.Delay = dur(v1.D(time.Duration(*rp.Delay)))
	}
	if rp.MaxAttempts != nil {
		drop([]string{"deploy"}, "%s: not converted: berth does not count restarts; its start limit (spec.restart.startLimit) ends a restart loop", where("deploy", "restart_policy", "max_attempts"))
	}
	if rp.Window != nil {
		drop([]string{"deploy"}, "%s: not converted: berth counts a restart once the container has started", where("deploy", "restart_policy", "window"))
	}
}

func (c *composeConverter) deploy(s types.ServiceConfig, u *v1.Unit, drop, note func([]string, string, ...any), where func(...string) string) {
	t := &u.Spec.Container
	if s.CPUS > 0 {
		t.Resources.CPUs = cpus(float64(s.CPUS))
	}
	if s.MemLimit > 0 {
		t.Resources.Memory = quantity(int64(s.MemLimit))
	}
	replicas := -1
	if s.Scale != nil {
		replicas = *s.Scale
	}
	if d := s.Deploy; d != nil {
		if d.Replicas != nil {
			replicas = *d.Replicas
		}
		if l := d.Resources.Limits; l != nil {
			if l.NanoCPUs > 0 {
				t.Resources.CPUs = cpus(float64(l.NanoCPUs))
			}
			if l.MemoryBytes > 0 {
				t.Resources.Memory = quantity(int64(l.MemoryBytes))
			}
			if l.Pids > 0 || len(l.Devices) > 0 || len(l.GenericResources) > 0 {
				drop([]string{"deploy"}, "%s: pids and devices are not converted: berth limits cpus and memory", where("deploy", "resources", "limits"))
			}
		}
		if d.Resources.Reservations != nil {
			drop([]string{"deploy"}, "%s: not converted: berth limits, and does not reserve", where("deploy", "resources", "reservations"))
		}
		switch d.Mode {
		case "", "replicated":
		case "global":
			u.Spec.Placement.Global = true
		default:
			drop([]string{"deploy"}, "%s: %s: not converted", where("deploy", "mode"), d.Mode)
		}
		for _, cst := range d.Placement.Constraints {
			k, v, ok := strings.Cut(cst, "==")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if label, isLabel := strings.CutPrefix(k, "node.labels."); ok && isLabel {
				if u.Spec.Placement.HostSelector == nil {
					u.Spec.Placement.HostSelector = map[string]string{}
				}
				u.Spec.Placement.HostSelector[label] = v
				continue
			}
			drop([]string{"deploy"}, "%s: %s: not converted: berth selects hosts by their labels (node.labels.KEY == VALUE)", where("deploy", "placement", "constraints"), cst)
		}
		for _, f := range []struct {
			set   bool
			field string
		}{{d.UpdateConfig != nil, "update_config"}, {d.RollbackConfig != nil, "rollback_config"}, {len(d.Labels) > 0, "labels"},
			{d.EndpointMode != "", "endpoint_mode"}, {len(d.Placement.Preferences) > 0 || d.Placement.MaxReplicas > 0, "placement"}} {
			if f.set {
				drop([]string{"deploy"}, "%s: not converted", where("deploy", f.field))
			}
		}
	}
	switch {
	case replicas == 0:
		u.Spec.Goal = v1.GoalStop
		note([]string{"deploy"}, "%s: 0 replicas: the unit's goal is stop", where("deploy", "replicas"))
	case replicas > 1 && u.Spec.Placement.Global:
		drop([]string{"deploy"}, "%s: not converted: a global unit runs once on every host", where("deploy", "replicas"))
	case replicas > 1:
		u.Spec.Placement.Replicas = replicas
		note([]string{"deploy"}, "%s: %d replicas: berth runs at most one instance of a unit per host, so they need %d hosts", where("deploy", "replicas"), replicas, replicas)
	}
}

func (c *composeConverter) dependsOn(s types.ServiceConfig, u *v1.Unit, drop func([]string, string, ...any), where func(...string) string) {
	sp := &u.Spec
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d := s.DependsOn[dep]
		name, ok := c.names[dep]
		if !ok {
			drop([]string{"depends_on"}, "%s: %s is not a service of the project (left out by its profiles?): not converted", where("depends_on"), dep)
			continue
		}
		if d.Required {
			sp.Requires = append(sp.Requires, name)
		} else {
			sp.Wants = append(sp.Wants, name)
		}
		cond := v1.StartConditionStarted
		switch d.Condition {
		case types.ServiceConditionHealthy:
			cond = v1.StartConditionHealthy
		case types.ServiceConditionCompletedSuccessfully:
			cond = v1.StartConditionCompleted
		case types.ServiceConditionStarted, "":
		default:
			drop([]string{"depends_on"}, "%s: condition %s: not converted", where("depends_on", dep), d.Condition)
		}
		if cond != v1.StartConditionStarted {
			if sp.StartCondition == nil {
				sp.StartCondition = map[string]v1.StartCondition{}
			}
			sp.StartCondition[name] = cond
		}
		if d.Restart {
			drop([]string{"depends_on"}, "%s: restart: true is not converted: berth does not restart a unit when one it requires is updated", where("depends_on", dep))
		}
	}
}

// composeLines finds the line of a service's field in the compose files,
// for findings: the last file that sets it wins, as in the merge.
type composeLines struct {
	files []File
	roots []*yaml.Node
}

func newComposeLines(files []File) *composeLines {
	l := &composeLines{files: files}
	for _, f := range files {
		var n yaml.Node
		if err := yaml.Unmarshal(f.Data, &n); err != nil || len(n.Content) == 0 {
			l.roots = append(l.roots, nil)
			continue
		}
		l.roots = append(l.roots, n.Content[0])
	}
	return l
}

func (l *composeLines) find(svc string, field []string) (string, int) {
	keys := field
	if svc != "" {
		keys = append([]string{"services", svc}, field...)
	}
	for i := len(l.roots) - 1; i >= 0; i-- {
		if line := lineOf(l.roots[i], keys); line > 0 {
			return l.files[i].Name, line
		}
	}
	if len(l.files) == 0 {
		return "", 0
	}
	return l.files[0].Name, 0
}

// variable returns the first place a variable is used in the files.
func (l *composeLines) variable(name string) (string, int) {
	for i, f := range l.files {
		for _, form := range []string{"${" + name, "$" + name} {
			if at := bytes.Index(f.Data, []byte(form)); at >= 0 {
				return l.files[i].Name, 1 + bytes.Count(f.Data[:at], []byte("\n"))
			}
		}
	}
	if len(l.files) == 0 {
		return "", 0
	}
	return l.files[0].Name, 0
}
