package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// TestLogsOfEachHostOnOneMachine: two controllers on one machine, each on
// its own loopback port, sharing an etcd and the engine, each run an
// instance of one Unit that prints its host's name. applyctl logs and
// status read each host's output from that host's controller. A third
// host whose record gives the first one's loopback address, as a host on
// another machine listening on that same port of its own loopback would,
// is reported unreachable from here, never shown with the first's output.
func TestLogsOfEachHostOnOneMachine(t *testing.T) {
	t.Parallel()
	etcd := strings.Join(testenv.Etcd(t), ",")
	a := newUnitHost(t, controllerOpts{etcdEndpoints: etcd}, false)
	b := newUnitHost(t, controllerOpts{etcdEndpoints: etcd}, false)
	name := a.unit("who")
	a.apply(fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  placement: {hosts: [%s, %s]}\n"+
		"  restart: {policy: never}\n  container:\n    image: %s\n    args: [env, BERTH_HOST]\n", name, a.name, b.name, testImage))
	for _, h := range []*unitHost{a, b} {
		eventually(t, 60*time.Second, "the logs of "+h.name+"'s instance", func() (bool, string) {
			out, errOut, code := applyctl(t, etcd, "", "logs", "unit", name, "--host", h.name)
			return code == 0 && out == h.name+"\n", fmt.Sprintf("exit %d: %q %q", code, out, errOut)
		})
	}

	// Host far's controller listens on a.c.listen of its own machine.
	far := "e2e-far-" + randomSuffix(6)
	s := testenv.NewStore(t, store.Config{Endpoints: strings.Split(etcd, ",")})
	ctx := context.Background()
	put := func(key string, v any) {
		t.Helper()
		buf, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, key, buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(store.HostKey(far), v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost},
		Metadata: v1.ObjectMeta{Name: far}, Status: v1.HostStatus{HTTPAddress: a.c.listen, HTTPScheme: "http", Addresses: []string{"192.0.2.7"}}})
	put(store.StatusKey(v1.KindUnit, name, far), v1.InstanceStatus{Host: far, Goal: v1.GoalStart, State: v1.StateRunning, ObservedGeneration: 1})

	unreachable := fmt.Sprintf("host %s is unreachable from here: its host record gives %s, where host %s's controller answers", far, a.c.listen, a.name)
	out, errOut, code := applyctl(t, etcd, "", "logs", "unit", name, "--host", far)
	if code != 1 || out != "" || !strings.Contains(errOut, unreachable) || !strings.Contains(errOut, "loopback") {
		t.Errorf("logs --host %s: exit %d, stdout %q, stderr %q; want exit 1, no output, and an error saying %q and why", far, code, out, errOut, unreachable)
	}

	out, errOut, code = applyctl(t, etcd, "", "logs", "unit", name)
	for _, want := range []string{"[" + a.name + "] " + a.name + "\n", "[" + b.name + "] " + b.name + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs of every host: stdout %q lacks %q", out, want)
		}
	}
	if code != 1 || strings.Contains(out, "["+far+"]") || !strings.Contains(errOut, unreachable) {
		t.Errorf("logs of every host: exit %d, stdout %q, stderr %q; want exit 1, nothing labelled %s, and %q", code, out, errOut, far, unreachable)
	}

	out, _, _ = applyctl(t, etcd, "", "status", "unit", name)
	if !strings.Contains(out, "(logs unavailable: "+unreachable) {
		t.Errorf("status unit %s does not say %s's logs are unavailable:\n%s", name, far, out)
	}
	if n := strings.Count(out, "\n"+a.name+"\n"); n != 1 {
		t.Errorf("status unit %s shows %s's output %d times, want once (for %s only):\n%s", name, a.name, n, a.name, out)
	}
}
