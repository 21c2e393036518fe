package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// The helpers of discovery_test.go: a controller that advertises
// loopback, a Consul client and a DNS client pointed at it, and plain
// containers (not started by berth) that the test removes itself.

// newDiscoveryHost is newUnitHost with --advertise-address 127.0.0.1, so
// that checks and answers point at loopback.
func newDiscoveryHost(t *testing.T, o controllerOpts) *unitHost {
	t.Helper()
	o.extra = append(o.extra, "--advertise-address", "127.0.0.1")
	return newUnitHost(t, o, false)
}

// dnsAddr returns the controller's --dns-listen (the last one given).
func (c *controller) dnsAddr() string {
	addr := ""
	for i, a := range c.args {
		if a == "--dns-listen" && i+1 < len(c.args) {
			addr = c.args[i+1]
		}
	}
	if addr == "" {
		c.t.Fatal("controller started without --dns-listen")
	}
	return addr
}

// consulClient returns the real Consul client pointed at the controller's
// --listen. rt, when not nil, wraps its transport.
func (c *controller) consulClient(rt func(http.RoundTripper) http.RoundTripper) *consul.Client {
	c.t.Helper()
	cfg := consul.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.Token, cfg.Datacenter = c.listen, "http", "", ""
	if rt != nil {
		cfg.HttpClient = &http.Client{Transport: rt(cfg.Transport)}
	}
	cl, err := consul.NewClient(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// roundTripFunc makes a function an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ask sends one question to the DNS server at addr over proto ("udp" or
// "tcp"), with an EDNS0 buffer of 4096 bytes.
func ask(addr, proto, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// describeMsg is a one-line summary of an answer for failure messages.
func describeMsg(r *dns.Msg, err error) string {
	if err != nil {
		return err.Error()
	}
	var rrs []string
	for _, rr := range append(append([]dns.RR{}, r.Answer...), r.Extra...) {
		if _, opt := rr.(*dns.OPT); !opt {
			rrs = append(rrs, strings.Join(strings.Fields(rr.String()), " "))
		}
	}
	return fmt.Sprintf("%s %s", dns.RcodeToString[r.Rcode], strings.Join(rrs, " | "))
}

// resolvesTo reports whether an A query of name answers exactly addr.
func resolvesTo(server, name, addr string) (bool, string) {
	r, err := ask(server, "udp", name, dns.TypeA)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return false, describeMsg(r, err)
	}
	a, ok := r.Answer[0].(*dns.A)
	return ok && a.A.String() == addr, describeMsg(r, err)
}

// nxdomain reports whether an A query of name is NXDOMAIN with the SOA in
// the authority section.
func nxdomain(server, name string) (bool, string) {
	r, err := ask(server, "udp", name, dns.TypeA)
	if err != nil {
		return false, err.Error()
	}
	soa := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
	return r.Rcode == dns.RcodeNameError && len(r.Answer) == 0 && soa, describeMsg(r, err)
}

// srvPorts returns the ports and targets of the SRV answer for name.
func srvPorts(server, name string) ([]string, string) {
	r, err := ask(server, "udp", name, dns.TypeSRV)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return nil, describeMsg(r, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
		}
	}
	return out, describeMsg(r, err)
}

// runPlain runs a container that berth did not start (docker run -d
// --name name args...), removed by name when the test ends.
func runPlain(t *testing.T, name string, args ...string) string {
	t.Helper()
	t.Cleanup(func() {
		if out, err := docker("rm", "-f", "-v", name); err != nil && !strings.Contains(out, "No such") {
			t.Logf("cleanup: docker rm -f %s: %v: %s", name, err, out)
		}
	})
	return mustDocker(t, append([]string{"run", "-d", "--name", name}, args...)...)
}

// endpointsOn returns the catalog entries of service registered by node.
func endpointsOn(cl *consul.Client, service, node string) ([]*consul.CatalogService, string) {
	all, _, err := cl.Catalog().Service(service, "", nil)
	if err != nil {
		return nil, err.Error()
	}
	var out []*consul.CatalogService
	var seen []string
	for _, e := range all {
		seen = append(seen, fmt.Sprintf("%s@%s:%d", e.ServiceID, e.Node, e.ServicePort))
		if e.Node == node {
			out = append(out, e)
		}
	}
	return out, fmt.Sprintf("catalog of %s: %v", service, seen)
}

// serviceCheck returns the health entry of service on node and its
// service-level check (not the node's serfHealth).
func serviceCheck(cl *consul.Client, service, node string) (*consul.HealthCheck, string) {
	entries, _, err := cl.Health().Service(service, "", false, nil)
	if err != nil {
		return nil, err.Error()
	}
	for _, e := range entries {
		if e.Node == nil || e.Node.Node != node {
			continue
		}
		for _, c := range e.Checks {
			if c.ServiceID == e.Service.ID {
				return c, fmt.Sprintf("check %s: %s %q", c.CheckID, c.Status, c.Output)
			}
		}
		return nil, fmt.Sprintf("entry %s without a service check", e.Service.ID)
	}
	return nil, fmt.Sprintf("no health entry of %s on %s (%d entries)", service, node, len(entries))
}
