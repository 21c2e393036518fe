package cli_test

import (
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

// rolloutEnv has job nc at version 2 on three hosts, host-a still on 1.
func rolloutEnv(t *testing.T) *env {
	e := newEnv(t)
	e.applyDocs(jobDoc("nc", "2", "  deployments: [{host: host-a}, {host: host-b}, {host: host-c}]\n"))
	return e
}

func rolling(done, current, pending []string) v1.JobBinding {
	hosts := map[string]string{}
	for _, h := range done {
		hosts[h] = "2"
	}
	for _, h := range append(append([]string(nil), current...), pending...) {
		hosts[h] = "1"
	}
	return v1.JobBinding{Hosts: hosts, Rollout: &v1.RolloutStatus{Version: "2", From: "1", State: v1.RolloutRollingOut,
		Done: done, Current: current, Pending: pending}}
}

func TestRolloutStatusDone(t *testing.T) {
	t.Parallel()
	e := rolloutEnv(t)
	// Applied, not yet rolling out: every host still runs version 1.
	e.setJobBinding("nc", v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-b": "1", "host-c": "1"}})
	r := e.start("", "rollout", "status", "job", "nc")
	r.out.waitFor(t, "Waiting for job \"nc\" rollout of version 2 to start: 0 of 3 hosts run it...\n")

	e.setJobBinding("nc", rolling(nil, []string{"host-a"}, []string{"host-b", "host-c"}))
	r.out.waitFor(t, "Waiting for job \"nc\" rollout to finish: 0 of 3 hosts updated (moving host-a)...\n")
	e.setJobBinding("nc", rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"}))
	r.out.waitFor(t, "Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n")
	// The same progress written again prints nothing new.
	e.setJobBinding("nc", rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"}))
	done := rolling([]string{"host-a", "host-b", "host-c"}, nil, nil)
	done.Rollout.State = v1.RolloutDone
	e.setJobBinding("nc", done)
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}
	wantEqual(t, "rollout status", r.out.String(),
		"Waiting for job \"nc\" rollout of version 2 to start: 0 of 3 hosts run it...\n"+
			"Waiting for job \"nc\" rollout to finish: 0 of 3 hosts updated (moving host-a)...\n"+
			"Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n"+
			"job \"nc\" successfully rolled out to version 2\n")

	// Done already: at once; and once more with the rollout gone.
	e.wantRun("done", e.run("", "rollout", "status", "job/nc"), 0, "job \"nc\" successfully rolled out to version 2\n", "")
	done.Rollout = nil
	e.setJobBinding("nc", done)
	e.wantRun("no rollout", e.run("", "rollout", "status", "job", "nc"), 0, "job \"nc\" has no rollout: version 2 runs on 3 host(s)\n", "")
	out := e.ok("rollout", "status", "job", "nc", "-o", "json")
	if !strings.Contains(out, `"phase": "NONE"`) {
		t.Errorf("rollout status -o json:\n%s", out)
	}
}

func TestRolloutStatusFailed(t *testing.T) {
	t.Parallel()
	e := rolloutEnv(t)
	e.setJobBinding("nc", rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"}))
	e.wantRun("--watch=false", e.run("", "rollout", "status", "job", "nc", "--watch=false"), 0,
		"Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n", "")

	r := e.start("", "rollout", "status", "job", "nc")
	r.out.waitFor(t, "Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n")
	failed := rolling([]string{"host-a"}, nil, []string{"host-c"})
	failed.Rollout.State, failed.Rollout.Failed = v1.RolloutFailed, []string{"host-b"}
	failed.Rollout.Message = "rollout stopped: host-b: EXITED (exit code 1) within 1m0s"
	e.setJobBinding("nc", failed)
	if code := r.exit(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, r.out, r.err)
	}
	wantEqual(t, "stderr", r.err.String(), "error: job \"nc\" rollout failed: rollout stopped: host-b: EXITED (exit code 1) within 1m0s\n")

	e.wantRun("timeout", e.run("", "rollout", "status", "job", "nope"), 1, "", "Error: job \"nope\" not found\n")
	e.setJobBinding("nc", rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"}))
	e.wantRun("timeout", e.run("", "rollout", "status", "job", "nc", "--timeout", "50ms"), 1,
		"Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n", "error: timed out waiting for the condition\n")
	e.wantRun("unit", e.run("", "rollout", "status", "unit", "nc"), 2, "",
		"Error: rollout status is for jobs, not units\nSee 'applyctl rollout status --help' for usage.\n")
}

// canaryWaiting is job nc's binding with host-a's canary of version 2
// healthy, host-b and host-c waiting for promotion on version 1.
func canaryWaiting() v1.JobBinding {
	b := rolling([]string{"host-a"}, nil, []string{"host-b", "host-c"})
	b.Rollout.State, b.Rollout.Canaries = v1.RolloutWaitingForPromotion, []string{"host-a"}
	b.Stable = "1"
	return b
}

// TestRolloutCanaryPromote: rollout status says which host is the
// canary and which version runs where while it waits for promotion, and
// goes on waiting; promote annotates the Job with its version, once, and
// refuses a Job without canaries to promote.
func TestRolloutCanaryPromote(t *testing.T) {
	t.Parallel()
	e := rolloutEnv(t)
	canary := rolling(nil, []string{"host-a"}, []string{"host-b", "host-c"})
	canary.Rollout.Canaries = []string{"host-a"}
	e.setJobBinding("nc", canary)
	r := e.start("", "rollout", "status", "job", "nc")
	r.out.waitFor(t, "Waiting for job \"nc\" rollout to finish: 0 of 3 hosts updated (canary host-a)...\n")
	e.setJobBinding("nc", canaryWaiting())
	waiting := "Waiting for job \"nc\" rollout to be promoted: canaries host-a healthy on version 2; " +
		"version 1 on host-b, host-c; version 2 on host-a (canary) (applyctl rollout promote job nc)...\n"
	r.out.waitFor(t, waiting)
	if !r.running() {
		t.Fatalf("rollout status ended while the canaries wait for promotion:\n%s%s", r.out, r.err)
	}

	e.wantRun("promote", e.run("", "rollout", "promote", "job", "nc"), 0,
		"job/nc promoted: version 2 goes on past its canaries host-a\n", "")
	if got := e.job("nc").Metadata.Annotations[v1.AnnotationPromote]; got != "2" {
		t.Errorf("annotation %s = %q, want 2", v1.AnnotationPromote, got)
	}
	e.wantRun("promote again", e.run("", "rollout", "promote", "job/nc"), 0, "job/nc version 2 promoted already\n", "")

	promoted := rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"})
	promoted.Rollout.Canaries, promoted.Rollout.Promoted = []string{"host-a"}, true
	e.setJobBinding("nc", promoted)
	r.out.waitFor(t, "Waiting for job \"nc\" rollout to finish: 1 of 3 hosts updated (moving host-b)...\n")
	done := rolling([]string{"host-a", "host-b", "host-c"}, nil, nil)
	done.Rollout.State = v1.RolloutDone
	e.setJobBinding("nc", done)
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, r.out, r.err)
	}

	e.setJobBinding("nc", rolling([]string{"host-a"}, []string{"host-b"}, []string{"host-c"}))
	e.wantRun("no canaries", e.run("", "rollout", "promote", "job", "nc"), 1, "",
		"Error: job \"nc\" has no rollout of version 2 with canaries to promote\n")
	e.wantRun("a unit", e.run("", "rollout", "promote", "unit", "nc"), 2, "",
		"Error: rollout promote is for jobs, not units\nSee 'applyctl rollout promote --help' for usage.\n")
}

// TestRolloutRevertedAndUndo: a reverted rollout ends rollout status with
// exit 1 and the controller's words; undo stores the Job at its stable
// version with that version's stored template; a version not stored, or
// no stable one, is refused with the versions there are.
func TestRolloutRevertedAndUndo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deployments := "  deployments: [{host: host-a}, {host: host-b}]\n"
	e.applyDocs(jobDoc("nc", "1", deployments))
	e.wantRun("undo without a stable version", e.run("", "rollout", "undo", "job", "nc"), 1, "",
		"Error: job \"nc\" has no earlier version that ran healthy on every host: name one with --to-version (stored: 1)\n")
	e.applyDocs(jobDoc("nc", "2", deployments))
	reverted := v1.JobBinding{Hosts: map[string]string{"host-a": "1", "host-b": "1"}, Stable: "1",
		Rollout: &v1.RolloutStatus{Version: "2", From: "1", State: v1.RolloutReverted, RevertedTo: "1", Failed: []string{"host-a"}, Canaries: []string{"host-a"},
			Message: "version 2 unhealthy on host-a for 30s (healthyDeadline): reverted to 1; host-a: HEALTHCHECKING: health check failing"}}
	e.setJobBinding("nc", reverted)
	e.wantRun("status of a reverted rollout", e.run("", "rollout", "status", "job", "nc"), 1, "",
		"error: job \"nc\" rollout reverted: version 2 unhealthy on host-a for 30s (healthyDeadline): reverted to 1; host-a: HEALTHCHECKING: health check failing\n")
	out := e.run("", "rollout", "status", "job", "nc", "-o", "json").out
	if !strings.Contains(out, `"phase": "REVERTED"`) || !strings.Contains(out, `"host-a": "1"`) || !strings.Contains(out, `"stable": "1"`) {
		t.Errorf("rollout status -o json:\n%s", out)
	}
	e.wantRun("promote a reverted rollout", e.run("", "rollout", "promote", "job", "nc"), 1, "",
		"Error: job \"nc\": the rollout of version 2 ended REVERTED, nothing to promote: "+reverted.Rollout.Message+"\n")

	e.wantRun("undo", e.run("", "rollout", "undo", "job", "nc"), 0, "job/nc rolled back to version 1 (from 2)\n", "")
	j := e.job("nc")
	if j.Spec.Version != "1" || j.Spec.Container.Image != "nc:1" {
		t.Errorf("after undo: version %s image %s, want version 1 with nc:1", j.Spec.Version, j.Spec.Container.Image)
	}
	e.wantRun("undo to a version not stored", e.run("", "rollout", "undo", "job", "nc", "--to-version", "7"), 1, "",
		"Error: version 7 of job \"nc\" is not stored (stored: 1, 2)\n")
	e.wantRun("undo to version 2", e.run("", "rollout", "undo", "job", "nc", "--to-version", "2"), 0, "job/nc rolled back to version 2 (from 1)\n", "")
	e.wantRun("undo to where it is", e.run("", "rollout", "undo", "job", "nc", "--to-version", "2"), 1, "", "Error: job \"nc\" is at version 2 already\n")
}
