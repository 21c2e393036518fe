package v1

// Binding is what the scheduler decided for a Unit: the hosts that run it.
// It is stored under bindings/unit/<name>.
type Binding struct {
	Hosts []string `json:"hosts"`
	// Generation of the Unit the binding was computed for.
	Generation int64 `json:"generation,omitempty"`
}

// MatchesSelector reports whether labels carry every key=value of selector.
// An empty selector matches everything.
func MatchesSelector(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NeedsScheduler reports whether the scheduler chooses a Unit's hosts: when
// it is neither global nor pinned to the hosts it names.
func (p *Placement) NeedsScheduler() bool {
	return !p.Global && !(len(p.Hosts) > 0 && p.Replicas == 0)
}

// PlacedOn reports whether a Unit runs on the host of that name and
// labels, given the scheduler's binding (nil when there is none).
func (p *Placement) PlacedOn(host string, labels map[string]string, b *Binding) bool {
	switch {
	case p.Global:
		return MatchesSelector(labels, p.HostSelector)
	case !p.NeedsScheduler():
		return contains(p.Hosts, host)
	case b != nil:
		return contains(b.Hosts, host)
	}
	return false
}

// Candidate reports whether the scheduler may place a Unit on a host.
func (p *Placement) Candidate(host string, labels map[string]string) bool {
	if len(p.Hosts) > 0 && !contains(p.Hosts, host) {
		return false
	}
	return MatchesSelector(labels, p.HostSelector)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
