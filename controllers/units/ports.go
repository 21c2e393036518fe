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
// it and no other Unit of this controller holds it. An instance keeps the
// ports it had when they are free again within a moment (waitFree), which
// is waited for without the lock: other instances are given theirs
// meanwhile.
type portAllocator struct {
	lo, hi int
	// waitFree waits a moment for a port to be free (freeSoon).
	waitFree func(protocol string, port int) bool

	mu   sync.Mutex
	held map[string]map[string]int // unit -> "port/proto" -> host port
}

func newPortAllocator(r [2]int) *portAllocator {
	return &portAllocator{lo: r[0], hi: r[1], waitFree: freeSoon, held: map[string]map[string]int{}}
}

// assign returns the bindings of a unit's ports: fixed host ports as
// written, the others chosen (the previous ones when still free).
func (a *portAllocator) assign(unit string, ports []v1.Port, previous map[string]int) ([]runtime.PortBinding, error) {
	freed := a.freedPrevious(unit, ports, previous)
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, unit)
	taken := a.takenLocked("")
	mine := map[string]int{}
	out := make([]runtime.PortBinding, len(ports))
	for i, p := range ports {
		key := portKey(p)
		b := runtime.PortBinding{ContainerPort: p.ContainerPort, HostIP: p.HostIP, Protocol: string(p.Protocol), HostPort: p.HostPort}
		if b.HostPort == 0 {
			if want := previous[key]; freed[key] && !taken[slot(p.Protocol, want)] {
				b.HostPort = want
			} else if b.HostPort = a.pick(p.Protocol, taken); b.HostPort == 0 {
				return nil, fmt.Errorf("no free host port in %d-%d for port %s", a.lo, a.hi, key)
			}
		}
		taken[slot(p.Protocol, b.HostPort)] = true
		mine[key] = b.HostPort
		out[i] = b
	}
	a.held[unit] = mine
	return out, nil
}

// freedPrevious waits, without the lock, for the previous host ports of
// the unit that no other unit holds to be free, and says which are.
func (a *portAllocator) freedPrevious(unit string, ports []v1.Port, previous map[string]int) map[string]bool {
	a.mu.Lock()
	taken := a.takenLocked(unit)
	a.mu.Unlock()
	freed := map[string]bool{}
	for _, p := range ports {
		key := portKey(p)
		if want := previous[key]; p.HostPort == 0 && want != 0 && !taken[slot(p.Protocol, want)] {
			freed[key] = a.waitFree(string(p.Protocol), want)
		}
	}
	return freed
}

// takenLocked returns the host ports the units other than except hold,
// by slot.
func (a *portAllocator) takenLocked(except string) map[string]bool {
	taken := map[string]bool{}
	for u, m := range a.held {
		if u == except {
			continue
		}
		for k, p := range m {
			taken[proto(k)+"/"+strconv.Itoa(p)] = true
		}
	}
	return taken
}

// pick returns a random host port of the range that is not taken and
// that nothing listens on, 0 when there is none.
func (a *portAllocator) pick(protocol v1.Protocol, taken map[string]bool) int {
	n := a.hi - a.lo + 1
	start := rand.IntN(n)
	for j := 0; j < n; j++ {
		cand := a.lo + (start+j)%n
		if !taken[slot(protocol, cand)] && free(string(protocol), cand) {
			return cand
		}
	}
	return 0
}

func (a *portAllocator) release(unit string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, unit)
}

// portKey names a template's port: "containerPort/protocol".
func portKey(p v1.Port) string { return fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol) }

// slot names a host port: "protocol/port".
func slot(protocol v1.Protocol, port int) string { return string(protocol) + "/" + strconv.Itoa(port) }

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
