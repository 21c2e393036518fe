package units

import (
	"context"
	"errors"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/testenv"
)

// TestForeignVolumesAndNetworks: a template may mount named volumes berth
// made or that do not exist yet (admit makes them, as berth's), and name
// networks berth made; one made outside berth is refused, naming the field
// and the flag, unless the operator lists it.
func TestForeignVolumesAndNetworks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt := fake.New()
	for name, labels := range map[string]map[string]string{
		"berths":   {labelVolume: "true"},
		"someones": nil,
	} {
		if _, err := rt.EnsureVolume(ctx, name, labels); err != nil {
			t.Fatal(err)
		}
	}
	for name, labels := range map[string]map[string]string{
		"berth":   {labelNetwork: "true"},
		"backend": {labelNetwork: "true"},
		"lan":     nil,
	} {
		if err := rt.EnsureNetwork(ctx, name, labels); err != nil {
			t.Fatal(err)
		}
	}
	volumes := func(names ...string) *v1.ContainerTemplate {
		t := &v1.ContainerTemplate{Volumes: []v1.Volume{{HostPath: "/var/lib/berth-volumes/x", ContainerPath: "/x"}}}
		for _, n := range names {
			t.Volumes = append(t.Volumes, v1.Volume{Name: n, ContainerPath: "/" + n})
		}
		return t
	}
	network := func(mode string) *v1.ContainerTemplate { return &v1.ContainerTemplate{NetworkMode: mode} }
	tests := []struct {
		name     string
		policy   Policy
		template *v1.ContainerTemplate
		refuse   string // the refusal's message; "" when allowed
		made     string // a volume admit makes, as berth's
	}{
		{name: "no volume, default network", template: volumes()},
		{name: "berth's volume", template: volumes("berths")},
		{name: "a volume not there yet", template: volumes("new"), made: "new"},
		{name: "a volume made outside berth", template: volumes("berths", "someones"),
			refuse: "refused by host h1's policy: volumes[2].name someones is a Docker volume berth did not create (controller --allowed-volumes: none)"},
		{name: "a listed volume", policy: Policy{AllowedVolumes: []string{"cache", "someones"}}, template: volumes("someones")},
		{name: "any volume", policy: Policy{AllowedVolumes: []string{"*"}}, template: volumes("someones")},
		{name: "a volume not in the list", policy: Policy{AllowedVolumes: []string{"cache"}}, template: volumes("someones"),
			refuse: "refused by host h1's policy: volumes[1].name someones is a Docker volume berth did not create (controller --allowed-volumes: cache)"},
		{name: "berth's network", template: network("berth")},
		{name: "another network berth made", template: network("backend")},
		{name: "the engine's bridge", template: network("bridge")},
		{name: "no network", template: network("none")},
		{name: "a network made outside berth", template: network("lan"),
			refuse: "refused by host h1's policy: networkMode lan is a Docker network berth did not create (controller --allowed-networks: none)"},
		{name: "a listed network", policy: Policy{AllowedNetworks: []string{"lan"}}, template: network("lan")},
		{name: "any network", policy: Policy{AllowedNetworks: []string{"*"}}, template: network("lan")},
		{name: "the host's network by its ID", template: network("host-id"),
			refuse: "refused by host h1's policy: networkMode host-id is the host's network (controller --allow-host-network)"},
		{name: "a network not there is not refused (the create fails)", template: network("missing")},
	}
	hostNet := &idRuntime{Runtime: rt, ids: map[string]string{"host-id": "host"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Controller{o: Options{Host: "h1", Runtime: hostNet, Policy: tt.policy}}
			ref, err := c.refuseForeign(ctx, tt.template)
			if err != nil {
				t.Fatal(err)
			}
			if tt.made != "" {
				if _, err := rt.InspectVolume(ctx, tt.made); !errors.Is(err, runtime.ErrNotFound) {
					t.Fatalf("refuseForeign made volume %s (%v); it only looks", tt.made, err)
				}
			}
			_, aerr := c.admit(ctx, tt.template)
			var aref *refusal
			switch {
			case tt.refuse == "" && (ref != nil || aerr != nil):
				t.Fatalf("refused: %v; at create: %v", ref, aerr)
			case tt.refuse != "" && (ref == nil || ref.msg != tt.refuse || ref.reason != v1.ReasonPolicyDenied):
				t.Errorf("refusal %+v, want %s %q", ref, v1.ReasonPolicyDenied, tt.refuse)
			case tt.refuse != "" && (!errors.As(aerr, &aref) || aref.msg != tt.refuse):
				t.Errorf("at create: %v, want the refusal %q", aerr, tt.refuse)
			}
			if tt.made != "" {
				if v, err := rt.InspectVolume(ctx, tt.made); err != nil || v.Labels[labelVolume] != "true" || v.Labels[v1.LabelHost] != "h1" {
					t.Errorf("volume %s after admit: %+v, %v; want it made as berth's, on h1", tt.made, v, err)
				}
			}
		})
	}
	t.Run("a volume made outside berth meanwhile is refused at create", func(t *testing.T) {
		c := &Controller{o: Options{Host: "h1", Runtime: rt}}
		tmpl := volumes("late")
		if ref, err := c.refuseForeign(ctx, tmpl); ref != nil || err != nil {
			t.Fatalf("refuseForeign: %v, %v", ref, err)
		}
		if _, err := rt.EnsureVolume(ctx, "late", nil); err != nil {
			t.Fatal(err)
		}
		var ref *refusal
		if _, err := c.admit(ctx, tmpl); !errors.As(err, &ref) {
			t.Errorf("admit: %v, want a refusal", err)
		}
	})
	t.Run("an engine that does not answer is an error to retry", func(t *testing.T) {
		down := fake.New()
		down.SetAvailable(false)
		c := &Controller{o: Options{Host: "h1", Runtime: down}}
		for _, tmpl := range []*v1.ContainerTemplate{volumes("x1"), network("lan")} {
			ref, err := c.refuseForeign(ctx, tmpl)
			if ref != nil || !errors.Is(err, runtime.ErrUnavailable) {
				t.Errorf("refuseForeign: %v, %v; want an error wrapping %v", ref, err, runtime.ErrUnavailable)
			}
		}
	})
}

// idRuntime answers InspectNetwork for network IDs too, as Docker does.
type idRuntime struct {
	*fake.Runtime
	ids map[string]string // ID -> name
}

func (r *idRuntime) InspectNetwork(ctx context.Context, name string) (runtime.Network, error) {
	if n, ok := r.ids[name]; ok {
		name = n
	}
	return r.Runtime.InspectNetwork(ctx, name)
}

// TestMadeAfterRestart: a controller started again trusts, for
// networkMode container:<x>, the containers its statuses name, and not a
// container merely labelled as one of its instances'.
func TestMadeAfterRestart(t *testing.T) {
	t.Parallel()
	s, rt := testenv.EtcdStore(t), fake.New()
	rt.AddImage("berth/testapp")
	first := newPolicyHost(t, s, rt, Policy{})
	e := first.env()
	e.apply(pinned("web", nil))
	e.waitState("web", v1.StateRunning)
	web := e.containers("web")[0]
	first.stop()

	again := newPolicyHost(t, s, rt, Policy{})
	if !again.c.made(web) {
		t.Errorf("web's container, named in this host's status, is not trusted after a restart")
	}
	forged, err := rt.Create(context.Background(), runtime.ContainerSpec{Name: "forged-web", Image: "berth/testapp", Labels: web.Labels})
	if err != nil {
		t.Fatal(err)
	}
	// Not inspected: the controller may already have removed it as a
	// second container of web's instance; what made reads is its ID and
	// labels.
	ctr := runtime.Container{ID: forged, Name: "forged-web", Labels: web.Labels}
	if again.c.made(ctr) {
		t.Errorf("a container labelled as web's, not made by this host, is trusted")
	}
}
