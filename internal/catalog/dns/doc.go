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
// Service answers come in a random order on every query. A and AAAA records are one
// per distinct address (endpoints sharing an address give one record, as
// an RRset has no duplicates); SRV records are one per endpoint: priority
// 1, weight Weights.Passing (Weights.Warning for a warning endpoint; 1 when
// 0), the endpoint's port, and target <host>.node.<domain> when the
// endpoint is at the address of its Up node, <hex-ip>.addr.<domain>
// otherwise, with the target's address in the additional section. The TTL
// of a service answer is the smallest Endpoint.DNSTTL among its endpoints
// (0 by default); node answers take Config.NodeTTL.
//
// A service's records are built once per catalog index and kept (at most
// 1024 answers, only of names that have records): a query at the same
// index takes one of eight random orders of them, rotated by a random
// offset, so each endpoint comes first equally often, and the cut of its
// additional section to the client's buffer is remembered too. Any change
// to the catalog moves the index and drops the cache, so an answer is
// never older than the catalog.
//
// # Transport
//
// Start serves UDP and TCP on Config.Listen. Over UDP an answer is cut to
// the client's EDNS0 buffer (512 bytes without EDNS0, at most 4096) with
// the TC bit set, so the client retries over TCP and gets it whole (up to
// 64 KiB). An OPT record is echoed when the client sent one; EDNS versions
// above 0 get BADVERS.
//
// Names outside the domain are REFUSED, whatever the RD bit says, unless
// Config.Recursors are set: then they are forwarded to each recursor in
// turn over the query's transport (RecursorTimeout, 2s by default, each),
// the first NOERROR or NXDOMAIN answer wins (cut to the client's buffer
// over UDP, with TC), and SERVFAIL is returned when none gives one. Names
// in the domain are never forwarded. The RA bit is set only when
// recursors are.
//
// # Abuse
//
// The server may listen where anyone can send to it, so it refuses what
// serves only to amplify or to exhaust it:
//
//   - Zone transfers (AXFR, IXFR) are REFUSED, in the domain or out of it.
//   - ANY over UDP gets an empty answer with the TC bit (RFC 8482 4.4):
//     the client asks again over TCP, where it is answered (dig does so
//     by itself).
//   - Over UDP, each client address (IPv4 address, IPv6 /64) has a token
//     bucket of Config.RateLimit queries a second, Config.RateBurst at
//     once (0: no limit). Past it, one query in two is dropped and the
//     other answered with an empty response with the TC bit, as BIND's
//     response rate limiting with slip 2: a spoofed victim gets no more
//     bytes than were sent in its name, and a real client retries over
//     TCP. The limit applies before the packet is parsed. Buckets are
//     kept for the 16384 clients seen last, and a client is forgotten once
//     its bucket has filled up again.
//   - Loopback clients (127.0.0.0/8, ::1, and IPv4 ones mapped in IPv6)
//     are not rate limited, unless Config.RateLimitLoopback says so. The
//     limit exists so that no one is flooded with answers sent in their
//     name, and an answer to a loopback address reaches only this host;
//     meanwhile a program doing many lookups, or a local stub resolver
//     forwarding every program's, sends them all from one loopback
//     address, as to any local resolver. The exemption is by the client's
//     address, not by the listener: a server on an address that
//     containers or other machines reach still limits them.
//   - TCP is not rate limited (the client proved its address and the
//     answer goes to it alone), but bounded: 2s to send the first query,
//     8s between queries, 128 queries a connection, 32 connections open
//     at once per client address and 1024 in all; past those, a new
//     connection is closed as soon as it is accepted.
//   - UDP packets are read into 4096 bytes (what is longer is cut and
//     does not parse); TCP messages are at most 64 KiB by their framing.
//     miekg/dns's server drops packets shorter than a header and
//     responses, answers FORMERR to those that do not parse (including
//     compression pointer loops) or that do not ask exactly one question,
//     and NOTIMP to opcodes other than QUERY and NOTIFY, before the
//     handler; the handler answers NOTIFY with NOTIMP and EDNS versions
//     above 0 with BADVERS. Malformed packets are logged at debug level,
//     without their contents.
//
// # Metrics
//
// When Config.Metrics is set:
//
//	berth_dns_queries_total{qtype,rcode}          counter; qtype A, AAAA, SRV, TXT, ANY, SOA, NS, PTR,
//	                                              CNAME, MX, HTTPS or "other"; rcode NOERROR, NXDOMAIN,
//	                                              REFUSED, SERVFAIL, FORMERR, NOTIMP, BADVERS or "other"
//	berth_dns_request_duration_seconds{proto}     histogram; proto udp or tcp
//	berth_dns_rate_limited_total{action}          counter; UDP queries over their client's rate:
//	                                              action drop (not answered) or truncate (answered
//	                                              empty with TC)
//
// Packets that miekg/dns rejects before the handler, and queries over the
// rate limit, are not counted in berth_dns_queries_total.
package catalogdns
