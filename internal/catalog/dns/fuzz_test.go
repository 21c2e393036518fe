package catalogdns

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// FuzzServeDNS feeds raw packets to the handler, every one that parses:
// more than miekg/dns's server lets through (dns.DefaultMsgAcceptFunc
// answers FORMERR or NOTIMP, or drops, some before the handler), as
// another server could call it. The response must pack, keep the query's
// id, and fit a UDP client's buffer. The truncated response that the rate
// limit sends instead must parse, with the query's id, TC and no record,
// in 512 bytes. Seeds are under testdata/fuzz/FuzzServeDNS.
func FuzzServeDNS(f *testing.F) {
	mem := fixture()
	bigService(mem, "big", 60)
	odd := catalog.Endpoint{ID: "odd", Service: "odd", Host: `we"ird\host`, Address: "not an address", Port: 70000,
		Tags: []string{"T\x00g"}, Weights: catalog.Weights{Passing: -3, Warning: 1 << 20}, Source: catalog.SourceStatic}
	mem.PutEndpoint(odd, 0)
	mem.PutEndpoint(withStatus(catalog.Endpoint{ID: "odd2", Service: "odd", Host: "node1", Address: "host.example", Port: 1,
		OnlyPassing: true}, v1.CheckWarning), 0)
	mem.PutNode(catalog.Node{Name: "meta", Address: "10.7.7.7", Up: true, Meta: map[string]string{
		"quote": `a"b\c`, "long": string(make([]byte, 600)), "bin": "\xff\x00\x01", "": ""}}, 0)
	s := mustNew(f, mem, Config{})

	f.Fuzz(func(t *testing.T, packet []byte, tcp bool) {
		if b := s.truncatedReply(packet); b != nil {
			r := new(dns.Msg)
			if err := r.Unpack(b); err != nil {
				t.Fatalf("the truncated response does not parse: %v", err)
			}
			if !r.Truncated || !r.Response || len(r.Answer)+len(r.Ns)+len(r.Extra) > 0 || len(b) > dns.MinMsgSize ||
				binary.BigEndian.Uint16(packet) != r.Id {
				t.Fatalf("truncated response of %d bytes:\n%v", len(b), r)
			}
		}
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // miekg/dns's server answers FORMERR itself
		}
		w := &recorder{tcp: tcp}
		s.ServeDNS(w, req)
		if w.msg == nil {
			t.Fatal("no response written")
		}
		if w.err != nil {
			t.Fatalf("the response does not pack: %v\n%v", w.err, w.msg)
		}
		if w.msg.Id != req.Id || !w.msg.Response {
			t.Fatalf("response id %d (QR %v), want %d with QR", w.msg.Id, w.msg.Response, req.Id)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
			}
		}
		if len(w.wire) > limit {
			t.Fatalf("response of %d bytes over %s, limit %d", len(w.wire), map[bool]string{true: "tcp", false: "udp"}[tcp], limit)
		}
	})
}
