package v1

// Unit is one container service, as a systemd unit that runs a container:
// a container template, a restart policy, dependencies on other Units,
// placement on hosts and a goal.
type Unit struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta    `json:"metadata"`
	Spec     UnitSpec      `json:"spec"`
	Status   *ObjectStatus `json:"status,omitempty"`
}

// UnitSpec is what the user asks of a Unit.
type UnitSpec struct {
	Description string            `json:"description,omitempty"`
	Container   ContainerTemplate `json:"container"`
	Restart     RestartPolicy     `json:"restart,omitzero"`
	// Requires: start after these Units, and only while they are up.
	Requires []string `json:"requires,omitempty"`
	// Wants: start after these Units when they exist, never blocked by them.
	Wants []string `json:"wants,omitempty"`
	// After: ordering only.
	After []string `json:"after,omitempty"`
	// StartCondition says, per dependency, what it must reach before this
	// Unit starts: started (default), healthy or completed.
	StartCondition map[string]StartCondition `json:"startCondition,omitempty"`
	Placement      Placement                 `json:"placement,omitzero"`
	Goal           Goal                      `json:"goal,omitempty"`
	// GracePeriod takes the Unit's endpoints out of discovery this long
	// before its container is stopped.
	GracePeriod *Duration `json:"gracePeriod,omitempty"`
}

// RestartPolicyType says when a container that exited is started again.
type RestartPolicyType string

// Values of RestartPolicyType.
const (
	RestartAlways    RestartPolicyType = "always"
	RestartOnFailure RestartPolicyType = "on-failure"
	RestartNever     RestartPolicyType = "never"
)

// RestartPolicy is the restart behaviour of a Unit: exponential backoff from
// Delay to MaxDelay, and a start limit after which the instance is FAILED.
type RestartPolicy struct {
	Policy     RestartPolicyType `json:"policy,omitempty"`
	Delay      *Duration         `json:"delay,omitempty"`
	MaxDelay   *Duration         `json:"maxDelay,omitempty"`
	StartLimit *StartLimit       `json:"startLimit,omitempty"`
}

// StartLimit is systemd's StartLimitBurst within StartLimitIntervalSec.
type StartLimit struct {
	Burst    int       `json:"burst"`
	Interval *Duration `json:"interval,omitempty"`
}

// StartCondition is what a dependency must reach before the dependent starts.
type StartCondition string

// Values of StartCondition, as in compose's depends_on.
const (
	StartConditionStarted   StartCondition = "started"
	StartConditionHealthy   StartCondition = "healthy"
	StartConditionCompleted StartCondition = "completed"
)

// Goal is the state the user wants an instance in.
type Goal string

// Values of Goal.
const (
	GoalStart Goal = "start"
	GoalStop  Goal = "stop"
)

// Placement says on which hosts a Unit runs:
//
//   - Global: on every Up host whose labels match HostSelector;
//   - Hosts without Replicas: on each host named;
//   - otherwise: Replicas instances (default 1), one per host, on hosts the
//     scheduler chooses among the Up hosts that match HostSelector (and are
//     named in Hosts, when Hosts is set), fewest instances first.
type Placement struct {
	Hosts        []string          `json:"hosts,omitempty"`
	HostSelector map[string]string `json:"hostSelector,omitempty"`
	Replicas     int               `json:"replicas,omitempty"`
	Global       bool              `json:"global,omitempty"`
}

func (u *Unit) GetTypeMeta() *TypeMeta     { return &u.TypeMeta }
func (u *Unit) GetObjectMeta() *ObjectMeta { return &u.Metadata }
func (u *Unit) DeepCopyObject() Object     { return deepCopy(u) }
