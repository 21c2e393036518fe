package units

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/runtime"
)

// ReasonCheckBelowMinimum is the reason of the warning event recorded when
// a health check's interval, timeout or startInterval is raised to berth's
// floor.
const ReasonCheckBelowMinimum = "CheckBelowMinimum"

// healthSchedule returns when a health check runs: its interval, timeout
// and startInterval as written (the defaults when unset), raised to
// v1.MinCheckInterval, v1.MinCheckTimeout and v1.MinCheckStartInterval,
// and what was raised, one phrase each. The floor holds whatever stored
// object asks: validation only refuses 0 and less, as Docker's healthcheck
// accepts 1ms, and an interval of 1ms would run an exec back to back.
func healthSchedule(hc *v1.HealthCheck) (s probe.Schedule, raised []string) {
	period := func(field string, d *v1.Duration, def, floor time.Duration) time.Duration {
		v := def
		if d != nil && d.Duration > 0 {
			v = d.Duration
		}
		if v < floor {
			raised = append(raised, fmt.Sprintf("healthCheck.%s %s raised to the minimum of %s", field, v, floor))
			v = floor
		}
		return v
	}
	s.Interval = period("interval", hc.Interval, v1.DefaultHealthInterval, v1.MinCheckInterval)
	s.Timeout = period("timeout", hc.Timeout, v1.DefaultHealthTimeout, v1.MinCheckTimeout)
	s.StartInterval = period("startInterval", hc.StartInterval, v1.DefaultHealthStartInterval, v1.MinCheckStartInterval)
	return s, raised
}

// objectOf returns the kind and name of a work-queue key.
func objectOf(key string) (kind, name string) {
	if name, ok := strings.CutPrefix(key, jobKeyPrefix); ok {
		return v1.KindJob, name
	}
	if ref, ok := strings.CutPrefix(key, timerRunKeyPrefix); ok {
		timer, _, _ := strings.Cut(ref, "/")
		return v1.KindTimer, timer
	}
	return v1.KindUnit, key
}

// health is what the prober of one container has seen.
type health struct {
	Configured bool
	Passed     bool   // the check has passed since the container started
	Unhealthy  bool   // retries consecutive failures after it passed or after startPeriod
	Failures   int    // consecutive failures
	Output     string // of the last probe

	countedAt time.Time // when the last failure counted
}

// counting is how the failures of one container's check count (observe).
type counting struct {
	started     time.Time     // the container's start
	startPeriod time.Duration // failures before its end count only after a pass
	interval    time.Duration // failures count at most once an interval
	retries     int           // failures in a row that make it unhealthy
}

// runProber probes the container by the unit's health check until ctx
// ends, and queues the unit when the verdict moves.
func (c *Controller) runProber(ctx context.Context, p *prober, name string, u *v1.Unit, ctr runtime.Container) {
	defer close(p.done)
	hc := u.Spec.Container.HealthCheck
	sched, raised := healthSchedule(hc)
	if len(raised) > 0 {
		kind, obj := objectOf(name)
		msg := strings.Join(raised, ", ")
		c.o.Log.Warn("health check below the minimum interval, timeout or startInterval", "kind", kind, "name", obj, "raised", msg)
		c.o.Events.Event(ctx, kind, obj, v1.EventWarning, ReasonCheckBelowMinimum, "%s", msg)
	}
	cnt := counting{started: ctr.StartedAt, interval: sched.Interval, retries: hc.Retries}
	if hc.StartPeriod != nil {
		cnt.startPeriod = hc.StartPeriod.Duration
	}
	if cnt.started.IsZero() {
		cnt.started = time.Now()
	}
	check, err := healthProbe(&u.Spec.Container, &ctr)
	checker := probe.New(c.o.Runtime, probe.Container)
	// The first probe goes at once, and until one passes the next ones
	// follow quickly (startInterval, doubling): a container that is up
	// should not wait a whole interval to be found healthy, nor what
	// waits for it to be healthy.
	probe.Loop(ctx, sched,
		func(ctx context.Context) probe.Result {
			if err != nil {
				return probe.Result{Status: v1.CheckCritical, Output: err.Error()}
			}
			return checker.Do(ctx, check)
		},
		func(r probe.Result) {
			p.mu.Lock()
			changed := p.h.observe(r, time.Now(), cnt)
			p.mu.Unlock()
			if changed {
				c.loop.Enqueue(name)
			}
		})
}

// observe counts one probe's result, seen at now, as Docker's HEALTHCHECK
// does: a pass makes the container healthy and forgets the failures; a
// failure counts once the container has passed or its start period is
// over, and retries of them in a row make it unhealthy. A failure also
// counts only an interval or more after the last one that counted: the
// quick probes before the first pass find a container healthy sooner,
// they do not find it unhealthy sooner than probes an interval apart
// would. It reports whether the verdict or the count moved (a new output
// alone is no change).
func (h *health) observe(r probe.Result, now time.Time, c counting) bool {
	before := *h
	h.Output = r.Output
	if r.Passing() {
		h.Passed, h.Unhealthy, h.Failures, h.countedAt = true, false, 0, time.Time{}
		if h.Output == "" {
			h.Output = "passing"
		}
	} else {
		afterStart := h.Passed || now.Sub(c.started) >= c.startPeriod
		if afterStart && (h.countedAt.IsZero() || now.Sub(h.countedAt) >= c.interval) {
			h.Failures++
			h.countedAt = now
		}
		if h.Failures >= c.retries {
			h.Unhealthy = true
		}
	}
	return before.Passed != h.Passed || before.Unhealthy != h.Unhealthy || before.Failures != h.Failures
}

// healthProbe is the probe of a container's health check: an exec inside
// it, or an HTTP request or TCP connect to its port (see probeAddress).
func healthProbe(t *v1.ContainerTemplate, ctr *runtime.Container) (probe.Check, error) {
	hc := t.HealthCheck
	switch {
	case hc.Exec != nil:
		return probe.Check{Type: probe.TypeExec, Exec: hc.Exec.Command, Container: ctr.ID}, nil
	case hc.HTTP != nil:
		addr, err := probeAddress(t, ctr, hc.HTTP.Port)
		if err != nil {
			return probe.Check{}, err
		}
		return probe.Check{Type: probe.TypeHTTP, HTTP: fmt.Sprintf("%s://%s%s", hc.HTTP.Scheme, addr, hc.HTTP.Path)}, nil
	case hc.TCP != nil:
		addr, err := probeAddress(t, ctr, hc.TCP.Port)
		if err != nil {
			return probe.Check{}, err
		}
		return probe.Check{Type: probe.TypeTCP, TCP: addr}, nil
	}
	return probe.Check{}, errors.New("health check has neither http, tcp nor exec")
}

// probeAddress is where the controller reaches a container port: its
// published host port on the host, or the port itself with host networking.
func probeAddress(t *v1.ContainerTemplate, ctr *runtime.Container, port v1.IntOrString) (string, error) {
	cport := int(port.IntVal)
	proto := v1.ProtocolTCP
	if port.IsStr {
		cport = 0
		for _, p := range t.Ports {
			if p.Name == port.StrVal {
				cport, proto = p.ContainerPort, p.Protocol
			}
		}
		if cport == 0 {
			return "", fmt.Errorf("no port named %q", port.StrVal)
		}
	}
	if t.NetworkMode == "host" {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(cport)), nil
	}
	for _, b := range ctr.Ports {
		if b.ContainerPort == cport && (b.Protocol == "" || b.Protocol == string(proto)) && b.HostPort != 0 {
			ip := b.HostIP
			if ip == "" || ip == "0.0.0.0" || ip == "::" {
				ip = "127.0.0.1"
			}
			return net.JoinHostPort(ip, strconv.Itoa(b.HostPort)), nil
		}
	}
	if ctr.IPAddress != "" {
		return net.JoinHostPort(ctr.IPAddress, strconv.Itoa(cport)), nil
	}
	return "", fmt.Errorf("port %d is neither published nor reachable on a container address", cport)
}
