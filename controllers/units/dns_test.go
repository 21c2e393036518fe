package units

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

func TestContainerDNS(t *testing.T) {
	r := &Resolver{Nameserver: "172.18.0.1", Search: "service.berth", HTTPAddress: "172.18.0.1:8500"}
	berths := runtime.DNS{Nameservers: []string{"172.18.0.1"}, Searches: []string{"service.berth"}}
	api := []string{"CONSUL_HTTP_ADDR=172.18.0.1:8500"}
	own := &v1.DNSConfig{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"},
		Options: []v1.DNSConfigOption{{Name: "ndots", Value: "2"}, {Name: "edns0"}}}
	tests := []struct {
		name    string
		mode    string
		dns     *v1.DNSConfig
		env     []v1.EnvVar
		r       *Resolver
		want    runtime.DNS
		wantEnv []string
	}{
		{name: "berth's network", r: r, want: berths, wantEnv: api},
		{name: "Docker's bridge", mode: "bridge", r: r, want: berths, wantEnv: api},
		{name: "another network", mode: "lan", r: r, want: berths, wantEnv: api},
		{name: "host network keeps the host's", mode: "host", r: r},
		{name: "no network", mode: "none", r: r},
		{name: "joined network keeps the joined container's", mode: "container:db", r: r},
		{name: "container DNS off", r: nil},
		{name: "the template's own", dns: own, r: r, wantEnv: api,
			want: runtime.DNS{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "options only", dns: &v1.DNSConfig{Options: []v1.DNSConfigOption{{Name: "ndots", Value: "1"}}}, r: r, wantEnv: api,
			want: runtime.DNS{Nameservers: berths.Nameservers, Searches: berths.Searches, Options: []string{"ndots:1"}}},
		{name: "searches only", dns: &v1.DNSConfig{Searches: []string{"service.berth", "corp.example"}}, r: r, wantEnv: api,
			want: runtime.DNS{Nameservers: berths.Nameservers, Searches: []string{"service.berth", "corp.example"}}},
		{name: "the template's own on the host network", mode: "host", dns: own, r: r,
			want: runtime.DNS{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "the template's own with container DNS off", dns: own,
			want: runtime.DNS{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "the template sets CONSUL_HTTP_ADDR", env: []v1.EnvVar{{Name: "CONSUL_HTTP_ADDR", Value: "consul:8500"}}, r: r, want: berths},
		{name: "no HTTP address", r: &Resolver{Nameserver: "172.18.0.1", Search: "service.berth"}, want: berths},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := &v1.ContainerTemplate{Image: "x", NetworkMode: tt.mode, DNS: tt.dns, Env: tt.env}
			got, env := containerDNS(tm, tt.r)
			if !reflect.DeepEqual(got, tt.want) || !slices.Equal(env, tt.wantEnv) {
				t.Errorf("containerDNS = %+v, %q; want %+v, %q", got, env, tt.want, tt.wantEnv)
			}
		})
	}
}

// TestResolverGiven: the containers of Units and Jobs resolve through the
// host's Resolver unless their template says otherwise; one on the host's
// network keeps the host's resolver; while the Resolver cannot be known,
// nothing is created and the status says why, until it can.
func TestResolverGiven(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	resolver := func(context.Context) (Resolver, error) {
		if down.Load() {
			return Resolver{}, errors.New("the berth network's gateway is not known yet")
		}
		return Resolver{Nameserver: "172.18.0.1", Search: "service.berth", HTTPAddress: "172.18.0.1:8500"}, nil
	}
	e := newEnv(t, func(o *Options) {
		o.Resolver = resolver
		o.Policy.AllowHostNetwork = true
	})
	e.apply(pinned("web", nil))
	e.eventually("web CREATING with why", func() (bool, string) {
		st := e.status("web")
		return st != nil && strings.Contains(st.Message, "container DNS: the berth network's gateway is not known yet"), describe(st)
	})
	if cs := e.containers("web"); len(cs) != 0 {
		t.Fatalf("%d containers of web created before the resolver was known", len(cs))
	}
	down.Store(false)
	e.waitState("web", v1.StateRunning)
	e.apply(pinned("host", func(u *v1.Unit) {
		u.Spec.Container.NetworkMode = "host"
		u.Spec.Container.Ports = nil
	}))
	e.apply(pinned("own", func(u *v1.Unit) {
		u.Spec.Container.DNS = &v1.DNSConfig{Nameservers: []string{"192.0.2.53"}, Options: []v1.DNSConfigOption{{Name: "ndots", Value: "2"}}}
		u.Spec.Container.Ports = nil
	}))
	j := testJob("batch", "1", "serve", "h")
	e.apply(j)
	e.bindJob("batch", v1.JobBinding{Hosts: map[string]string{"h": "1"}, Hashes: map[string]string{"1": v1.FullTemplateHash(&j.Spec.Container)}})
	e.waitState("host", v1.StateRunning)
	e.waitState("own", v1.StateRunning)
	e.waitJob("batch", "RUNNING", func(st *v1.InstanceStatus) bool { return st.State == v1.StateRunning })

	berths := runtime.DNS{Nameservers: []string{"172.18.0.1"}, Searches: []string{"service.berth"}}
	for _, tc := range []struct {
		name string
		want runtime.DNS
		api  bool
	}{
		{"web", berths, true},
		{"batch", berths, true},
		{"host", runtime.DNS{}, false},
		{"own", runtime.DNS{Nameservers: []string{"192.0.2.53"}, Searches: []string{"service.berth"}, Options: []string{"ndots:2"}}, true},
	} {
		cs := e.containers(tc.name)
		if len(cs) != 1 {
			t.Errorf("%s: %d containers, want 1", tc.name, len(cs))
			continue
		}
		if !reflect.DeepEqual(cs[0].DNS, tc.want) {
			t.Errorf("%s: DNS %+v, want %+v", tc.name, cs[0].DNS, tc.want)
		}
		if got := slices.Contains(cs[0].Env, "CONSUL_HTTP_ADDR=172.18.0.1:8500"); got != tc.api {
			t.Errorf("%s: CONSUL_HTTP_ADDR set %v, want %v: %q", tc.name, got, tc.api, cs[0].Env)
		}
	}
}

func describe(st *v1.InstanceStatus) string {
	if st == nil {
		return "no status"
	}
	return string(st.State) + ": " + st.Message
}
