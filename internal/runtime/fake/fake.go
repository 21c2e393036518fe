package fake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"berth.dev/berth/internal/runtime"
)

// Host ports handed out for PortBinding.HostPort 0, like Linux's ephemeral range.
const (
	firstDynamicPort = 32768
	lastDynamicPort  = 60999
)

// eventBuffer is how many events a subscriber may lag behind before its stream
// is broken with an error (as a real engine drops slow readers).
const eventBuffer = 1024

var _ runtime.Runtime = (*Runtime)(nil)

// ExecFunc answers Exec for a fake container.
type ExecFunc func(id string, cmd []string) (runtime.ExecResult, error)

// Runtime is an in-memory runtime.Runtime. The zero value is not usable; call
// New. All methods are safe for concurrent use.
type Runtime struct {
	mu         sync.Mutex
	available  bool
	images     map[string]*image         // local, by ID
	registry   map[string]*registryImage // pullable, by familiar "repo:tag" and "repo@digest"
	auth       map[string]registryUser   // registry host -> the one user it lets pull
	held       chan struct{}             // while open, pulls wait after their first progress
	containers map[string]*container
	networks   map[string]map[string]string
	gateways   map[string]string // network name -> its gateway
	nextNet    int
	volumes    map[string]map[string]string // name -> labels
	failures   map[string]*failure
	exec       ExecFunc
	ports      map[string]string // "proto/port" -> container ID
	nextPort   int
	nextIP     int
	subs       map[*subscriber]struct{}
}

type failure struct {
	err   error
	times int
}

type subscriber struct {
	events chan runtime.Event
	errs   chan error
	done   bool
}

type logLine struct {
	at   time.Time
	text string // with its trailing newline
}

type container struct {
	spec      runtime.ContainerSpec
	c         runtime.Container
	logs      []logLine
	changed   chan struct{} // closed and replaced when logs grow or the state changes
	ignoreSig bool
}

// New returns an empty, available fake engine with no images.
func New() *Runtime {
	return &Runtime{
		available:  true,
		images:     map[string]*image{},
		registry:   map[string]*registryImage{},
		auth:       map[string]registryUser{},
		containers: map[string]*container{},
		networks:   map[string]map[string]string{},
		gateways:   map[string]string{},
		volumes:    map[string]map[string]string{},
		failures:   map[string]*failure{},
		ports:      map[string]string{},
		nextPort:   firstDynamicPort,
		subs:       map[*subscriber]struct{}{},
	}
}

// Fail makes the next times calls of op fail with err (wrapped like every
// other error of this fake). op is a method name of runtime.Runtime, e.g.
// "Create" or "Start" (case-insensitive). times <= 0 clears it.
func (r *Runtime) Fail(op string, err error, times int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op = strings.ToLower(op)
	if times <= 0 {
		delete(r.failures, op)
		return
	}
	r.failures[op] = &failure{err: err, times: times}
}

// SetAvailable simulates losing (false) and regaining (true) the engine:
// while unavailable every call returns an error wrapping
// runtime.ErrUnavailable and open event streams break.
func (r *Runtime) SetAvailable(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.available = ok
	if !ok {
		for s := range r.subs {
			r.breakStream(s, fmt.Errorf("fake: events: %w", runtime.ErrUnavailable))
		}
	}
}

// SetExecFunc sets what Exec runs. Without one, Exec succeeds with exit code 0
// and no output.
func (r *Runtime) SetExecFunc(f ExecFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exec = f
}

// Exit makes a running container's process exit with code, as if by itself:
// its state becomes exited and a die event is emitted.
func (r *Runtime) Exit(id string, code int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("exit", id)
	if err != nil {
		return err
	}
	if c.c.State != runtime.StateRunning {
		return fmt.Errorf("fake: exit %s: %w: container is %s", id, runtime.ErrConflict, c.c.State)
	}
	r.exit(c, code, false)
	return nil
}

// OOM makes a running container get killed for lack of memory (exit code 137,
// OOMKilled, events oom and die).
func (r *Runtime) OOM(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("oom", id)
	if err != nil {
		return err
	}
	if c.c.State != runtime.StateRunning {
		return fmt.Errorf("fake: oom %s: %w: container is %s", id, runtime.ErrConflict, c.c.State)
	}
	r.emit(c, runtime.ActionOOM, 0)
	r.exit(c, 137, true)
	return nil
}

// SetHealth sets a container's health status and emits a health_status event.
func (r *Runtime) SetHealth(id string, h runtime.Health) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("health", id)
	if err != nil {
		return err
	}
	c.c.Health = h
	ev := r.event(c, runtime.ActionHealthStatus)
	ev.Health = h
	r.publish(ev)
	return nil
}

// IgnoreStopSignal makes a container's process ignore the stop signal (as a
// shell as PID 1 does): Stop then waits the whole timeout and kills it (137).
func (r *Runtime) IgnoreStopSignal(id string, ignore bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("ignore-signal", id)
	if err != nil {
		return err
	}
	c.ignoreSig = ignore
	return nil
}

// WriteLogs appends text to a container's output, as if the process printed
// it; Logs returns it, and followers see it.
func (r *Runtime) WriteLogs(id, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("write-logs", id)
	if err != nil {
		return err
	}
	now := time.Now()
	for line := range strings.Lines(text) {
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		c.logs = append(c.logs, logLine{at: now, text: line})
	}
	c.notify()
	return nil
}

// check runs before every Runtime call: availability, then scripted failures.
func (r *Runtime) check(op, id string) error {
	if !r.available {
		return wrap(op, id, runtime.ErrUnavailable)
	}
	f := r.failures[strings.ToLower(op)]
	if f == nil {
		return nil
	}
	f.times--
	if f.times <= 0 {
		delete(r.failures, strings.ToLower(op))
	}
	return wrap(op, id, f.err)
}

func wrap(op, id string, err error) error {
	if id == "" {
		return fmt.Errorf("fake: %s: %w", op, err)
	}
	return fmt.Errorf("fake: %s %s: %w", op, id, err)
}

// Ping implements runtime.Runtime.
func (r *Runtime) Ping(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.check("ping", "")
}

// Version implements runtime.Runtime.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("version", ""); err != nil {
		return "", err
	}
	return "fake", nil
}

// List implements runtime.Runtime.
func (r *Runtime) List(ctx context.Context, opts runtime.ListOptions) ([]runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("list", ""); err != nil {
		return nil, err
	}
	var out []runtime.Container
	for _, c := range r.containers {
		if !opts.All && c.c.State != runtime.StateRunning {
			continue
		}
		if !matchLabels(c.c.Labels, opts.Labels) {
			continue
		}
		out = append(out, copyContainer(c.c))
	}
	slices.SortFunc(out, func(a, b runtime.Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(ctx context.Context, id string) (runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("inspect", id); err != nil {
		return runtime.Container{}, err
	}
	c, err := r.lookup("inspect", id)
	if err != nil {
		return runtime.Container{}, err
	}
	return copyContainer(c.c), nil
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create implements runtime.Runtime.
func (r *Runtime) Create(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("create", spec.Name); err != nil {
		return "", err
	}
	if spec.Name != "" && !validName.MatchString(spec.Name) {
		return "", fmt.Errorf("fake: create %s: invalid container name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", spec.Name)
	}
	name := strings.TrimPrefix(spec.Name, "/")
	for _, c := range r.containers {
		if c.c.Name == name {
			return "", fmt.Errorf("fake: create %s: %w: the container name %q is already in use by container %s", name, runtime.ErrConflict, name, c.c.ID)
		}
	}
	img := r.lookupImage(spec.Image)
	if img == nil {
		return "", fmt.Errorf("fake: create %s: %w: no such image: %s", name, runtime.ErrNotFound, spec.Image)
	}
	if spec.Network != "" && spec.NetworkMode != "" && spec.NetworkMode != spec.Network {
		return "", fmt.Errorf("fake: create %s: network %q conflicts with network mode %q", name, spec.Network, spec.NetworkMode)
	}
	for _, n := range []string{spec.Network, spec.NetworkMode} {
		if userNetwork(n) && r.networks[n] == nil {
			return "", fmt.Errorf("fake: create %s: %w: network %s not found", name, runtime.ErrNotFound, n)
		}
	}
	for _, ns := range spec.DNS.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return "", fmt.Errorf("fake: create %s: dns nameserver: %w", name, err)
		}
	}
	for _, p := range spec.Ports {
		if p.Protocol != "" && p.Protocol != runtime.TCP && p.Protocol != runtime.UDP {
			return "", fmt.Errorf("fake: create %s: invalid protocol %q for port %d", name, p.Protocol, p.ContainerPort)
		}
	}
	for _, m := range spec.Mounts {
		// As Docker does, a named volume that does not exist is made,
		// without labels.
		if m.Type == runtime.MountVolume && r.volumes[m.Source] == nil {
			r.volumes[m.Source] = map[string]string{}
		}
	}
	mode := cmp.Or(spec.NetworkMode, spec.Network)
	if joined, ok := strings.CutPrefix(mode, "container:"); ok {
		// As Docker does, the joined container is kept by its full ID.
		if j, err := r.lookup("create", joined); err == nil {
			mode = "container:" + j.c.ID
		}
	}
	id := newID()
	if name == "" {
		name = "fake_" + id[:12]
	}
	spec.Name = name
	c := &container{
		spec:    cloneSpec(spec),
		changed: make(chan struct{}),
		c: runtime.Container{
			ID:          id,
			Name:        name,
			Image:       spec.Image,
			ImageID:     img.id,
			Labels:      maps.Clone(spec.Labels),
			Env:         slices.Clone(spec.Env),
			State:       runtime.StateCreated,
			Health:      runtime.HealthNone,
			Created:     time.Now(),
			Security:    cloneSecurity(spec.Security),
			NetworkMode: mode,
			DNS:         cloneDNS(spec.DNS),
		},
	}
	if c.c.Labels == nil {
		c.c.Labels = map[string]string{}
	}
	r.containers[id] = c
	r.emit(c, runtime.ActionCreate, 0)
	return id, nil
}

func userNetwork(mode string) bool {
	switch mode {
	case "", "bridge", "host", "none", "default":
		return false
	}
	return !strings.HasPrefix(mode, "container:")
}

// Start implements runtime.Runtime: it publishes ports (HostPort 0 gets a
// port from 32768-60999) and assigns an IP address.
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("start", id); err != nil {
		return err
	}
	c, err := r.lookup("start", id)
	if err != nil {
		return err
	}
	switch c.c.State {
	case runtime.StateRunning:
		return nil
	case runtime.StateRemoving, runtime.StateDead:
		return fmt.Errorf("fake: start %s: %w: container is %s", id, runtime.ErrConflict, c.c.State)
	}
	ports, err := r.allocatePorts(c)
	if err != nil {
		return fmt.Errorf("fake: start %s: %w", id, err)
	}
	r.nextIP++
	c.c.Ports = ports
	c.c.IPAddress = fmt.Sprintf("172.30.%d.%d", r.nextIP/250, r.nextIP%250+2)
	c.c.State = runtime.StateRunning
	c.c.ExitCode = 0
	c.c.OOMKilled = false
	c.c.StartedAt = time.Now()
	c.c.FinishedAt = time.Time{}
	if c.c.Health != runtime.HealthNone {
		c.c.Health = runtime.HealthStarting
	}
	c.notify()
	r.emit(c, runtime.ActionStart, 0)
	return nil
}

func (r *Runtime) allocatePorts(c *container) ([]runtime.PortBinding, error) {
	var out []runtime.PortBinding
	taken := map[string]bool{}
	for _, p := range c.spec.Ports {
		p.Protocol = cmp.Or(p.Protocol, runtime.TCP)
		if p.HostPort != 0 {
			key := fmt.Sprintf("%s/%d", p.Protocol, p.HostPort)
			if owner, ok := r.ports[key]; (ok && owner != c.c.ID) || taken[key] {
				return nil, fmt.Errorf("bind for %s:%d failed: %w", cmp.Or(p.HostIP, "0.0.0.0"), p.HostPort, runtime.ErrPortAllocated)
			}
			taken[key] = true
		}
		out = append(out, p)
	}
	for i := range out {
		if out[i].HostPort != 0 {
			continue
		}
		for range lastDynamicPort - firstDynamicPort + 1 {
			port := r.nextPort
			r.nextPort++
			if r.nextPort > lastDynamicPort {
				r.nextPort = firstDynamicPort
			}
			key := fmt.Sprintf("%s/%d", out[i].Protocol, port)
			if _, used := r.ports[key]; !used && !taken[key] {
				out[i].HostPort = port
				taken[key] = true
				break
			}
		}
		if out[i].HostPort == 0 {
			return nil, errors.New("no free host port")
		}
	}
	for key := range taken {
		r.ports[key] = c.c.ID
	}
	sortPorts(out)
	return out, nil
}

func (r *Runtime) releasePorts(c *container) {
	for key, owner := range r.ports {
		if owner == c.c.ID {
			delete(r.ports, key)
		}
	}
	c.c.Ports = nil
	c.c.IPAddress = ""
}

// exit moves a running container to exited; the caller holds r.mu.
func (r *Runtime) exit(c *container, code int, oom bool) {
	r.releasePorts(c)
	c.c.State = runtime.StateExited
	c.c.ExitCode = code
	c.c.OOMKilled = oom
	c.c.FinishedAt = time.Now()
	if c.c.Health != runtime.HealthNone {
		c.c.Health = runtime.HealthUnhealthy
	}
	c.notify()
	r.emit(c, runtime.ActionDie, code)
}

// Stop implements runtime.Runtime. A container told to IgnoreStopSignal holds
// Stop for the whole timeout (in real time) and is then killed with 137;
// otherwise the process exits 0 on the signal (SIGKILL: 137).
func (r *Runtime) Stop(ctx context.Context, id, signal string, timeout time.Duration) error {
	r.mu.Lock()
	if err := r.check("stop", id); err != nil {
		r.mu.Unlock()
		return err
	}
	c, err := r.lookup("stop", id)
	if err != nil || c.c.State != runtime.StateRunning {
		r.mu.Unlock()
		return err
	}
	signal = cmp.Or(signal, c.spec.StopSignal, "SIGTERM")
	if timeout <= 0 {
		timeout = cmp.Or(c.spec.StopTimeout, 10*time.Second)
	}
	r.emit(c, runtime.ActionKill, 0)
	if !c.ignoreSig || isKill(signal) {
		code := 0
		if isKill(signal) {
			code = 137
		}
		r.exit(c, code, false)
		r.emit(c, runtime.ActionStop, 0)
		r.mu.Unlock()
		return nil
	}
	changed := c.changed
	r.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("fake: stop %s: %w", id, ctx.Err())
		case <-changed:
			r.mu.Lock()
			if c.c.State != runtime.StateRunning {
				r.mu.Unlock()
				return nil
			}
			changed = c.changed
			r.mu.Unlock()
		case <-timer.C:
			r.mu.Lock()
			if c.c.State == runtime.StateRunning {
				r.emit(c, runtime.ActionKill, 0)
				r.exit(c, 137, false)
				r.emit(c, runtime.ActionStop, 0)
			}
			r.mu.Unlock()
			return nil
		}
	}
}

func isKill(signal string) bool {
	switch strings.ToUpper(strings.TrimPrefix(strings.ToUpper(signal), "SIG")) {
	case "KILL", "9":
		return true
	}
	return false
}

// Remove implements runtime.Runtime.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("remove", id); err != nil {
		return err
	}
	c, err := r.lookup("remove", id)
	if err != nil {
		return err
	}
	if c.c.State == runtime.StateRunning {
		r.emit(c, runtime.ActionKill, 0)
		r.exit(c, 137, false)
	}
	c.c.State = runtime.StateRemoving
	c.notify()
	delete(r.containers, c.c.ID)
	r.emit(c, runtime.ActionDestroy, 0)
	return nil
}

// Exec implements runtime.Runtime with the function set by SetExecFunc,
// called without holding any lock. It returns when ctx ends, with ctx's
// error, whether or not the function has returned.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	r.mu.Lock()
	if err := r.check("exec", id); err != nil {
		r.mu.Unlock()
		return runtime.ExecResult{}, err
	}
	c, err := r.lookup("exec", id)
	if err != nil {
		r.mu.Unlock()
		return runtime.ExecResult{}, err
	}
	if c.c.State != runtime.StateRunning {
		r.mu.Unlock()
		return runtime.ExecResult{}, fmt.Errorf("fake: exec %s: %w: container %s is not running", id, runtime.ErrConflict, id)
	}
	if len(cmd) == 0 {
		r.mu.Unlock()
		return runtime.ExecResult{}, fmt.Errorf("fake: exec %s: no command", id)
	}
	f, fullID := r.exec, c.c.ID
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return runtime.ExecResult{}, fmt.Errorf("fake: exec %s: %w", id, err)
	}
	if f == nil {
		return runtime.ExecResult{}, nil
	}
	type answer struct {
		res runtime.ExecResult
		err error
	}
	// As on Docker, the exec's process runs on when ctx ends; Exec does
	// not wait for it.
	done := make(chan answer, 1)
	go func() {
		res, err := f(fullID, slices.Clone(cmd))
		done <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		return runtime.ExecResult{}, fmt.Errorf("fake: exec %s: %w", id, ctx.Err())
	}
	if a.err != nil {
		return runtime.ExecResult{}, fmt.Errorf("fake: exec %s: %w", id, a.err)
	}
	if len(a.res.Output) > runtime.MaxExecOutput {
		a.res.Output = a.res.Output[:runtime.MaxExecOutput]
	}
	return a.res, nil
}

// Logs implements runtime.Runtime. A follower gets new output until ctx ends,
// the reader is closed or the container stops running.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	r.mu.Lock()
	if err := r.check("logs", id); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	c, err := r.lookup("logs", id)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	var first []logLine
	for _, l := range c.logs {
		if opts.Since.IsZero() || !l.at.Before(opts.Since) {
			first = append(first, l)
		}
	}
	if opts.Tail >= 0 && len(first) > opts.Tail {
		first = first[len(first)-opts.Tail:]
	}
	next, changed, running := len(c.logs), c.changed, c.c.State == runtime.StateRunning
	r.mu.Unlock()

	if !opts.Follow {
		return io.NopCloser(bytes.NewReader(formatLogs(first, opts.Timestamps))), nil
	}
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(formatLogs(first, opts.Timestamps)); err != nil {
			return
		}
		for running {
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-changed:
			}
			r.mu.Lock()
			more := slices.Clone(c.logs[next:])
			next, changed, running = len(c.logs), c.changed, c.c.State == runtime.StateRunning
			r.mu.Unlock()
			if _, err := pw.Write(formatLogs(more, opts.Timestamps)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr, nil
}

func formatLogs(lines []logLine, timestamps bool) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if timestamps {
			b.WriteString(l.at.UTC().Format(time.RFC3339Nano))
			b.WriteByte(' ')
		}
		b.WriteString(l.text)
	}
	return b.Bytes()
}

// Events implements runtime.Runtime. A subscriber that falls more than 1024
// events behind has its stream broken with an error.
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	s := &subscriber{events: make(chan runtime.Event, eventBuffer), errs: make(chan error, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("events", ""); err != nil {
		s.errs <- err
		close(s.errs)
		close(s.events)
		return s.events, s.errs
	}
	r.subs[s] = struct{}{}
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !s.done {
			s.done = true
			delete(r.subs, s)
			close(s.events)
			close(s.errs)
		}
	})
	return s.events, s.errs
}

// breakStream ends a subscription with err; the caller holds r.mu.
func (r *Runtime) breakStream(s *subscriber, err error) {
	if s.done {
		return
	}
	s.done = true
	delete(r.subs, s)
	s.errs <- err
	close(s.errs)
	close(s.events)
}

func (r *Runtime) event(c *container, a runtime.EventAction) runtime.Event {
	return runtime.Event{
		ID:     c.c.ID,
		Name:   c.c.Name,
		Action: a,
		Labels: maps.Clone(c.c.Labels),
		Time:   time.Now(),
	}
}

// emit publishes an event about c; the caller holds r.mu.
func (r *Runtime) emit(c *container, a runtime.EventAction, exitCode int) {
	ev := r.event(c, a)
	ev.ExitCode = exitCode
	r.publish(ev)
}

func (r *Runtime) publish(ev runtime.Event) {
	for s := range r.subs {
		select {
		case s.events <- ev:
		default:
			r.breakStream(s, errors.New("fake: events: subscriber too slow, events dropped"))
		}
	}
}

// EnsureNetwork implements runtime.Runtime.
func (r *Runtime) EnsureNetwork(ctx context.Context, name string, labels map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("ensurenetwork", name); err != nil {
		return err
	}
	if !userNetwork(name) {
		return fmt.Errorf("fake: ensure network %s: %q is a predefined network mode", name, name)
	}
	if r.networks[name] == nil {
		r.networks[name] = maps.Clone(labels)
		if r.networks[name] == nil {
			r.networks[name] = map[string]string{}
		}
		// As Docker gives each new bridge network a subnet of its own;
		// from TEST-NET-3, so that no test binds an address of the
		// machine's own networks.
		r.gateways[name] = fmt.Sprintf("203.0.113.%d", r.nextNet%254+1)
		r.nextNet++
	}
	return nil
}

// InspectNetwork implements runtime.Runtime: the networks EnsureNetwork
// made, and Docker's predefined bridge, host and none, without labels.
func (r *Runtime) InspectNetwork(ctx context.Context, name string) (runtime.Network, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("inspectnetwork", name); err != nil {
		return runtime.Network{}, err
	}
	switch name {
	case "bridge":
		return runtime.Network{ID: name, Name: name, Labels: map[string]string{}, Gateway: "198.51.100.1"}, nil
	case "host", "none":
		return runtime.Network{ID: name, Name: name, Labels: map[string]string{}}, nil
	}
	labels := r.networks[name]
	if labels == nil {
		return runtime.Network{}, fmt.Errorf("fake: inspect network %s: %w: network %s not found", name, runtime.ErrNotFound, name)
	}
	return runtime.Network{ID: name, Name: name, Labels: maps.Clone(labels), Gateway: r.gateways[name]}, nil
}

// InspectVolume implements runtime.Runtime.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("inspectvolume", name); err != nil {
		return runtime.Volume{}, err
	}
	labels := r.volumes[name]
	if labels == nil {
		return runtime.Volume{}, fmt.Errorf("fake: inspect volume %s: %w: no such volume", name, runtime.ErrNotFound)
	}
	return runtime.Volume{Name: name, Labels: maps.Clone(labels)}, nil
}

// EnsureVolume implements runtime.Runtime.
func (r *Runtime) EnsureVolume(ctx context.Context, name string, labels map[string]string) (runtime.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("ensurevolume", name); err != nil {
		return runtime.Volume{}, err
	}
	if name == "" || !validName.MatchString(name) {
		return runtime.Volume{}, fmt.Errorf("fake: ensure volume %q: invalid volume name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if r.volumes[name] == nil {
		r.volumes[name] = maps.Clone(labels)
		if r.volumes[name] == nil {
			r.volumes[name] = map[string]string{}
		}
	}
	return runtime.Volume{Name: name, Labels: maps.Clone(r.volumes[name])}, nil
}

// RemoveVolume removes a named volume (not part of runtime.Runtime; tests
// clean up with it).
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("removevolume", name); err != nil {
		return err
	}
	if r.volumes[name] == nil {
		return fmt.Errorf("fake: remove volume %s: %w", name, runtime.ErrNotFound)
	}
	delete(r.volumes, name)
	return nil
}

// lookup finds a container by ID, name or unique ID prefix; the caller holds r.mu.
func (r *Runtime) lookup(op, id string) (*container, error) {
	if c, ok := r.containers[id]; ok {
		return c, nil
	}
	name := strings.TrimPrefix(id, "/")
	var match *container
	for _, c := range r.containers {
		if c.c.Name == name {
			return c, nil
		}
		if id != "" && strings.HasPrefix(c.c.ID, id) {
			if match != nil {
				return nil, fmt.Errorf("fake: %s %s: multiple containers match this ID prefix", op, id)
			}
			match = c
		}
	}
	if match == nil {
		return nil, fmt.Errorf("fake: %s %s: %w: no such container", op, id, runtime.ErrNotFound)
	}
	return match, nil
}

// notify wakes whoever waits on c's logs or state; the caller holds r.mu.
func (c *container) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func cloneSpec(s runtime.ContainerSpec) runtime.ContainerSpec {
	s.Entrypoint = slices.Clone(s.Entrypoint)
	s.Cmd = slices.Clone(s.Cmd)
	s.Env = slices.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Ports = slices.Clone(s.Ports)
	s.Mounts = slices.Clone(s.Mounts)
	s.Aliases = slices.Clone(s.Aliases)
	s.Security = cloneSecurity(s.Security)
	s.DNS = cloneDNS(s.DNS)
	return s
}

func cloneDNS(d runtime.DNS) runtime.DNS {
	d.Nameservers = slices.Clone(d.Nameservers)
	d.Searches = slices.Clone(d.Searches)
	d.Options = slices.Clone(d.Options)
	return d
}

func cloneSecurity(s runtime.Security) runtime.Security {
	s.CapAdd = slices.Clone(s.CapAdd)
	s.CapDrop = slices.Clone(s.CapDrop)
	return s
}

func copyContainer(c runtime.Container) runtime.Container {
	c.Labels = maps.Clone(c.Labels)
	c.Env = slices.Clone(c.Env)
	c.Ports = slices.Clone(c.Ports)
	c.Security = cloneSecurity(c.Security)
	c.DNS = cloneDNS(c.DNS)
	return c
}

func sortPorts(ps []runtime.PortBinding) {
	slices.SortFunc(ps, func(a, b runtime.PortBinding) int {
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort - b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return strings.Compare(a.Protocol, b.Protocol)
		}
		return a.HostPort - b.HostPort
	})
}

// RemoveNetwork removes a network made by EnsureNetwork (not part of
// runtime.Runtime; tests clean up with it).
func (r *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check("removenetwork", name); err != nil {
		return err
	}
	if r.networks[name] == nil {
		return fmt.Errorf("fake: remove network %s: %w", name, runtime.ErrNotFound)
	}
	delete(r.networks, name)
	delete(r.gateways, name)
	return nil
}
