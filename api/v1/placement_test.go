package v1

import (
	"testing"
	"time"
)

// A binding, which whoever holds the leader's role writes, chooses hosts
// among those the object's placement allows, never others.
func TestBindingChoosesAmongCandidates(t *testing.T) {
	a := map[string]string{"zone": "a"}
	for _, tt := range []struct {
		name   string
		p      Placement
		host   string
		labels map[string]string
		placed bool
	}{
		{"bound, selector matched", Placement{Replicas: 1, HostSelector: a}, "h1", a, true},
		{"bound, selector not matched", Placement{Replicas: 1, HostSelector: a}, "h1", nil, false},
		{"bound, not among the hosts", Placement{Hosts: []string{"h2"}, Replicas: 1}, "h1", nil, false},
	} {
		if got := tt.p.PlacedOn(tt.host, tt.labels, &Binding{Hosts: []string{"h1"}}); got != tt.placed {
			t.Errorf("%s: PlacedOn = %v, want %v", tt.name, got, tt.placed)
		}
	}
}

func TestJobSpecAllows(t *testing.T) {
	a := map[string]string{"zone": "a"}
	for _, tt := range []struct {
		name   string
		s      JobSpec
		labels map[string]string
		want   bool
	}{
		{"deployed", JobSpec{Deployments: []Deployment{{Host: "h1"}}}, nil, true},
		{"deployed elsewhere", JobSpec{Deployments: []Deployment{{Host: "h2"}}}, a, false},
		{"selected", JobSpec{HostSelector: a}, a, true},
		{"not selected", JobSpec{HostSelector: a}, map[string]string{"zone": "b"}, false},
		{"no placement", JobSpec{}, a, false},
	} {
		if got := tt.s.Allows("h1", tt.labels); got != tt.want {
			t.Errorf("%s: Allows = %v, want %v", tt.name, got, tt.want)
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := JobSpec{Expires: &at}
	if s.Expired(at.Add(-time.Second)) || !s.Expired(at) || (&JobSpec{}).Expired(at) {
		t.Error("Expired: want false before the time, true from it, false without one")
	}
}
