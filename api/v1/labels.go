package v1

import (
	"maps"
	"slices"
	"strings"
)

// Labels berth puts on every container it starts. Only containers labelled
// with a host's name are ever touched by that host's controller.
const (
	LabelHost     = Group + "/host"
	LabelKind     = Group + "/kind"
	LabelName     = Group + "/name"
	LabelSpecHash = Group + "/spec-hash"
	// LabelVersion is a Job's version.
	LabelVersion = Group + "/version"
)

// NetworkName is the user-defined Docker network the Units of a host share;
// each Unit is reachable on it by its name.
const NetworkName = "berth"

// ContainerName is the name of the container of an object on a host:
// berth-<kind>-<name> in lower case; a Job adds its version.
func ContainerName(kind, name, version string) string {
	n := "berth-" + lower(kind) + "-" + name
	if version != "" {
		n += "-" + version
	}
	return n
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AnnotationPromote, set by `applyctl rollout promote` to a Job's
// version, lets the rollout of that version go on past its canaries.
const AnnotationPromote = Group + "/promote"

// AnnotationRestartedAt, set by `applyctl restart` to an RFC 3339 time,
// asks the hosts running a Unit to restart its container if it started
// before that time.
const AnnotationRestartedAt = Group + "/restarted-at"

// FormatLabels formats labels or a selector as users read them in tables
// and messages: k=v,k=v sorted by key, or <none>.
func FormatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
