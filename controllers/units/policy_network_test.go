package units

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/testenv"
)

// TestJoinNetwork: networkMode container:<x> joins only a container this
// controller made that is not on the host's network, and names it by its
// ID; a container merely labelled as berth's is not one; --allow-host-network
// lets any through.
func TestJoinNetwork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt := fake.New()
	rt.AddImage("berth/testapp")
	// made are the instances of h1's controller, with the containers it
	// created for them.
	made := newInstances()
	label := func(name, host, mode string) string {
		t.Helper()
		spec := runtime.ContainerSpec{Name: name, Image: "berth/testapp", NetworkMode: mode, Labels: map[string]string{}}
		if host != "" {
			spec.Labels[v1.LabelHost] = host
			spec.Labels[v1.LabelKind] = v1.KindUnit
			spec.Labels[v1.LabelName] = name
		}
		id, err := rt.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mk := func(name, host, mode string) string {
		t.Helper()
		id := label(name, host, mode)
		if host == "h1" {
			made.of(name, func() *instance { return &instance{createdID: id} })
		}
		return id
	}
	web := mk("web", "h1", "")
	onNet := mk("on-net", "h1", "bridge")
	mk("foreign", "", "")
	mk("foreign-host", "", "host")
	mk("other-host", "h2", "")
	mk("berth-host", "h1", "host")
	mk("joins-web", "h1", "container:web")
	mk("joins-foreign", "h1", "container:foreign-host")
	mk("joins-berth-host", "h1", "container:berth-host")
	// A ring: a joins b, which did not exist yet, and b joins a.
	mk("ring-a", "h1", "container:ring-b")
	mk("ring-b", "h1", "container:ring-a")
	// Labelled as h1's by whoever could create a container, not by h1.
	label("forged", "h1", "")
	mk("joins-forged", "h1", "container:forged")

	const (
		notBerths = "refused by host h1's policy: networkMode container:%s joins a container that berth does not run on this host (controller --allow-host-network)"
		hostNet   = "refused by host h1's policy: networkMode container:%s joins a container that uses the host's network (controller --allow-host-network)"
	)
	tests := []struct {
		name   string
		policy Policy
		mode   string
		want   string // the network mode to create with
		refuse string // the refusal's message, with %s for the container
	}{
		{name: "default network, nothing to check", mode: "", want: ""},
		{name: "host is for the policy's other check", mode: "host", want: "host"},
		{name: "a network", mode: "berth", want: "berth"},
		{name: "berth's container on this host", mode: "container:web", want: "container:" + web},
		{name: "by ID", mode: "container:" + web, want: "container:" + web},
		{name: "berth's container on a network", mode: "container:on-net", want: "container:" + onNet},
		{name: "berth's container joining berth's", mode: "container:joins-web", want: "container:" + containerID(t, rt, "joins-web")},
		{name: "no such container", mode: "container:missing", refuse: notBerths},
		{name: "a container berth did not make", mode: "container:foreign", refuse: notBerths},
		{name: "a container berth did not make, on the host's network", mode: "container:foreign-host", refuse: notBerths},
		{name: "berth's container of another host", mode: "container:other-host", refuse: notBerths},
		{name: "a container labelled as this host's that it did not make", mode: "container:forged", refuse: notBerths},
		{name: "berth's container joining one labelled as this host's", mode: "container:joins-forged", refuse: notBerths},
		{name: "berth's container on the host's network", mode: "container:berth-host", refuse: hostNet},
		{name: "berth's container joining a foreign one", mode: "container:joins-foreign", refuse: notBerths},
		{name: "berth's container joining one on the host's network", mode: "container:joins-berth-host", refuse: hostNet},
		{name: "a ring of containers", mode: "container:ring-a",
			refuse: "refused by host h1's policy: networkMode container:%s joins containers that join others more than 8 deep (controller --allow-host-network)"},
		{name: "host network allowed: a foreign container", policy: Policy{AllowHostNetwork: true}, mode: "container:foreign-host", want: "container:foreign-host"},
		{name: "host network allowed: berth's on the host's network", policy: Policy{AllowHostNetwork: true}, mode: "container:berth-host", want: "container:berth-host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Controller{o: Options{Host: "h1", Runtime: rt, Policy: tt.policy}, instances: made}
			got, err := c.joinNetwork(ctx, tt.mode)
			var ref *refusal
			switch {
			case tt.refuse == "" && err != nil:
				t.Fatalf("networkMode %s refused: %v", tt.mode, err)
			case tt.refuse == "" && got != tt.want:
				t.Errorf("networkMode %s: created with %q, want %q", tt.mode, got, tt.want)
			case tt.refuse != "" && !errors.As(err, &ref):
				t.Fatalf("networkMode %s: created with %q, error %v; want a refusal", tt.mode, got, err)
			case tt.refuse != "":
				want := strings.ReplaceAll(tt.refuse, "%s", strings.TrimPrefix(tt.mode, "container:"))
				if ref.reason != v1.ReasonPolicyDenied || ref.msg != want {
					t.Errorf("refusal %s %q, want %s %q", ref.reason, ref.msg, v1.ReasonPolicyDenied, want)
				}
			}
		})
	}

	t.Run("an engine that does not answer is an error to retry, not a refusal", func(t *testing.T) {
		rt := fake.New()
		rt.SetAvailable(false)
		c := &Controller{o: Options{Host: "h1", Runtime: rt}, instances: newInstances()}
		_, err := c.joinNetwork(ctx, "container:web")
		var ref *refusal
		if !errors.Is(err, runtime.ErrUnavailable) || errors.As(err, &ref) {
			t.Errorf("error %v, want one wrapping %v", err, runtime.ErrUnavailable)
		}
	})
}

func containerID(t *testing.T, rt runtime.Runtime, name string) string {
	t.Helper()
	c, err := rt.Inspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestUnitJoiningANetwork: a Unit joining another Unit's container runs
// in it; a Unit joining a container berth did not start is FAILED with
// PolicyDenied and gets no container.
func TestUnitJoiningANetwork(t *testing.T) {
	t.Parallel()
	s, rt := testenv.EtcdStore(t), fake.New()
	rt.AddImage("berth/testapp")
	h := newPolicyHost(t, s, rt, Policy{})
	e := h.env()
	joining := func(target string) func(*v1.Unit) {
		return func(u *v1.Unit) {
			u.Spec.Container.NetworkMode = "container:" + target
			u.Spec.Container.Ports = nil
		}
	}

	e.apply(pinned("web", nil))
	e.waitState("web", v1.StateRunning)
	e.apply(pinned("sidecar", joining("berth-unit-web")))
	e.waitState("sidecar", v1.StateRunning)
	cs := e.containers("sidecar")
	if want := "container:" + e.containers("web")[0].ID; len(cs) != 1 || cs[0].NetworkMode != want {
		t.Errorf("sidecar's containers %+v, want one with network mode %s", cs, want)
	}

	if _, err := rt.Create(context.Background(), runtime.ContainerSpec{Name: "someones-db", Image: "berth/testapp", NetworkMode: "host"}); err != nil {
		t.Fatal(err)
	}
	e.apply(pinned("spy", joining("someones-db")))
	h.waitRefused("spy", v1.ReasonPolicyDenied,
		"refused by host h's policy: networkMode container:someones-db joins a container that berth does not run on this host (controller --allow-host-network)")
	if cs := e.containers("spy"); len(cs) != 0 {
		t.Errorf("a unit refused its network has containers: %+v", cs)
	}
	if n := h.ev.count("Unit/spy PolicyDenied"); n != 1 {
		t.Errorf("%d PolicyDenied events, want 1: %v", n, h.ev.reasons)
	}
}
