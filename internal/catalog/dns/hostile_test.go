package catalogdns

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// noReply: the server is to send nothing back.
const noReply = -1

// hostilePackets are packets a server on a network sees, with the rcode
// it answers over UDP and over TCP (noReply for none).
func hostilePackets(t *testing.T) []struct {
	name     string
	wire     []byte
	udp, tcp int
} {
	t.Helper()
	header := func(id, bits, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		for i, v := range []uint16{id, bits, qd, an, ns, ar} {
			binary.BigEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	two := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "node1.node.berth.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	response := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA)
	response.Response = true
	update := new(dns.Msg).SetUpdate("berth.")
	update.Insert([]dns.RR{&dns.A{Hdr: hdr("x.berth.", dns.TypeA, 0), A: net.IPv4(192, 0, 2, 1)}})

	// A query whose OPT record carries 6000 bytes of option: cut at the
	// 4096 bytes read over UDP, whole over TCP.
	big := pack(new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA))
	binary.BigEndian.PutUint16(big[10:], 1) // ARCOUNT
	big = append(big, 0, 0, 41, 0x10, 0, 0, 0, 0, 0)
	big = binary.BigEndian.AppendUint16(big, 6000) // RDLENGTH
	big = binary.BigEndian.AppendUint16(big, 65001)
	big = binary.BigEndian.AppendUint16(big, 5996)
	big = append(big, make([]byte, 5996)...)

	return []struct {
		name     string
		wire     []byte
		udp, tcp int
	}{
		{"shorter than a header", []byte{0x12, 0x34, 0x01}, noReply, noReply},
		{"a header asking nothing", header(0x1234, 0x0100, 0, 0, 0, 0), dns.RcodeFormatError, dns.RcodeFormatError},
		{"a header announcing a question it does not carry", header(0x1234, 0x0100, 1, 0, 0, 0), dns.RcodeFormatError, dns.RcodeFormatError},
		{"two questions", pack(two), dns.RcodeFormatError, dns.RcodeFormatError},
		{"garbage after the header", append(header(0x1234, 0x0100, 1, 0, 0, 0), 0xff, 0xfe, 0x00, 0x17), dns.RcodeFormatError, dns.RcodeFormatError},
		{"a name pointing past the end", append(header(1, 0x0100, 1, 0, 0, 0), 0xc0, 0xff, 0, 1, 0, 1), dns.RcodeFormatError, dns.RcodeFormatError},
		{"a name pointing to itself", append(header(2, 0x0100, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError, dns.RcodeFormatError},
		{"two names pointing to each other", append(header(3, 0x0100, 1, 0, 0, 0), 1, 'a', 0xc0, 16, 1, 'b', 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError, dns.RcodeFormatError},
		{"a label longer than the packet", append(header(4, 0x0100, 1, 0, 0, 0), 63, 'a', 'b'), dns.RcodeFormatError, dns.RcodeFormatError},
		{"a response, not a query", pack(response), noReply, noReply},
		{"an UPDATE", pack(update), dns.RcodeNotImplemented, dns.RcodeNotImplemented},
		{"an answer section of 1000 records announced", header(5, 0x0100, 1, 1000, 0, 0), dns.RcodeFormatError, dns.RcodeFormatError},
		{"6000 bytes", big, dns.RcodeFormatError, dns.RcodeSuccess},
	}
}

func TestMalformedUDPPacketsGetFormErrAndTheServerKeepsAnswering(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	for _, tc := range hostilePackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialUDP(t, "127.0.0.1", addr)
			write(t, c, tc.wire)
			if tc.udp != noReply {
				r := read(t, c)
				if r.Rcode != tc.udp || r.Id != binary.BigEndian.Uint16(tc.wire) {
					t.Errorf("rcode %s id %d, want %s for id %d", dns.RcodeToString[r.Rcode], r.Id, dns.RcodeToString[tc.udp], binary.BigEndian.Uint16(tc.wire))
				}
			}
			// The next query on the same socket is answered, and it is
			// the first thing the server sends back when it was to send
			// nothing for the packet before.
			checkGoodQuery(t, c, func(c net.Conn, b []byte) { write(t, c, b) }, read)
		})
	}
}

func TestMalformedTCPMessagesGetFormErrAndTheConnectionKeepsAnswering(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	// All on one connection, one after the other.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range hostilePackets(t) {
		writeTCP(t, c, tc.wire)
		if tc.tcp != noReply {
			r := readTCP(t, c)
			if r.Rcode != tc.tcp || r.Id != binary.BigEndian.Uint16(tc.wire) {
				t.Errorf("%s: rcode %s id %d, want %s for id %d", tc.name, dns.RcodeToString[r.Rcode], r.Id, dns.RcodeToString[tc.tcp], binary.BigEndian.Uint16(tc.wire))
			}
		}
		checkGoodQuery(t, c, func(c net.Conn, b []byte) { writeTCP(t, c, b) }, readTCP)
	}
}

func TestTCPConnectionsThatBreakOffAreClosedAndOthersAnswered(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"nothing sent", nil},
		{"half a length", []byte{0x00}},
		{"a length promising more than is sent", []byte{0xff, 0xff, 0x12, 0x34, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(tc.send) > 0 {
				if _, err := c.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			// The server gives up on the connection after its read
			// timeout (2s): wait for that, bounded.
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read %d bytes, %v: want the server to close the connection", n, err)
			}
			other, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			checkGoodQuery(t, other, func(c net.Conn, b []byte) { writeTCP(t, c, b) }, readTCP)
		})
	}
}

func TestRandomPacketsDoNotStopTheServer(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, fixture(), Config{})
	rng := rand.New(rand.NewPCG(9, 9))
	c := dialUDP(t, "127.0.0.1", addr)
	// In rounds of 20, so that no socket buffer overflows.
	for range 25 {
		for range 20 {
			b := make([]byte, rng.IntN(600))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if len(b) > 2 {
				b[2] &^= 0x80 // a query, or the server ignores it outright
			}
			write(t, c, b)
		}
		checkGoodQuery(t, c, func(c net.Conn, b []byte) { write(t, c, b) }, read)
	}

	// Over TCP, on a connection of its own each: a reply, if any, is read
	// before the next.
	for range 50 {
		tc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 12+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[2] &^= 0x80
		writeTCP(t, tc, b)
		checkGoodQuery(t, tc, func(c net.Conn, b []byte) { writeTCP(t, c, b) }, readTCP)
		tc.Close()
	}
}

// checkGoodQuery asks web.service.berth. A on c and checks the answer,
// skipping answers to earlier packets; it fails when none comes.
func checkGoodQuery(t *testing.T, c net.Conn, send func(net.Conn, []byte), recv func(*testing.T, net.Conn) *dns.Msg) {
	t.Helper()
	m := new(dns.Msg).SetQuestion("web.service.berth.", dns.TypeA)
	m.Id = 0xbe47
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	send(c, b)
	for {
		r := recv(t, c)
		if r.Id != m.Id {
			continue
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
			t.Errorf("web.service.berth. A: %s with %d answers, want NOERROR with 2", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return
	}
}

// dialUDP is a UDP socket from local (an address of 127/8) to addr.
func dialUDP(t *testing.T, local, addr string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(local)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// read returns the next UDP datagram from c, parsed; it fails after 10s.
func read(t *testing.T, c net.Conn) *dns.Msg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("the answer does not parse: %v", err)
	}
	return r
}

func writeTCP(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	write(t, c, append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
}

// readTCP returns the next message on c, parsed; it fails after 10s.
func readTCP(t *testing.T, c net.Conn) *dns.Msg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n uint16
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("a cut answer: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf); err != nil {
		t.Fatalf("the answer does not parse: %v", err)
	}
	return r
}
