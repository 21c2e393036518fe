package registrator

import (
	"context"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/probe"
	"berth.dev/berth/internal/testenv"
)

// A runner's verdict follows Consul's thresholds: SuccessBeforePassing
// passes in a row to pass, FailuresBeforeCritical failures in a row to
// turn critical; a warning counts at once and resets both.
func TestRunnerRecord(t *testing.T) {
	t.Parallel()
	const P, W, C = v1.CheckPassing, v1.CheckWarning, v1.CheckCritical
	for _, tc := range []struct {
		name    string
		def     catalog.Check
		results []v1.CheckStatus
		want    []v1.CheckStatus // the verdict after each result
	}{
		{name: "no thresholds: each result at once", def: catalog.Check{Status: C},
			results: []v1.CheckStatus{P, C, W, P}, want: []v1.CheckStatus{P, C, W, P}},
		{name: "two passes before passing", def: catalog.Check{Status: C, SuccessBeforePassing: 2},
			results: []v1.CheckStatus{P, C, P, P, P}, want: []v1.CheckStatus{C, C, C, P, P}},
		{name: "three failures before critical", def: catalog.Check{Status: P, FailuresBeforeCritical: 3},
			results: []v1.CheckStatus{C, C, P, C, C, C}, want: []v1.CheckStatus{P, P, P, P, P, C}},
		{name: "a warning resets the counts", def: catalog.Check{Status: P, FailuresBeforeCritical: 2},
			results: []v1.CheckStatus{C, W, C, C}, want: []v1.CheckStatus{P, W, W, C}},
		{name: "no initial status: critical", def: catalog.Check{},
			results: []v1.CheckStatus{P}, want: []v1.CheckStatus{P}},
	} {
		rn := newRunner(tc.def, "", "", testingclock.NewFakeClock(time.Now()), func(string, v1.CheckStatus) {})
		if st, _, since := rn.state(); (tc.def.Status == "" || tc.def.Status == C) != (st == C && !since.IsZero()) {
			t.Errorf("%s: starts %s since %v", tc.name, st, since)
		}
		for i, res := range tc.results {
			rn.record(res, "output")
			if st, _, since := rn.state(); st != tc.want[i] || (st == C) == since.IsZero() {
				t.Errorf("%s: after result %d (%s): %s, critical since %v; want %s", tc.name, i+1, res, st, since, tc.want[i])
			}
		}
	}
}

func TestRunnerOutputIsCapped(t *testing.T) {
	t.Parallel()
	rn := newRunner(catalog.Check{Type: catalog.CheckTTL}, "", "", testingclock.NewFakeClock(time.Now()), func(string, v1.CheckStatus) {})
	if !rn.update(v1.CheckPassing, strings.Repeat("z", 2*probe.MaxOutput)) {
		t.Error("an update to passing changed nothing")
	}
	if _, out, _ := rn.state(); len(out) != probe.MaxOutput {
		t.Errorf("a TTL update's output of %d bytes is kept as %d, want %d", 2*probe.MaxOutput, len(out), probe.MaxOutput)
	}
}

// A TTL check stays as its last update said for its TTL, on the
// registrator's clock; an update moves its deadline; without one it turns
// critical and says so, and once critical for longer than its
// DeregisterCriticalAfter its endpoint is to go.
func TestRunnerTTL(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	clk := testingclock.NewFakeClock(time.Now())
	rn := newRunner(catalog.Check{Type: catalog.CheckTTL, TTL: ttl, DeregisterCriticalAfter: time.Minute}, "", "", clk, func(string, v1.CheckStatus) {})
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() { defer close(done); rn.run(ctx, nil, func() { changed <- struct{}{} }) }()
	defer func() { cancel(); <-done }()
	waiting := func() { testenv.Eventually(t, 10*time.Second, "the TTL runner waits", clk.HasWaiters) }
	status := func() string { st, out, _ := rn.state(); return string(st) + ": " + out }

	waiting()
	rn.update(v1.CheckPassing, "alive")
	clk.Step(ttl - time.Second)
	rn.update(v1.CheckPassing, "still alive") // the deadline moves to 2*ttl - 1s
	clk.Step(time.Second)                     // the first deadline passes
	waiting()
	if got := status(); got != "passing: still alive" {
		t.Fatalf("a TTL check updated within its TTL is %q", got)
	}
	clk.Step(ttl - 2*time.Second)
	waiting()
	if got := status(); got != "passing: still alive" {
		t.Fatalf("a second before its TTL passes, a TTL check is %q", got)
	}
	clk.Step(time.Second)
	testenv.Eventually(t, 10*time.Second, "critical once the TTL passes without an update", func() (bool, string) {
		s := status()
		return s == "critical: TTL expired: no update within 30s", s
	})
	<-changed
	c := rn.def
	if gone := rn.fill(&c); gone {
		t.Error("a check critical for no time yet is to be deregistered")
	}
	clk.Step(time.Minute + time.Second)
	if gone := rn.fill(&c); !gone {
		t.Errorf("a check critical for longer than its DeregisterCriticalAfter is kept: %+v", c)
	}
}
