package units

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/events"
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

// TestPortRefusedByTheEngineIsChosenAgain: a host port that looks free to
// the controller but that the engine refuses (a container berth does not
// see holds it: one of another controller on the same engine, or a port
// Docker publishes without its userland proxy) does not hold the instance
// up: its container is removed and made again on another port.
func TestPortRefusedByTheEngineIsChosenAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.PortRange = [2]int{41500, 41501}
		o.Events = events.NewRecorder(o.Store, o.Host, nil)
	})
	ctx := context.Background()
	holder, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: "holder", Image: "berth/testapp",
		Ports: []runtime.PortBinding{{ContainerPort: 80, HostPort: 41500}}})
	if err == nil {
		err = e.rt.Start(ctx, holder)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.c.ports.mu.Lock()
	e.c.ports.intN = func(int) int { return 0 } // the held port is tried first
	e.c.ports.mu.Unlock()

	e.apply(pinned("web", func(u *v1.Unit) { u.Spec.Container.Ports = []v1.Port{{Name: "http", ContainerPort: 8080}} }))
	st := e.waitState("web", v1.StateRunning)
	if len(st.Ports) != 1 || st.Ports[0].HostPort != 41501 {
		t.Errorf("ports %+v, want host port 41501: the other of the range", st.Ports)
	}
	if got := e.eventReasons("web"); !slices.Contains(got, "PortTaken") {
		t.Errorf("events %v, want a PortTaken", got)
	}
	ctrs, err := e.rt.List(ctx, runtime.ListOptions{All: true, Labels: map[string]string{v1.LabelName: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 1 || ctrs[0].State != runtime.StateRunning {
		t.Errorf("web's containers %+v, want one running: the refused one removed", ctrs)
	}
}
