package catalogdns

import (
	"net"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps what is written, packed and
// parsed back, as a client would see it. It speaks UDP unless tcp is set.
type recorder struct {
	tcp  bool
	msg  *dns.Msg
	wire []byte
	err  error // of packing the response
}

func (r *recorder) LocalAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
}

func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53000}
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	r.wire, r.err = m.Pack()
	return r.err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wire = append([]byte(nil), b...)
	r.msg = new(dns.Msg)
	r.err = r.msg.Unpack(b)
	return len(b), r.err
}

func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

var _ dns.ResponseWriter = (*recorder)(nil)
