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
