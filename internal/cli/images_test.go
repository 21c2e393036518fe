package cli_test

import (
	"regexp"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// A pull under way shows its layers and bytes in get, describe and
// status; a pull that failed shows ImagePullBackOff with the registry's
// words; the image a container runs (imageID) is in describe and status.
func TestPullProgressAndImageID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ok("apply", "-f", "testdata/app.yaml")
	for _, h := range []string{"host-a", "host-b", "host-c"} {
		e.joined(h)
	}
	pulling := progressingStatus("host-b", v1.StatePullingImage, 1, "pulling server:1")
	pulling.Pull = &v1.PullStatus{Layers: 2, LayersDone: 1, BytesDone: 3 << 20, BytesTotal: 30 << 20}
	e.putJSON(store.StatusKey("unit", "server", "host-b"), pulling)
	const digest = "registry.example.com/server@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	e.putJSON(store.StatusKey("unit", "server", "host-a"), v1.InstanceStatus{Host: "host-a", State: v1.StateRunning, ContainerID: "0123456789abcdef",
		ObservedGeneration: 1, ImageID: digest})
	const refused = "unauthorized: authentication required for registry.example.com/server (no credentials for this registry in --registry-config); pulling again in 20s (back-off)"
	e.putJSON(store.StatusKey("unit", "server", "host-c"), stuckStatus("host-c", v1.StatePullingImage, 1, v1.ReasonImagePullBackOff, refused))

	age := regexp.MustCompile(`\b\d+s\b`)
	wantEqual(t, "get units", age.ReplaceAllString(e.ok("get", "units", "server"), "0s"), age.ReplaceAllString(""+
		"NAME    HOST    STATE                                       RESTARTS  CONTAINER     PORTS  AGE  MESSAGE\n"+
		"server  host-a  RUNNING                                     0         0123456789ab  -      0s   -\n"+
		"server  host-b  PULLING_IMAGE (1/2 layers, 3.0MiB/30.0MiB)  0         -             -      0s   -\n"+
		"server  host-c  PULLING_IMAGE (ImagePullBackOff)            0         -             -      0s   "+refused+"\n", "0s"))

	d := e.ok("describe", "unit", "server")
	for _, want := range []string{"PULLING_IMAGE (1/2 layers, 3.0MiB/30.0MiB)", "Images:", "host-a  " + digest, refused} {
		if !strings.Contains(d, want) {
			t.Errorf("describe lacks %q:\n%s", want, d)
		}
	}
	s := e.ok("status", "unit", "server")
	for _, want := range []string{"Image: " + digest} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
}
