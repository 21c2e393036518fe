package v1

// DNSConfig is a container's resolver configuration, in the shape of
// Kubernetes' dnsConfig.
//
// Without it, a container that berth creates resolves through its host's
// controller: the controller's container DNS address (controller
// --container-dns) is its nameserver and service.<domain> its search
// domain, so that "files" and "files.service.berth" both name the service
// files; names outside the domain are forwarded to the host's resolvers.
// A container with networkMode host keeps the host's resolver, and one
// with networkMode container:<x> the resolver of the container it joins.
//
// Each field given replaces what berth gives for it: Nameservers replaces
// the controller's address (the container then does not resolve berth's
// names unless one of them does), Searches replaces service.<domain>,
// Options are added to /etc/resolv.conf. On berth's network the engine's
// embedded DNS stays the container's nameserver, answering the names of
// the Units on the same host and forwarding the others to Nameservers.
type DNSConfig struct {
	// Nameservers are IP addresses, at most MaxDNSNameservers.
	Nameservers []string `json:"nameservers,omitempty"`
	// Searches are search domains, at most MaxDNSSearches, together at
	// most MaxDNSSearchChars characters with a space between each.
	Searches []string `json:"searches,omitempty"`
	// Options are resolv.conf options, such as {name: ndots, value: "2"}.
	Options []DNSConfigOption `json:"options,omitempty"`
}

// DNSConfigOption is one resolv.conf option: Name, or Name:Value.
type DNSConfigOption struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Kubernetes' limits of a dnsConfig, which are glibc's: three nameservers,
// and since glibc 2.26 32 search domains of 2048 characters in all.
const (
	MaxDNSNameservers = 3
	MaxDNSSearches    = 32
	MaxDNSSearchChars = 2048
)

// String returns the option as resolv.conf and Docker's --dns-option
// write it: "name" or "name:value".
func (o DNSConfigOption) String() string {
	if o.Value == "" {
		return o.Name
	}
	return o.Name + ":" + o.Value
}
