package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// TestPolicyVolumesAndNetworksBerthDidNotMake: on a host started without
// --allowed-volumes and --allowed-networks, a Unit mounting a named volume
// that does not exist yet runs, and the volume is berth's (labelled); a
// Unit mounting a volume made outside berth, one naming a network made
// outside berth, and one joining a container that only carries berth's
// host label are refused, naming the field and the flag, and get no
// container; a Unit joining another Unit's container, or on berth's
// network, runs. Started again with the flags listing them, the host runs
// the first two; started again without, it removes their containers.
func TestPolicyVolumesAndNetworksBerthDidNotMake(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	sfx := randomSuffix(6)
	foreignVol, freshVol, foreignNet := "e2e-foreign-"+sfx, "e2e-fresh-"+sfx, "e2e-foreign-"+sfx
	// Registered before the host: removed after its containers.
	t.Cleanup(func() {
		for _, args := range [][]string{{"volume", "rm", "-f", foreignVol, freshVol}, {"network", "rm", foreignNet}} {
			if out, err := docker(args...); err != nil {
				t.Logf("cleanup: docker %v: %v: %s", args, err, out)
			}
		}
	})
	mustDocker(t, "volume", "create", foreignVol)
	mustDocker(t, "network", "create", foreignNet)

	h := newUnitHost(t, controllerOpts{}, false)
	// Someone's container, labelled as one of this host's, as anyone who
	// can create a container can label it.
	forged := "e2e-forged-" + sfx
	mustDocker(t, "run", "-d", "--name", forged, "--label", v1.LabelHost+"="+h.name, testImage, "serve")

	volume := func(name string) string {
		return testapp(fmt.Sprintf("    volumes: [{name: %s, containerPath: /data}]\n", name), "")
	}
	network := func(mode string) string { return testapp(fmt.Sprintf("    networkMode: %q\n", mode), "") }
	h.apply(
		h.doc("web", testapp("", "")),
		h.doc("fresh", volume(freshVol)),
		h.doc("foreignvol", volume(foreignVol)),
		h.doc("foreignnet", network(foreignNet)),
		h.doc("berthnet", network(v1.NetworkName)),
		h.doc("sidecar", testapp(fmt.Sprintf("    networkMode: %q\n    env: [{name: LISTEN, value: ':8081'}]\n", "container:"+h.container("web")), "")),
		h.doc("spy", network("container:"+forged)),
	)

	prefix := "refused by host " + h.name + "'s policy: "
	volMsg := prefix + "volumes[0].name " + foreignVol + " is a Docker volume berth did not create (controller --allowed-volumes: none)"
	netMsg := prefix + "networkMode " + foreignNet + " is a Docker network berth did not create (controller --allowed-networks: none)"
	h.refused("foreignvol", v1.ReasonPolicyDenied, volMsg)
	h.refused("foreignnet", v1.ReasonPolicyDenied, netMsg)
	h.refused("spy", v1.ReasonPolicyDenied, prefix+"networkMode container:"+forged+" joins a container that berth does not run on this host (controller --allow-host-network)")
	for _, u := range []string{"web", "fresh", "berthnet", "sidecar"} {
		h.waitRunning(u, 60*time.Second)
	}
	for _, u := range []string{"foreignvol", "foreignnet", "spy"} {
		if gone, what := containerGone(h.container(u)); !gone {
			t.Errorf("%s was refused, yet %s", u, what)
		}
	}
	if l := mustDocker(t, "volume", "inspect", "-f", `{{index .Labels "berth.dev/volume"}}`, freshVol); l != "true" {
		t.Errorf("volume %s made for fresh is not labelled as berth's: berth.dev/volume=%q", freshVol, l)
	}
	if l := mustDocker(t, "volume", "inspect", "-f", `{{len .Labels}}`, foreignVol); l != "0" {
		t.Errorf("volume %s, made outside berth, got labels: %s", foreignVol, l)
	}
	if mode, want := mustDocker(t, "inspect", "-f", "{{.HostConfig.NetworkMode}}", h.container("sidecar")),
		"container:"+mustDocker(t, "inspect", "-f", "{{.Id}}", h.container("web")); mode != want {
		t.Errorf("sidecar's network mode %s, want %s", mode, want)
	}

	// The operator lists them.
	restart := func(extra ...string) {
		t.Helper()
		if err := h.c.signal(syscall.SIGTERM); err != nil {
			t.Fatalf("controller exited with %v on SIGTERM:\n%s", err, h.c.log())
		}
		h.c.args = append(h.c.args[:len(h.c.args):len(h.c.args)], extra...)
		h.c.start()
	}
	base := h.c.args
	restart("--allowed-volumes", foreignVol, "--allowed-networks", "other,"+foreignNet)
	h.waitRunning("foreignvol", 60*time.Second)
	h.waitRunning("foreignnet", 60*time.Second)
	if in, _ := h.instance("spy"); in.State != v1.StateFailed {
		t.Errorf("spy after the restart: %s, want still refused", describeInstance(in))
	}

	// No longer listed: what runs is removed.
	h.c.args = base
	restart()
	h.refused("foreignvol", v1.ReasonPolicyDenied, volMsg)
	h.refused("foreignnet", v1.ReasonPolicyDenied, netMsg)
	for _, u := range []string{"foreignvol", "foreignnet"} {
		eventually(t, 30*time.Second, u+"'s container removed", func() (bool, string) { return containerGone(h.container(u)) })
	}
	if in, _ := h.instance("fresh"); in.State != v1.StateRunning {
		t.Errorf("fresh after the restarts: %s, want RUNNING", describeInstance(in))
	}
}
