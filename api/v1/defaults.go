package v1

import "time"

// Defaults of the fields a user may leave out.
const (
	DefaultStopTimeout        = 10 * time.Second
	DefaultRestartDelay       = time.Second
	DefaultRestartMaxDelay    = 5 * time.Minute
	DefaultStartLimitBurst    = 5
	DefaultStartLimitInterval = 10 * time.Second
	DefaultHealthInterval     = 10 * time.Second
	DefaultHealthTimeout      = 5 * time.Second
	DefaultHealthRetries      = 3
	DefaultCheckInterval      = 10 * time.Second
	DefaultCheckTimeout       = 10 * time.Second
	DefaultRolloutTimeout     = 5 * time.Minute
	DefaultGitInterval        = time.Minute
	DefaultGitTimeout         = 60 * time.Second
	DefaultGitBranch          = "main"
	MinGitInterval            = 5 * time.Second
)

// DefaultHealthStartInterval is a health check's startInterval when unset:
// until the check first passes, a failed probe is followed this soon, then
// twice as long each time up to its interval.
const DefaultHealthStartInterval = 100 * time.Millisecond

// Floors of health checks, whatever declares them (a Unit's or Job's
// healthCheck, a Service's checks, SERVICE_CHECK_* on a container, the
// Consul agent API): a shorter interval, TTL or timeout is raised to these
// where the check runs, with a warning, as Consul raises an interval
// below its minimum. A probe is a docker exec or a connection; without a
// floor, an interval of 1ns runs them back to back.
const (
	MinCheckInterval = time.Second // also the floor of a TTL
	MinCheckTimeout  = time.Second // as Kubernetes' timeoutSeconds: a probe needs time to answer
)

// MinCheckStartInterval is the floor of a health check's startInterval:
// the quick probes before the first pass double from it, so that a
// container that never answers is probed a few times more (about
// log2(interval/startInterval)), never back to back.
const MinCheckStartInterval = 100 * time.Millisecond

// Default fills in the defaults of every field the user left out. It is
// idempotent and touches nothing the user set, but for writing capability
// names in one form (NET_ADMIN for cap_net_admin).
func Default(o Object) {
	tm := o.GetTypeMeta()
	if tm.APIVersion == "" {
		tm.APIVersion = APIVersion
	}
	switch v := o.(type) {
	case *Unit:
		defaultTemplate(&v.Spec.Container)
		s := &v.Spec
		if s.Goal == "" {
			s.Goal = GoalStart
		}
		r := &s.Restart
		if r.Policy == "" {
			r.Policy = RestartAlways
		}
		setDuration(&r.Delay, DefaultRestartDelay)
		setDuration(&r.MaxDelay, DefaultRestartMaxDelay)
		if r.StartLimit == nil {
			r.StartLimit = &StartLimit{Burst: DefaultStartLimitBurst}
		}
		setDuration(&r.StartLimit.Interval, DefaultStartLimitInterval)
		if s.Placement.Replicas == 0 && !s.Placement.Global && len(s.Placement.Hosts) == 0 {
			s.Placement.Replicas = 1
		}
		for dep, c := range s.StartCondition {
			if c == "" {
				s.StartCondition[dep] = StartConditionStarted
			}
		}
	case *Job:
		defaultTemplate(&v.Spec.Container)
		for i := range v.Spec.Deployments {
			if v.Spec.Deployments[i].Goal == "" {
				v.Spec.Deployments[i].Goal = GoalStart
			}
		}
		r := &v.Spec.Rollout
		if r.Parallelism == 0 {
			r.Parallelism = 1
		}
		setDuration(&r.Timeout, DefaultRolloutTimeout)
		if r.OnFailure == "" {
			r.OnFailure = RolloutStop
		}
	case *GitSource:
		s := &v.Spec
		if s.Ref == (GitRef{}) {
			s.Ref.Branch = DefaultGitBranch
		}
		if s.Path == "" {
			s.Path = "."
		}
		setDuration(&s.Interval, DefaultGitInterval)
		setDuration(&s.Timeout, DefaultGitTimeout)
	case *Timer:
		defaultTimer(v)
	case *Service:
		for i := range v.Spec.Checks {
			c := &v.Spec.Checks[i]
			if c.TTL == nil {
				setDuration(&c.Interval, DefaultCheckInterval)
				setDuration(&c.Timeout, DefaultCheckTimeout)
			}
			if c.HTTP != "" && c.Method == "" {
				c.Method = "GET"
			}
			if c.InitialStatus == "" {
				c.InitialStatus = CheckCritical
			}
		}
	}
}

func defaultTemplate(t *ContainerTemplate) {
	if t.PullPolicy == "" {
		t.PullPolicy = PullIfNotPresent
	}
	for i := range t.Ports {
		if t.Ports[i].Protocol == "" {
			t.Ports[i].Protocol = ProtocolTCP
		}
	}
	for i := range t.Volumes {
		if t.Volumes[i].HostPath != "" && t.Volumes[i].Type == "" {
			t.Volumes[i].Type = HostPathDirectoryOrCreate
		}
	}
	if t.StopSignal == "" {
		t.StopSignal = "SIGTERM"
	}
	setDuration(&t.StopTimeout, DefaultStopTimeout)
	if sc := t.SecurityContext; sc != nil && sc.Capabilities != nil {
		// "cap_net_admin" and "NET_ADMIN" are one capability, and hash as one.
		for _, l := range [][]string{sc.Capabilities.Add, sc.Capabilities.Drop} {
			for i := range l {
				l[i] = NormalizeCapability(l[i])
			}
		}
	}
	if h := t.HealthCheck; h != nil {
		setDuration(&h.Interval, DefaultHealthInterval)
		setDuration(&h.Timeout, DefaultHealthTimeout)
		setDuration(&h.StartPeriod, 0)
		if h.Retries == 0 {
			h.Retries = DefaultHealthRetries
		}
		if h.HTTP != nil && h.HTTP.Path == "" {
			h.HTTP.Path = "/"
		}
		if h.HTTP != nil && h.HTTP.Scheme == "" {
			h.HTTP.Scheme = "http"
		}
	}
}

func setDuration(p **Duration, d time.Duration) {
	if *p == nil {
		v := D(d)
		*p = &v
	}
}
