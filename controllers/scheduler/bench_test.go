package scheduler

import (
	"fmt"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

// benchCluster is 100 hosts of three sizes and 2,000 Units of mixed
// requests and 1 to 4 replicas, 5,000 replicas in all, of which every
// tenth Unit publishes a fixed host port: the scale of BENCHMARKS.md's
// placement by resources.
func benchCluster() ([]HostInfo, []*v1.Unit) {
	sizes := []struct {
		cpus int
		mem  int64
	}{{4, 8 << 30}, {8, 16 << 30}, {16, 32 << 30}}
	var hosts []HostInfo
	for i := range 100 {
		s := sizes[i%len(sizes)]
		hosts = append(hosts, HostInfo{Name: fmt.Sprintf("host-%03d", i), Up: true,
			MilliCPUs: int64(s.cpus) * 1000, Memory: s.mem, ReservedMilliCPUs: 500, ReservedMemory: 512 << 20})
	}
	requests := []v1.Resources{
		{CPUs: "50m", Memory: "64Mi"}, {CPUs: "100m", Memory: "128Mi"}, {CPUs: "250m", Memory: "256Mi"},
		{CPUs: "500m", Memory: "1Gi"}, {Memory: "32Mi"}, {},
	}
	var units []*v1.Unit
	replicas := 0
	for i := 0; replicas < 5000; i++ {
		u := unit(v1.Placement{Replicas: min(1+i%4, 5000-replicas)})
		u.Metadata.Name = fmt.Sprintf("u%04d", i)
		u.Spec.Container.Resources = requests[i%len(requests)]
		if i%10 == 0 {
			u.Spec.Container.Ports = []v1.Port{{ContainerPort: 80, HostPort: 20000 + i%50, Protocol: v1.ProtocolTCP}}
		}
		replicas += u.Spec.Placement.Replicas
		units = append(units, u)
	}
	return hosts, units
}

// placeAll schedules every unit in turn, as the scheduler's loop does on
// an apply of them all, each decision seeing the ones before it, with the
// load as the loop reads it.
func placeAll(hosts []HostInfo, units []*v1.Unit) (placed, pending int) {
	l := NewLoad()
	for _, u := range units {
		owner := UnitOwner(u.Metadata.Name)
		d := schedule(u, hosts, nil, l.without(owner))
		l.Place(owner, d.Hosts, RequestOf(&u.Spec.Container))
		placed += len(d.Hosts)
		pending += d.Pending
		_ = d.PendingReason()
	}
	return placed, pending
}

// BenchmarkSchedule5000Replicas decides the hosts of 5,000 replicas on 100
// hosts, one Unit after the other: the scheduler's decisions alone,
// without etcd. hack/bench-scale.sh RESOURCES=1 measures the whole loop.
func BenchmarkSchedule5000Replicas(b *testing.B) {
	hosts, units := benchCluster()
	benchPlaceAll(b, hosts, units)
}

// benchPlaceAll places every unit on hosts b.N times, and reports the
// placements per second.
func benchPlaceAll(b *testing.B, hosts []HostInfo, units []*v1.Unit) {
	b.ResetTimer()
	var placed int
	start := time.Now()
	for b.Loop() {
		placed, _ = placeAll(hosts, units)
	}
	b.ReportMetric(float64(placed)*float64(b.N)/time.Since(start).Seconds(), "placements/s")
}

// The benchmark's cluster has room for all its replicas, within every
// host's capacity.
func TestBenchClusterFits(t *testing.T) {
	t.Parallel()
	hosts, units := benchCluster()
	placed, pending := placeAll(hosts, units)
	if placed != 5000 || pending != 0 {
		t.Errorf("placed %d, pending %d; want 5000 placed", placed, pending)
	}
}

// wideCluster is hack/bench-scale.sh's thousand hosts: hosts Up, of no
// reported capacity, and units Units of replicas replicas asking nothing.
func wideCluster(hosts, units, replicas int) ([]HostInfo, []*v1.Unit) {
	hs := make([]HostInfo, hosts)
	for i := range hs {
		hs[i] = HostInfo{Name: fmt.Sprintf("host-%04d", i), Labels: map[string]string{"role": "web"}, Up: true}
	}
	us := make([]*v1.Unit, units)
	for i := range us {
		us[i] = unit(v1.Placement{Replicas: replicas, HostSelector: map[string]string{"role": "web"}})
		us[i].Metadata.Name = fmt.Sprintf("u%04d", i)
	}
	return hs, us
}

// BenchmarkSchedule1000Hosts decides the hosts of 1,000 Units of 10
// replicas on 1,000 hosts, one Unit after the other, as the scheduler's
// loop does on hack/bench-scale.sh's thousand hosts.
func BenchmarkSchedule1000Hosts(b *testing.B) {
	hosts, units := wideCluster(1000, 1000, 10)
	benchPlaceAll(b, hosts, units)
}
