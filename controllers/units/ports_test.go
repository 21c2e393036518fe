package units

import (
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// TestPortAllocatorWaitsWithoutItsLock: while one instance waits for the
// host port it had to be free again, another is given its ports; one that
// takes that port meanwhile has it, and the first gets another.
func TestPortAllocatorWaitsWithoutItsLock(t *testing.T) {
	t.Parallel()
	a := newPortAllocator([2]int{43000, 43999})
	waiting, release := make(chan struct{}), make(chan struct{})
	a.waitFree = func(string, int) bool {
		close(waiting)
		<-release
		return true
	}
	web := []v1.Port{{ContainerPort: 8080, Protocol: v1.ProtocolTCP}}
	first := make(chan []runtime.PortBinding, 1)
	go func() {
		b, err := a.assign("web", web, map[string]int{"8080/tcp": 43210})
		if err != nil {
			t.Error(err)
		}
		first <- b
	}()
	<-waiting

	// Another unit asks for that port, fixed, while web waits for it.
	assigned := make(chan []runtime.PortBinding, 1)
	go func() {
		b, err := a.assign("db", []v1.Port{{ContainerPort: 5432, Protocol: v1.ProtocolTCP, HostPort: 43210}}, nil)
		if err != nil {
			t.Error(err)
		}
		assigned <- b
	}()
	select {
	case b := <-assigned:
		if len(b) != 1 || b[0].HostPort != 43210 {
			t.Errorf("db's ports %+v, want host port 43210", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("another unit's ports wait while the allocator waits for a port to be free")
	}
	close(release)
	b := <-first
	if len(b) != 1 || b[0].HostPort == 43210 || b[0].HostPort < 43000 || b[0].HostPort > 43999 {
		t.Errorf("web's ports %+v: want another port of the range than db's 43210", b)
	}

	// Released, it is web's again the next time.
	a.release("db")
	a.waitFree = func(string, int) bool { return true }
	if b, err := a.assign("web", web, map[string]int{"8080/tcp": 43210}); err != nil || b[0].HostPort != 43210 {
		t.Errorf("web's ports %+v, %v; want its previous host port 43210", b, err)
	}
}
