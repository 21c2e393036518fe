package catalogdns

import (
	"encoding/hex"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// result is what a name in the domain resolves to.
type result struct {
	rcode  int
	answer []dns.RR
	extra  []dns.RR
	// cached, when set, holds answer and extra, shared with other
	// queries: a response takes copies, its answer shuffled.
	cached *answerEntry
}

var (
	nxdomain = result{rcode: dns.RcodeNameError}
	nodata   = result{rcode: dns.RcodeSuccess}
)

// lookup answers owner (the question's name, as sent) whose lower-cased
// labels below the domain are rel ("" for the apex).
func (s *Server) lookup(owner, rel string, qtype uint16) result {
	if rel == "" {
		return s.apex(owner, qtype)
	}
	labels := strings.Split(rel, ".")
	n := len(labels)
	switch last := labels[n-1]; {
	case last == "service":
		switch {
		case n == 1:
			return nodata // an empty non-terminal: names exist below it
		case n == 2 && strings.HasPrefix(labels[0], "_"):
			return nodata // _tcp.service: below it, RFC 2782 names
		case n == 2:
			return s.service(owner, labels[0], "", qtype)
		case n == 3 && isRFC2782(labels[0], labels[1]):
			return s.service(owner, labels[0][1:], rfc2782Tag(labels[1]), qtype)
		case n == 3:
			return s.service(owner, labels[1], labels[0], qtype)
		}
	case n == 2 && isRFC2782(labels[0], labels[1]):
		// _<service>._<tag>.<domain>, without ".service", as Consul takes it.
		return s.service(owner, labels[0][1:], rfc2782Tag(labels[1]), qtype)
	case last == "node":
		if n == 1 {
			return nodata
		}
		return s.node(owner, strings.Join(labels[:n-1], "."), qtype)
	case last == "addr":
		switch n {
		case 1:
			return nodata
		case 2:
			return s.addr(owner, labels[0], qtype)
		}
	}
	return nxdomain
}

func isRFC2782(svc, tag string) bool {
	return len(svc) > 1 && len(tag) > 1 && svc[0] == '_' && tag[0] == '_'
}

// rfc2782Tag is the tag filter of an RFC 2782 protocol label: none for
// _tcp and _udp.
func rfc2782Tag(label string) string {
	if label == "_tcp" || label == "_udp" {
		return ""
	}
	return label[1:]
}

// apex answers the domain itself: its SOA and NS.
func (s *Server) apex(owner string, qtype uint16) result {
	r := nodata
	if qtype == dns.TypeSOA || qtype == dns.TypeANY {
		soa := s.soa()
		soa.Hdr.Name = owner
		r.answer = append(r.answer, soa)
	}
	if qtype == dns.TypeNS || qtype == dns.TypeANY {
		r.answer = append(r.answer, &dns.NS{Hdr: hdr(owner, dns.TypeNS, 0), Ns: "ns." + s.domain})
	}
	return r
}

// soa is the domain's SOA, whose serial is the catalog's index.
func (s *Server) soa() *dns.SOA {
	return &dns.SOA{
		Hdr:     hdr(s.domain, dns.TypeSOA, 0),
		Ns:      "ns." + s.domain,
		Mbox:    "hostmaster." + s.domain,
		Serial:  uint32(s.reader.Index()),
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  0,
	}
}

// service answers <service>.service, <tag>.<service>.service and the
// RFC 2782 forms: the routable endpoints carrying tag (any when ""),
// shuffled by the response; NXDOMAIN when there are none. An answer with
// records comes from, or goes into, the answer cache of the catalog's
// current index.
func (s *Server) service(owner, name, tag string, qtype uint16) result {
	index := s.reader.Index()
	key := answerKey{owner, qtype}
	if e := s.answers.get(index, key); e != nil {
		return e.result
	}
	r := s.buildService(owner, name, tag, qtype)
	if len(r.answer) == 0 {
		return r
	}
	return s.answers.put(index, key, r).result
}

// buildService reads the catalog for service: its records in the order
// of the endpoints.
func (s *Server) buildService(owner, name, tag string, qtype uint16) result {
	eps := s.endpoints(name)
	routable := eps[:0]
	for i := range eps {
		e := &eps[i]
		if e.Routable() && (tag == "" || e.HasTag(tag)) {
			routable = append(routable, *e)
		}
	}
	if len(routable) == 0 {
		return nxdomain
	}

	// One TTL for the whole answer (an RRset has one): the smallest asked for.
	ttl := ttlSeconds(routable[0].DNSTTL)
	for _, e := range routable[1:] {
		ttl = min(ttl, ttlSeconds(e.DNSTTL))
	}

	nodes := nodeCache{reader: s.reader}
	r := nodata
	switch qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		seen := map[netip.Addr]bool{}
		for _, e := range routable {
			addr := e.Address
			if addr == "" {
				if n, ok := nodes.get(e.Host); ok {
					addr = n.Address
				}
			}
			ip, err := netip.ParseAddr(addr)
			if err != nil || seen[ip.Unmap()] {
				continue
			}
			if rr := addrRR(owner, ip, qtype, ttl); rr != nil {
				seen[ip.Unmap()] = true
				r.answer = append(r.answer, rr)
			}
		}
	case dns.TypeSRV:
		type srvKey struct {
			target       string
			port, weight uint16
		}
		seenSRV := map[srvKey]bool{}
		seenExtra := map[string]bool{}
		for i := range routable {
			e := &routable[i]
			target, extra := s.srvTarget(e, &nodes, ttl)
			if target == "" {
				continue
			}
			srv := &dns.SRV{Hdr: hdr(owner, dns.TypeSRV, ttl), Priority: 1, Weight: weight(e),
				Port: uint16(e.Port), Target: target}
			if key := (srvKey{target, srv.Port, srv.Weight}); !seenSRV[key] {
				seenSRV[key] = true
				r.answer = append(r.answer, srv)
			}
			if extra != nil && !seenExtra[target] {
				seenExtra[target] = true
				r.extra = append(r.extra, extra)
			}
		}
	}
	return r
}

// endpoints returns the endpoints of a service named case-insensitively.
func (s *Server) endpoints(name string) []catalog.Endpoint {
	if eps, _ := s.reader.Endpoints(name); len(eps) > 0 {
		return eps
	}
	// Names are DNS labels, lower case, so this is for the odd service
	// registered with capitals.
	for svc := range s.reader.Services() {
		if svc != name && strings.EqualFold(svc, name) {
			eps, _ := s.reader.Endpoints(svc)
			return eps
		}
	}
	return nil
}

// srvTarget is the target of an endpoint's SRV record and the address
// record that goes with it in the additional section: <host>.node.<domain>
// when the endpoint is at its Up node's address, <hex-ip>.addr.<domain>
// for another IP, the address itself when it is a host name ("" and nil
// when the endpoint has no address at all).
func (s *Server) srvTarget(e *catalog.Endpoint, nodes *nodeCache, ttl uint32) (string, dns.RR) {
	n, known := nodes.get(e.Host)
	addr := e.Address
	if known && n.Up && (addr == "" || addr == n.Address) && validName(n.Name) {
		if ip, err := netip.ParseAddr(n.Address); err == nil {
			target := strings.ToLower(n.Name) + ".node." + s.domain
			return target, addrRR(target, ip, dns.TypeANY, ttl)
		}
	}
	if addr == "" && known {
		addr = n.Address
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		target := hexIP(ip) + ".addr." + s.domain
		return target, addrRR(target, ip, dns.TypeANY, ttl)
	}
	if addr != "" && validName(addr) {
		return dns.Fqdn(strings.ToLower(addr)), nil
	}
	return "", nil
}

// weight is Consul's findWeight: Weights.Warning for a warning endpoint,
// Weights.Passing otherwise, 1 when that is 0.
func weight(e *catalog.Endpoint) uint16 {
	w := e.Weights.Passing
	if e.Status() == v1.CheckWarning {
		w = e.Weights.Warning
	}
	switch {
	case w <= 0:
		return 1
	case w > 65535:
		return 65535
	}
	return uint16(w)
}

// node answers <host>.node: the address of an Up node and its meta as
// TXT k=v records (RFC 1464); NXDOMAIN for unknown and Down nodes.
func (s *Server) node(owner, name string, qtype uint16) result {
	n, ok := s.reader.Node(name)
	if !ok {
		nodes, _ := s.reader.Nodes()
		for _, c := range nodes {
			if strings.EqualFold(c.Name, name) {
				n, ok = c, true
				break
			}
		}
	}
	if !ok || !n.Up {
		return nxdomain
	}
	r := nodata
	if ip, err := netip.ParseAddr(n.Address); err == nil {
		if rr := addrRR(owner, ip, qtype, s.nodeTTL); rr != nil {
			r.answer = append(r.answer, rr)
		}
	}
	if qtype == dns.TypeTXT || qtype == dns.TypeANY {
		keys := make([]string, 0, len(n.Meta))
		for k := range n.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.answer = append(r.answer, &dns.TXT{Hdr: hdr(owner, dns.TypeTXT, s.nodeTTL), Txt: txtStrings(k + "=" + n.Meta[k])})
		}
	}
	return r
}

// addr answers <hex-ip>.addr, the SRV targets of endpoints away from
// their node.
func (s *Server) addr(owner, label string, qtype uint16) result {
	b, err := hex.DecodeString(label)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nxdomain
	}
	ip, _ := netip.AddrFromSlice(b)
	r := nodata
	if rr := addrRR(owner, ip.Unmap(), qtype, 0); rr != nil {
		r.answer = append(r.answer, rr)
	}
	return r
}

// addrRR is the A or AAAA record of ip when qtype asks for its family
// (ANY asks for both), else nil.
func addrRR(owner string, ip netip.Addr, qtype uint16, ttl uint32) dns.RR {
	ip = ip.Unmap()
	switch {
	case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
		return &dns.A{Hdr: hdr(owner, dns.TypeA, ttl), A: ip.AsSlice()}
	case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		return &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, ttl), AAAA: ip.AsSlice()}
	}
	return nil
}

// hexIP is Consul's <hex-ip> label: 8 hex digits for IPv4, 32 for IPv6.
func hexIP(ip netip.Addr) string {
	return hex.EncodeToString(ip.Unmap().AsSlice())
}

func hdr(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// validName reports whether s can be used as (the start of) a domain name
// as it is: letters, digits, '-', '_' and dots between labels of at most
// 63 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// txtStrings splits s into the escaped character-strings of a TXT record
// (at most 255 bytes each, as miekg/dns packs them).
func txtStrings(s string) []string {
	var out []string
	for len(s) > 0 || out == nil {
		n := min(len(s), 255)
		out = append(out, escapeTXT(s[:n]))
		s = s[n:]
	}
	return out
}

func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('\\')
			b.WriteByte('0' + c/100)
			b.WriteByte('0' + c/10%10)
			b.WriteByte('0' + c%10)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// nodeCache looks each node up once per query.
type nodeCache struct {
	reader catalog.Reader
	nodes  map[string]nodeEntry
}

type nodeEntry struct {
	node catalog.Node
	ok   bool
}

func (c *nodeCache) get(name string) (catalog.Node, bool) {
	if e, ok := c.nodes[name]; ok {
		return e.node, e.ok
	}
	n, ok := c.reader.Node(name)
	if c.nodes == nil {
		c.nodes = map[string]nodeEntry{}
	}
	c.nodes[name] = nodeEntry{n, ok}
	return n, ok
}
