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
// meanwhile. A port the engine refused although it looked free (held by
// a container of another controller on the same engine, or published by
// Docker without its userland proxy, where nothing listens) is not chosen
// again for portRefusal.
type portAllocator struct {
	lo, hi int
	// waitFree waits a moment for a port to be free (freeSoon).
	waitFree func(protocol string, port int) bool
	// intN draws where pick starts looking (rand.IntN).
	intN func(n int) int
	now  func() time.Time

	mu      sync.Mutex
	held    map[string]map[string]int // unit -> "port/proto" -> host port
	refused map[string]time.Time      // slot -> until when the engine's refusal is remembered
}

// portRefusal is how long a host port the engine refused is not chosen.
const portRefusal = 10 * time.Minute

func newPortAllocator(r [2]int) *portAllocator {
	return &portAllocator{lo: r[0], hi: r[1], waitFree: freeSoon, intN: rand.IntN, now: time.Now,
		held: map[string]map[string]int{}, refused: map[string]time.Time{}}
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

// refuse remembers that the engine refused to publish the host ports
// berth chose for the unit (those of ports whose hostPort is 0), so that
// the next assign chooses others, and reports whether there were any: a
// hostPort written in the template is the user's to change.
func (a *portAllocator) refuse(unit string, ports []v1.Port) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until := a.now().Add(portRefusal)
	chosen := false
	for _, p := range ports {
		if hp := a.held[unit][portKey(p)]; p.HostPort == 0 && hp != 0 {
			a.refused[slot(p.Protocol, hp)] = until
			chosen = true
		}
	}
	return chosen
}

// takenLocked returns the host ports the units other than except hold,
// and those the engine refused lately, by slot.
func (a *portAllocator) takenLocked(except string) map[string]bool {
	taken := map[string]bool{}
	now := a.now()
	for s, until := range a.refused {
		if now.Before(until) {
			taken[s] = true
		} else {
			delete(a.refused, s)
		}
	}
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
	start := a.intN(n) // under a.mu, as assign calls it
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
