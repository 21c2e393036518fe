// Package catalogdns answers DNS for berth's service catalog, with Consul's
// semantics, from a catalog.Reader (memory kept current by a watch: never
// etcd per query).
//
// The directory is internal/catalog/dns; the package is named catalogdns so
// that it does not shadow github.com/miekg/dns, whose types its handler
// takes.
//
// # Names
//
// In the domain (Config.Domain, "berth." by default), case-insensitively:
//
//	<service>.service.<domain>          A / AAAA / SRV of its routable endpoints
//	<tag>.<service>.service.<domain>    the same, only endpoints carrying tag
//	_<service>._<tag>.service.<domain>  RFC 2782; _tcp and _udp filter nothing
//	_<service>._<tag>.<domain>          RFC 2782 without "service", as Consul
//	<host>.node.<domain>                A / AAAA of an Up node; TXT k=v of its meta
//	<hex-ip>.addr.<domain>              A / AAAA of the IP (SRV targets)
//	<domain>                            SOA and NS
//
// Routable endpoints are those of catalog.Endpoint.Routable: never critical,
// warning unless the endpoint asks for passing only. A service with none
// (unknown, or all critical, or no endpoint with the tag) is NXDOMAIN with
// the SOA in the authority section; a name that exists without records of
// the type asked gets NOERROR, no answer and the SOA. The SOA's serial is
// the catalog index; refresh 3600, retry 600, expire 86400, minimum 0.
//
// Service answers are shuffled on every query. A and AAAA records are one
// per distinct address (endpoints sharing an address give one record, as
// an RRset has no duplicates); SRV records are one per endpoint: priority
// 1, weight Weights.Passing (Weights.Warning for a warning endpoint; 1 when
// 0), the endpoint's port, and target <host>.node.<domain> when the
// endpoint is at the address of its Up node, <hex-ip>.addr.<domain>
// otherwise, with the target's address in the additional section. The TTL
// of a service answer is the smallest Endpoint.DNSTTL among its endpoints
// (0 by default); node answers take Config.NodeTTL.
//
// # Transport
//
// Start serves UDP and TCP on Config.Listen. Over UDP an answer is cut to
// the client's EDNS0 buffer (512 bytes without EDNS0, at most 4096) with
// the TC bit set, so the client retries over TCP and gets it whole (up to
// 64 KiB). An OPT record is echoed when the client sent one; EDNS versions
// above 0 get BADVERS.
//
// Names outside the domain are REFUSED, unless Config.Recursors are set:
// then they are forwarded to each recursor in turn over the query's
// transport (RecursorTimeout, 2s by default, each), the first NOERROR or
// NXDOMAIN answer wins, and SERVFAIL is returned when none gives one. The
// RA bit is set only when recursors are. Queries with zero or several
// questions get FORMERR, other opcodes NOTIMP; packets that do not parse
// get FORMERR from miekg/dns's server before the handler sees them.
//
// # Metrics
//
// When Config.Metrics is set:
//
//	berth_dns_queries_total{qtype,rcode}          counter; qtype A, AAAA, SRV, TXT, ANY, SOA, NS, PTR,
//	                                              CNAME, MX, HTTPS or "other"; rcode NOERROR, NXDOMAIN,
//	                                              REFUSED, SERVFAIL, FORMERR, NOTIMP, BADVERS or "other"
//	berth_dns_request_duration_seconds{proto}     histogram; proto udp or tcp
//
// Packets that miekg/dns rejects before the handler are not counted.
package catalogdns
