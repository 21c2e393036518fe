package units

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// bindingCheck is what a host checks a Job's binding against before it
// runs anything: what operators wrote (the Job and its version records)
// and what it knows of itself. The binding, which the leading controller
// writes, decides only where a version runs.
type bindingCheck struct {
	Host   string
	Labels map[string]string
	Now    time.Time
	// Job is the stored Job, defaulted, and JobRev its mod revision.
	Job    *v1.Job
	JobRev int64
	// Binding is the Job's binding (nil: none), BindingRev its mod
	// revision.
	Binding    *v1.JobBinding
	BindingRev int64
	// Version is the record of the version the binding gives this host
	// (nil: none stored).
	Version *v1.JobVersion
}

// bindingVerdict is what the host does about a Job.
type bindingVerdict struct {
	// Placed: run Version with Template on this host.
	Placed   bool
	Version  string
	Template v1.ContainerTemplate
	// Refused says why a binding that gives this host a version is not
	// followed ("": it is, or the host has none).
	Refused string
	// Stale: the binding was refused but is older than the Job's last
	// change, so the leading controller has not decided for the Job as it
	// is yet: nothing runs, and nothing is reported.
	Stale bool
}

// checkBinding decides whether this host runs a version of the Job, and
// with which template. It does no I/O. The rules, in order:
//
//   - No binding, or one that gives this host no version: not placed.
//   - The Job expired: not placed.
//   - The Job's placement does not allow this host (its deployments do not
//     name it, and it has no hostSelector that this host's labels match):
//     refused.
//   - The template is the version's record; for the Job's current version
//     without one (stored before records were kept), the Job's own. No
//     record of another version: refused.
//   - A binding that gives the version's hash (v1.FullTemplateHash) must
//     give the template's: else refused. A binding without one (written by
//     an earlier leader) takes the stored template.
//   - Otherwise placed, with that version and template.
//
// A refusal of a binding older than the Job's last change is Stale: the
// leader has not caught up with the operator's change yet (an undeploy, a
// Job deleted and created again). Refused is set either way.
func checkBinding(in bindingCheck) bindingVerdict {
	j := in.Job
	if in.Binding == nil {
		return bindingVerdict{}
	}
	ver, ok := in.Binding.Hosts[in.Host]
	if !ok || j.Spec.Expired(in.Now) {
		return bindingVerdict{}
	}
	name := j.Metadata.Name
	refuse := func(format string, args ...any) bindingVerdict {
		return bindingVerdict{Version: ver, Stale: in.BindingRev <= in.JobRev,
			Refused: fmt.Sprintf("binding of job %s refused: ", name) + fmt.Sprintf(format, args...)}
	}
	if !j.Spec.Allows(in.Host, in.Labels) {
		return refuse("it places version %s on host %s, which the job's placement does not allow (%s)",
			ver, in.Host, placementOf(&j.Spec))
	}
	var tmpl v1.ContainerTemplate
	switch {
	case in.Version != nil:
		tmpl = in.Version.Container
	case ver == j.Spec.Version:
		tmpl = j.Spec.Container
	default:
		return refuse("version %s has no template an operator stored (objects/jobversion/%s/%s)", ver, name, ver)
	}
	hash := v1.FullTemplateHash(&tmpl)
	if want, ok := in.Binding.Hashes[ver]; ok && want != hash {
		return refuse("it names version %s with template hash %s, but the stored template of %s:%s has hash %s",
			ver, short(want), name, ver, short(hash))
	}
	return bindingVerdict{Placed: true, Version: ver, Template: tmpl}
}

// placementOf describes a Job's placement for a message.
func placementOf(s *v1.JobSpec) string {
	hosts := make([]string, 0, len(s.Deployments))
	for _, d := range s.Deployments {
		hosts = append(hosts, d.Host)
	}
	out := "deployments: " + dashIfEmpty(strings.Join(hosts, ", "))
	sel := make([]string, 0, len(s.HostSelector))
	for _, k := range slices.Sorted(maps.Keys(s.HostSelector)) {
		sel = append(sel, k+"="+s.HostSelector[k])
	}
	return out + "; hostSelector: " + dashIfEmpty(strings.Join(sel, ","))
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
