package units

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// portAllocator chooses host ports for ports whose hostPort is 0, from a
// range, so that the container can be told its port (BERTH_PORT_<NAME>)
// before it starts, as Helios does. A port is free when nothing listens on
// it and no other Unit of this controller holds it.
type portAllocator struct {
	lo, hi int
	mu     sync.Mutex
	held   map[string]map[string]int // unit -> "port/proto" -> host port
}

func newPortAllocator(r [2]int) *portAllocator {
	return &portAllocator{lo: r[0], hi: r[1], held: map[string]map[string]int{}}
}

// assign returns the bindings of a unit's ports: fixed host ports as
// written, the others chosen (the previous ones when still free).
func (a *portAllocator) assign(unit string, ports []v1.Port, previous map[string]int) ([]runtime.PortBinding, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, unit)
	taken := map[string]bool{}
	for _, m := range a.held {
		for k, p := range m {
			taken[proto(k)+"/"+strconv.Itoa(p)] = true
		}
	}
	mine := map[string]int{}
	out := make([]runtime.PortBinding, len(ports))
	for i, p := range ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
		b := runtime.PortBinding{ContainerPort: p.ContainerPort, HostIP: p.HostIP, Protocol: string(p.Protocol), HostPort: p.HostPort}
		if b.HostPort == 0 {
			want := previous[key]
			if want != 0 && !taken[string(p.Protocol)+"/"+strconv.Itoa(want)] && freeSoon(string(p.Protocol), want) {
				b.HostPort = want
			} else {
				n := a.hi - a.lo + 1
				start := rand.IntN(n)
				for j := 0; j < n; j++ {
					cand := a.lo + (start+j)%n
					if !taken[string(p.Protocol)+"/"+strconv.Itoa(cand)] && free(string(p.Protocol), cand) {
						b.HostPort = cand
						break
					}
				}
				if b.HostPort == 0 {
					return nil, fmt.Errorf("no free host port in %d-%d for port %s", a.lo, a.hi, key)
				}
			}
		}
		taken[string(p.Protocol)+"/"+strconv.Itoa(b.HostPort)] = true
		mine[key] = b.HostPort
		out[i] = b
	}
	a.held[unit] = mine
	return out, nil
}

func (a *portAllocator) release(unit string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, unit)
}

func proto(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return "tcp"
}

// freeSoon waits a moment for a port the instance just gave up (its old
// container's proxy may still hold it) to be free.
func freeSoon(protocol string, port int) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if free(protocol, port) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// free reports whether nothing listens on the port on this host.
func free(protocol string, port int) bool {
	addr := ":" + strconv.Itoa(port)
	if protocol == string(v1.ProtocolUDP) {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
