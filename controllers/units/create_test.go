package units

import (
	"context"
	"fmt"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

// TestNetworkRemovedByHandIsMadeAgain: the berth network removed while
// the controller runs is made again when a container needs it.
func TestNetworkRemovedByHandIsMadeAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.apply(pinned("web", nil))
	first := e.waitState("web", v1.StateRunning)
	if err := e.rt.Remove(ctx, first.ContainerID); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RemoveNetwork(ctx, v1.NetworkName); err != nil {
		t.Fatal(err)
	}
	e.eventually("running in a new container", func() (bool, string) {
		st := e.status("web")
		if st == nil {
			return false, "no status"
		}
		return st.State == v1.StateRunning && st.ContainerID != first.ContainerID, fmt.Sprintf("%s %s", st.State, st.Message)
	})
	if _, err := e.rt.InspectNetwork(ctx, v1.NetworkName); err != nil {
		t.Errorf("network %s: %v", v1.NetworkName, err)
	}
}
