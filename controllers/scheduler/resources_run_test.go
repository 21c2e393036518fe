package scheduler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/controllers/scheduler"
	"berth.dev/berth/internal/events"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

const gi = 1 << 30

// putSizedHost writes an Up host record with cpus CPUs and mem bytes of
// memory, of which reservedMem is reserved, as a controller's heartbeat
// does.
func putSizedHost(t *testing.T, s *store.Store, name string, cpus int, mem, reservedMem int64) {
	t.Helper()
	h := v1.New(v1.KindHost).(*v1.Host)
	h.Metadata.Name = name
	h.Status.CPUs, h.Status.MemoryBytes, h.Status.ReservedMemory = cpus, mem, reservedMem
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(testCtx(t), store.HostKey(name), b, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(testCtx(t), store.AliveKey(name), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
}

// sizedUnit is a unit of one replica asking mem of memory.
func sizedUnit(name string, mem v1.Quantity, ports ...v1.Port) *v1.Unit {
	u := newUnit(name, v1.Placement{})
	u.Spec.Container.Resources.Memory = mem
	u.Spec.Container.Ports = ports
	v1.Default(u)
	return u
}

func isPending(gen int64, reason string) func(*v1.Binding) bool {
	return func(b *v1.Binding) bool {
		return b != nil && b.Generation == gen && len(b.Hosts) == 0 && b.Pending == 1 && b.PendingReason == reason
	}
}

// waitEvent waits until unit name has an event of reason whose message
// holds msg.
func waitEvent(t *testing.T, s *store.Store, name, reason, msg string) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, reason+" event of "+name, func() (bool, string) {
		evs, err := store.ListEvents(testCtx(t), s, v1.KindUnit, name)
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs {
			if ev.Reason == reason && strings.Contains(ev.Message, msg) {
				return true, ""
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
		}
		return false, fmt.Sprintf("events: %q", seen)
	})
}

// A unit asking more memory than any host has free is pending, its binding
// and an event saying why with the figures; it is placed, and says so, as
// soon as a host with room joins.
func TestSchedulerPendingUntilHostWithRoomJoins(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	putSizedHost(t, s, "small", 2, 4*gi, 3*gi)
	rec := events.NewRecorder(s, v1.ReservedHostName, nil)
	t.Cleanup(rec.Close)
	run(t, s, scheduler.Options{Events: rec})

	apply(t, s, sizedUnit("big", "2Gi"))
	reason := "pending: no host can take one: small: not enough memory: asks 2Gi, 1Gi free of 4Gi (3Gi reserved)"
	waitBinding(t, s, "big", isPending(1, reason))
	waitEvent(t, s, "big", "Pending", reason)

	putSizedHost(t, s, "roomy", 2, 8*gi, 0)
	waitBinding(t, s, "big", func(b *v1.Binding) bool {
		return isBoundTo(1, "roomy")(b) && b.Pending == 0 && b.PendingReason == ""
	})
	waitEvent(t, s, "big", "Placed", "roomy")
}

// Room a deleted unit leaves is given to a pending unit at once, without
// waiting for a resync; what units ask adds up.
func TestSchedulerPendingUntilUnitDeleted(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	putSizedHost(t, s, "h1", 2, 3*gi, 0)
	run(t, s, scheduler.Options{}) // default resync of 30s: the test ends well before one
	apply(t, s, sizedUnit("a", "1Gi"), sizedUnit("b", "1Gi"))
	waitBinding(t, s, "a", isBoundTo(1, "h1"))
	waitBinding(t, s, "b", isBoundTo(1, "h1"))
	apply(t, s, sizedUnit("c", "1536Mi"))
	waitBinding(t, s, "c", isPending(1, "pending: no host can take one: h1: not enough memory: asks 1.5Gi, 1Gi free of 3Gi"))

	if err := store.DeleteObject(testCtx(t), s, v1.KindUnit, "a"); err != nil {
		t.Fatal(err)
	}
	waitBinding(t, s, "c", isBoundTo(1, "h1"))
}

// Jobs take memory and host ports where their bindings place them, and a
// host port an instance reports is taken: units go elsewhere.
func TestSchedulerCountsJobsAndReportedPorts(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	for _, h := range []string{"h1", "h2", "h3"} {
		putSizedHost(t, s, h, 2, 2*gi, 0)
	}
	j := v1.New(v1.KindJob).(*v1.Job)
	j.Metadata.Name = "db"
	j.Spec.Version = "1"
	j.Spec.Container.Image = "busybox"
	j.Spec.Container.Resources.Memory = "1536Mi"
	j.Spec.Container.Ports = []v1.Port{{ContainerPort: 80, HostPort: 8080}}
	j.Spec.Deployments = []v1.Deployment{{Host: "h1"}}
	v1.Default(j)
	if _, err := store.Apply(testCtx(t), s, []v1.Object{j}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(v1.JobBinding{Hosts: map[string]string{"h1": "1"}})
	if _, err := s.Put(testCtx(t), store.BindingKey(v1.KindJob, "db"), jb, 0); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(v1.InstanceStatus{Host: "h2", State: v1.StateRunning,
		Ports: []v1.PortStatus{{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP}}})
	if _, err := s.Put(testCtx(t), store.StatusKey(v1.KindUnit, "other", "h2"), st, 0); err != nil {
		t.Fatal(err)
	}
	run(t, s, scheduler.Options{})

	apply(t, s, sizedUnit("web", "", v1.Port{ContainerPort: 80, HostPort: 8080}), sizedUnit("cache", "1Gi"))
	waitBinding(t, s, "web", isBoundTo(1, "h3"))
	b := waitBinding(t, s, "cache", hasHosts(1, 1))
	if b.Hosts[0] == "h1" {
		t.Errorf("cache (1Gi) placed on h1, where the job db takes 1.5Gi of 2Gi: %+v", b)
	}
}
