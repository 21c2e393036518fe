package catalogdns

import (
	"github.com/miekg/dns"
)

// forward sends req to the recursors in order, over the transport it came
// on, and returns the first answer whose rcode is NOERROR or NXDOMAIN;
// SERVFAIL when none gives one (Consul's sequential recursor_strategy).
// Over UDP the answer is cut, with the TC bit, to what the client may
// receive (see udpSize), whatever the recursor sent.
func (s *Server) forward(req *dns.Msg, udp bool) *dns.Msg {
	c := &dns.Client{Net: "tcp", Timeout: s.recTO}
	if udp {
		c.Net = "udp"
	}
	for _, addr := range s.recursors {
		r, _, err := c.Exchange(req, addr)
		if err != nil {
			s.log.Debug("dns: recursor", "recursor", addr, "name", req.Question[0].Name, "err", err)
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			s.log.Debug("dns: recursor", "recursor", addr, "name", req.Question[0].Name, "rcode", dns.RcodeToString[r.Rcode])
			continue
		}
		r.Id = req.Id
		r.RecursionAvailable = true
		if udp {
			r.Truncate(udpSize(req))
		}
		return r
	}
	s.log.Debug("dns: every recursor failed", "name", req.Question[0].Name, "recursors", len(s.recursors))
	return s.failure(req, dns.RcodeServerFailure)
}
