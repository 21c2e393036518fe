package catalogdns

import (
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxUDPSize is the largest UDP payload answered, whatever the client's
// EDNS0 buffer says (RFC 6891's recommended 4096).
const maxUDPSize = 4096

// ServeDNS answers one query: it implements dns.Handler and is safe for
// concurrent use. Names in the domain are answered from the Reader; others
// are forwarded to the recursors or REFUSED, whatever the RD bit says.
// Zone transfers (AXFR, IXFR) are REFUSED, and ANY over UDP gets an empty
// truncated answer. It never panics on a parsed message: queries without
// exactly one question get FORMERR, other opcodes NOTIMP, EDNS versions
// above 0 BADVERS.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	udp := isUDP(w)
	resp := s.respond(req, udp)
	// Counted before the answer is sent: a client that has its answer
	// finds it counted.
	if s.metrics != nil {
		var qtype uint16
		if len(req.Question) == 1 {
			qtype = req.Question[0].Qtype
		}
		proto := "tcp"
		if udp {
			proto = "udp"
		}
		s.metrics.queries.WithLabelValues(qtypeLabel(qtype), rcodeLabel(resp.Rcode)).Inc()
		s.metrics.duration.WithLabelValues(proto).Observe(time.Since(start).Seconds())
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns: write response", "remote", addrString(w.RemoteAddr()), "err", err)
	}
}

// respond builds the response to req, as sent over UDP or TCP.
func (s *Server) respond(req *dns.Msg, udp bool) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return s.failure(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return s.failure(req, dns.RcodeFormatError)
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		m := s.failure(req, dns.RcodeBadVers)
		m.SetEdns0(maxUDPSize, false)
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	inDomain := name == s.domain || strings.HasSuffix(name, s.suffix)
	switch {
	case !inDomain && len(s.recursors) == 0:
		// Never an open resolver: the RD bit asks for nothing here.
		return s.failure(req, dns.RcodeRefused)
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		// The catalog is not a zone to copy, nor are the recursors'.
		return s.failure(req, dns.RcodeRefused)
	case q.Qtype == dns.TypeANY && udp:
		// RFC 8482 4.4: ANY is answered over TCP only, where the client
		// proved its address; over UDP it would amplify.
		m := s.failure(req, dns.RcodeSuccess)
		m.Authoritative = inDomain
		s.fit(req, m, udp)
		m.Truncated = true
		return m
	case !inDomain:
		return s.forward(req, udp)
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		return s.failure(req, dns.RcodeRefused)
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = len(s.recursors) > 0
	var a result
	if e := s.answers.get(s.reader.Index(), answerKey{q.Name, q.Qtype}); e != nil {
		a = e.result // a service's answer, cached: no need to read the name
	} else {
		a = s.lookup(q.Name, strings.TrimSuffix(strings.TrimSuffix(name, s.domain), "."), q.Qtype)
	}
	m.Rcode = a.rcode
	if a.cached != nil {
		a.cached.fill(m)
	} else {
		m.Answer, m.Extra = a.answer, a.extra
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	s.fitCached(req, m, udp, a.cached)
	return m
}

// failure is an empty response with rcode.
func (s *Server) failure(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = len(s.recursors) > 0
	return m
}

// fit echoes EDNS0 and makes m fit what the transport allows: the client's
// EDNS0 buffer over UDP (512 without EDNS0, at most 4096), 64 KiB over TCP.
// What does not fit is dropped from the end, after the shuffle; when
// answer records had to go, the TC bit is set so the client retries over
// TCP.
func (s *Server) fit(req, m *dns.Msg, udp bool) { s.fitCached(req, m, udp, nil) }

// fitCached is fit for a message carrying a cached answer whole: when the
// answer's measured length fits with room to spare, it is not measured
// again.
func (s *Server) fitCached(req, m *dns.Msg, udp bool, cached *answerEntry) {
	if req.IsEdns0() != nil {
		m.SetEdns0(maxUDPSize, false)
	}
	size := dns.MaxMsgSize
	if udp {
		size = udpSize(req)
	}
	m.Compress = true
	if cached != nil && (cached.fits(m, size) || cached.cutExtra(m, size)) {
		return
	}
	answers := len(m.Answer)
	m.Truncate(size)
	if m.Truncated {
		pruneExtra(m)
		// RFC 2181 9: TC means the answer is incomplete; additional
		// records left out (addresses of SRV targets) do not set it.
		m.Truncated = len(m.Answer) < answers
	}
	if cached != nil {
		cached.rememberCut(m, size)
	}
}

// udpSize is the largest UDP response req may get: its EDNS0 buffer, at
// least 512 and at most maxUDPSize; 512 without EDNS0.
func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
	}
	return dns.MinMsgSize
}

// pruneExtra drops the additional records of SRV targets that truncation
// left out of the answer.
func pruneExtra(m *dns.Msg) {
	targets := map[string]bool{}
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			targets[strings.ToLower(srv.Target)] = true
		}
	}
	if len(targets) == 0 {
		return
	}
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT || targets[strings.ToLower(rr.Header().Name)] {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
}

func isUDP(w dns.ResponseWriter) bool {
	switch w.RemoteAddr().(type) {
	case *net.TCPAddr:
		return false
	}
	return true
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
