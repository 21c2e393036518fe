package v1

import "time"

// Job is a versioned deployment of one container to the hosts the operator
// names, as Helios runs them. Its id is name:version:hash.
type Job struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta    `json:"metadata"`
	Spec     JobSpec       `json:"spec"`
	Status   *ObjectStatus `json:"status,omitempty"`
}

// JobSpec is what the user asks of a Job.
type JobSpec struct {
	Version   string            `json:"version"`
	Container ContainerTemplate `json:"container"`
	// Deployments names hosts and the goal on each.
	Deployments []Deployment `json:"deployments,omitempty"`
	// HostSelector deploys to every Up host whose labels match.
	HostSelector map[string]string `json:"hostSelector,omitempty"`
	// Expires undeploys the job at that time.
	Expires      *time.Time     `json:"expires,omitempty"`
	GracePeriod  *Duration      `json:"gracePeriod,omitempty"`
	Registration []Registration `json:"registration,omitempty"`
	Rollout      Rollout        `json:"rollout,omitzero"`
}

// Deployment is a job's goal on one host.
type Deployment struct {
	Host string `json:"host"`
	Goal Goal   `json:"goal,omitempty"`
}

// Registration maps a named port to a service name and tags.
type Registration struct {
	Port    string   `json:"port"`
	Service string   `json:"service"`
	Tags    []string `json:"tags,omitempty"`
}

// RolloutFailure says what a rollout does when a host fails.
type RolloutFailure string

// Values of RolloutFailure.
const (
	RolloutStop     RolloutFailure = "stop"
	RolloutContinue RolloutFailure = "continue"
)

// Rollout paces a new version across the job's hosts, as Nomad's update
// block does.
type Rollout struct {
	// Parallelism is how many hosts move at a time once the canaries, if
	// any, are promoted (Nomad's max_parallel).
	Parallelism int `json:"parallelism,omitempty"`
	// Timeout bounds each step: the hosts moved together must all be
	// healthy within it.
	Timeout *Duration `json:"timeout,omitempty"`
	// OnFailure says what a host that fails does to the rollout, when
	// AutoRevert does not apply: stop it, or pass the host over.
	OnFailure RolloutFailure `json:"onFailure,omitempty"`
	// Canary is how many hosts the new version moves to first; the others
	// wait until the canaries are healthy and promoted. A canary that
	// fails stops the rollout whatever OnFailure says.
	Canary int `json:"canary,omitempty"`
	// AutoPromote goes on past healthy canaries; without it the rollout
	// waits for `applyctl rollout promote`.
	AutoPromote bool `json:"autoPromote,omitempty"`
	// MinHealthyTime is how long a moved host's instance must stay
	// RUNNING and Ready before it counts healthy (default 0: at once).
	MinHealthyTime *Duration `json:"minHealthyTime,omitempty"`
	// HealthyDeadline is how long a moved host has to become healthy
	// (default: Timeout).
	HealthyDeadline *Duration `json:"healthyDeadline,omitempty"`
	// AutoRevert returns every host to the last version that ran healthy
	// on every host (JobBinding.Stable) when the new one fails.
	AutoRevert bool `json:"autoRevert,omitempty"`
}

// Deadline is how long a moved host has to become healthy, and which
// field says so: HealthyDeadline when it is set and shorter than
// Timeout, else Timeout.
func (r *Rollout) Deadline() (time.Duration, string) {
	var timeout time.Duration
	if r.Timeout != nil {
		timeout = r.Timeout.Duration
	}
	if r.HealthyDeadline != nil && (timeout == 0 || r.HealthyDeadline.Duration < timeout) {
		return r.HealthyDeadline.Duration, "healthyDeadline"
	}
	return timeout, "timeout"
}

// MinHealthy is MinHealthyTime, 0 when unset.
func (r *Rollout) MinHealthy() time.Duration {
	if r.MinHealthyTime == nil {
		return 0
	}
	return r.MinHealthyTime.Duration
}

func (j *Job) GetTypeMeta() *TypeMeta     { return &j.TypeMeta }
func (j *Job) GetObjectMeta() *ObjectMeta { return &j.Metadata }
func (j *Job) DeepCopyObject() Object     { return deepCopy(j) }

// ID returns the job id users see: name:version:hash, the hash covering the
// container template.
func (j *Job) ID() string {
	return j.Metadata.Name + ":" + j.Spec.Version + ":" + TemplateHash(&j.Spec.Container)
}

// JobVersion is one version of a Job's container template as an operator
// stored it: applyctl and the GitSource loop write it under
// objects/jobversion/<job>/<version> in the transaction that stores the
// Job, and never change it (a version's template is immutable). A host
// runs a version of a Job only with the template of its record (or, for
// the Job's current version, the Job's own), never with one carried by a
// binding, which the leading controller writes.
type JobVersion struct {
	Job       string            `json:"job"`
	Version   string            `json:"version"`
	Container ContainerTemplate `json:"container"`
	// CreationTimestamp is when the version was first stored.
	CreationTimestamp time.Time `json:"creationTimestamp,omitzero"`
}

// NewJobVersion returns the record of j's current version, created at now.
func NewJobVersion(j *Job, now time.Time) *JobVersion {
	return &JobVersion{Job: j.Metadata.Name, Version: j.Spec.Version,
		Container: *deepCopy(&j.Spec.Container), CreationTimestamp: now.UTC().Truncate(time.Second)}
}

// Default fills in the defaults of the record's template, as Default
// does for a Job's.
func (v *JobVersion) Default() { defaultTemplate(&v.Container) }

// Hash returns the FullTemplateHash of the record's template.
func (v *JobVersion) Hash() string { return FullTemplateHash(&v.Container) }
