package v1

import (
	"time"
)

// Group and Version of every berth object.
const (
	Group      = "berth.dev"
	Version    = "v1"
	APIVersion = Group + "/" + Version
)

// Kinds that can be applied or read.
const (
	KindUnit      = "Unit"
	KindJob       = "Job"
	KindService   = "Service"
	KindHost      = "Host"
	KindGitSource = "GitSource"
	KindTimer     = "Timer"
)

// TypeMeta names the schema of an object.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the metadata every object carries. Name, Labels and
// Annotations are the user's; the store sets UID, Generation,
// ResourceVersion and CreationTimestamp.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp,omitzero"`
}

// Object is implemented by every kind.
type Object interface {
	// GetTypeMeta returns the object's apiVersion and kind.
	GetTypeMeta() *TypeMeta
	// GetObjectMeta returns the object's metadata for reading and writing.
	GetObjectMeta() *ObjectMeta
	// DeepCopyObject returns a copy that shares nothing with the original.
	DeepCopyObject() Object
}

// ConditionStatus is the status of a Condition.
type ConditionStatus string

// Values of ConditionStatus.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Condition types berth reports.
const (
	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
)

// Condition follows the shape of Kubernetes' metav1.Condition.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	ObservedGeneration int64           `json:"observedGeneration,omitempty"`
	LastTransitionTime time.Time       `json:"lastTransitionTime,omitzero"`
	Reason             string          `json:"reason"`
	Message            string          `json:"message,omitempty"`
}

// SetCondition sets c in conds, keeping LastTransitionTime when the status
// did not change, and returns the new slice. now is used when it did.
func SetCondition(conds []Condition, c Condition, now time.Time) []Condition {
	for i := range conds {
		if conds[i].Type != c.Type {
			continue
		}
		if conds[i].Status == c.Status {
			c.LastTransitionTime = conds[i].LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		conds[i] = c
		return conds
	}
	c.LastTransitionTime = now
	return append(conds, c)
}

// FindCondition returns the condition of type t, or nil.
func FindCondition(conds []Condition, t string) *Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
