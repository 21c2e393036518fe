package v1

import "time"

// Binding is what the scheduler decided for a Unit: the hosts that run it.
// It is stored under bindings/unit/<name>.
type Binding struct {
	Hosts []string `json:"hosts"`
	// Generation of the Unit the binding was computed for.
	Generation int64 `json:"generation,omitempty"`
	// Pending is how many of the Unit's replicas no host can take now
	// (not enough CPU or memory, a host port taken, no Up host that
	// matches), and PendingReason says why, host by host. They are placed
	// as soon as a host has room.
	Pending       int    `json:"pending,omitempty"`
	PendingReason string `json:"pendingReason,omitempty"`
}

// MatchesSelector reports whether labels carry every key=value of selector.
// An empty selector matches everything.
func MatchesSelector(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NeedsScheduler reports whether the scheduler chooses a Unit's hosts: when
// it is neither global nor pinned to the hosts it names.
func (p *Placement) NeedsScheduler() bool {
	return !p.Global && !(len(p.Hosts) > 0 && p.Replicas == 0)
}

// PlacedOn reports whether a Unit runs on the host of that name and
// labels, given the scheduler's binding (nil when there is none). The
// binding chooses among the candidates only: one that names a host the
// placement does not allow (Candidate) does not place the Unit there.
func (p *Placement) PlacedOn(host string, labels map[string]string, b *Binding) bool {
	switch {
	case p.Global:
		return MatchesSelector(labels, p.HostSelector)
	case !p.NeedsScheduler():
		return contains(p.Hosts, host)
	case b != nil:
		return contains(b.Hosts, host) && p.Candidate(host, labels)
	}
	return false
}

// Candidate reports whether the scheduler may place a Unit on a host.
func (p *Placement) Candidate(host string, labels map[string]string) bool {
	if len(p.Hosts) > 0 && !contains(p.Hosts, host) {
		return false
	}
	return MatchesSelector(labels, p.HostSelector)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// JobBinding is what the leading controller decided for a Job: which
// version runs on which host, and the progress of a rollout. It is stored
// under bindings/job/<name>. It names versions, never templates: a host
// takes a version's template from what an operator stored (the version's
// JobVersion record, or the Job itself for its current version), and runs
// it only where the Job's placement allows (JobSpec.Allows).
type JobBinding struct {
	// Hosts maps each host that runs the job to the version it runs.
	Hosts map[string]string `json:"hosts"`
	// Hashes holds, for every version in Hosts, the FullTemplateHash of
	// the template the binding was decided for: a host whose stored
	// template of that version has another hash does not run it.
	Hashes map[string]string `json:"hashes,omitempty"`
	// Rollout is the last rollout of a new version.
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// Stable is the last version that ran RUNNING and Ready on every host
	// of the Job: what a failed rollout with autoRevert returns to.
	Stable string `json:"stable,omitempty"`
}

// Allows reports whether the Job's placement lets the host of that name
// and labels run it: its deployments name the host, or it has a
// hostSelector that the labels match. Expiry is Expired's.
func (s *JobSpec) Allows(host string, labels map[string]string) bool {
	for _, d := range s.Deployments {
		if d.Host == host {
			return true
		}
	}
	return len(s.HostSelector) > 0 && MatchesSelector(labels, s.HostSelector)
}

// Expired reports whether the Job runs nowhere at now: its expires time
// has come.
func (s *JobSpec) Expired(now time.Time) bool {
	return s.Expires != nil && !now.Before(*s.Expires)
}

// RolloutState is the state of a rollout.
type RolloutState string

// Values of RolloutState.
const (
	RolloutRollingOut RolloutState = "ROLLING_OUT"
	// RolloutWaitingForPromotion: the canaries are healthy; the other
	// hosts wait for `applyctl rollout promote`.
	RolloutWaitingForPromotion RolloutState = "WAITING_FOR_PROMOTION"
	RolloutDone                RolloutState = "DONE"
	RolloutFailed              RolloutState = "FAILED"
	// RolloutReverted: the version failed and every host went back to
	// RevertedTo (autoRevert).
	RolloutReverted RolloutState = "REVERTED"
)

// RolloutStatus follows a new version across a job's hosts.
type RolloutStatus struct {
	Version string       `json:"version"`
	From    string       `json:"from,omitempty"`
	State   RolloutState `json:"state"`
	// Done, Current and Pending are the hosts already on the new version,
	// being moved to it, and still to move.
	Done    []string `json:"done,omitempty"`
	Current []string `json:"current,omitempty"`
	Pending []string `json:"pending,omitempty"`
	Failed  []string `json:"failed,omitempty"`
	// Canaries are the hosts the version moved to first; Promoted says
	// the rollout went on past them (autoPromote, or `applyctl rollout
	// promote`).
	Canaries []string `json:"canaries,omitempty"`
	Promoted bool     `json:"promoted,omitempty"`
	// HealthySince is when each host being moved was first seen RUNNING
	// and Ready on the version: it is healthy minHealthyTime later.
	HealthySince map[string]time.Time `json:"healthySince,omitempty"`
	// RevertedTo is the version every host went back to (REVERTED).
	RevertedTo string    `json:"revertedTo,omitempty"`
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	// StepStartedAt is when the hosts in Current were moved.
	StepStartedAt time.Time `json:"stepStartedAt,omitzero"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
}

// HistoryEntry is one state transition of a Job instance on a host, kept
// under history/<host>/job/<name>/<seq>, as Helios' history shows it.
type HistoryEntry struct {
	Host        string        `json:"host"`
	Timestamp   time.Time     `json:"timestamp"`
	State       InstanceState `json:"state"`
	Throttled   ThrottleState `json:"throttled,omitempty"`
	ContainerID string        `json:"containerID,omitempty"`
	Version     string        `json:"version,omitempty"`
	Message     string        `json:"message,omitempty"`
}
