package ui

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// The cluster of the figure: 1,000 Units on 100 hosts, one
// instance each, and 300 events.
const (
	benchUnits  = 1000
	benchHosts  = 100
	benchEvents = 300
)

// benchHub returns a hub whose model holds the bench cluster, fed as the
// caches feed it, and everything flushed once, as when the first browser
// has connected.
func benchHub(tb testing.TB) *hub {
	h := newHub(nil, nil, "host-000", slog.New(slog.DiscardHandler))
	h.m, h.gen = newModel("host-000"), 1
	h.dirty, h.sent, h.eventAt = map[rowID]bool{}, map[rowID][]byte{}, map[string]time.Time{}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		kv := store.KV{Key: key, Value: b, ModRevision: 1}
		h.note(1, func(m *model) []rowID { return applyKV(m, kv, true) })
	}
	now := time.Now()
	for i := range benchHosts {
		name := fmt.Sprintf("host-%03d", i)
		host := v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost}}
		host.Metadata.Name = name
		host.Metadata.Labels = map[string]string{"zone": fmt.Sprint("z", i%3)}
		host.Status = v1.HostStatus{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250)}, HTTPAddress: fmt.Sprintf("10.0.0.%d:8500", i),
			CPUs: 8, MemoryBytes: 32 << 30, MemoryUsed: 9 << 30, OS: "Debian GNU/Linux 12", BerthVersion: "v0.1.0", DockerVersion: "20.10.24", Heartbeat: now}
		put(store.HostKey(name), host)
		put(store.AliveKey(name), map[string]string{})
	}
	for i := range benchUnits {
		u := testUnit(fmt.Sprintf("unit-%04d", i))
		u.Metadata.Labels = map[string]string{"app": fmt.Sprint("app-", i%50)}
		if i > 0 {
			u.Spec.Requires = []string{fmt.Sprintf("unit-%04d", i-1)}
		}
		put(store.ObjectKey(v1.KindUnit, u.Metadata.Name), u)
		put(store.StatusKey(v1.KindUnit, u.Metadata.Name, fmt.Sprintf("host-%03d", i%benchHosts)), benchStatus(0))
	}
	for i := range benchEvents {
		ev := v1.Event{Object: v1.ObjectReference{Kind: v1.KindUnit, Name: fmt.Sprintf("unit-%04d", i)}, Type: v1.EventNormal,
			Reason: "Started", Message: "container 0123456789ab started", Host: "host-000", Count: 1, FirstTimestamp: now, LastTimestamp: now}
		put(store.EventPrefix(v1.KindUnit, ev.Object.Name)+fmt.Sprint(i), ev)
	}
	h.mu.Lock()
	h.flushLocked()
	h.mu.Unlock()
	return h
}

func benchStatus(restarts int) v1.InstanceStatus {
	code := 137
	return v1.InstanceStatus{State: v1.StateRunning, Goal: v1.GoalStart, Since: time.Now(), ContainerID: "0123456789abcdef0123456789abcdef",
		Ports: []v1.PortStatus{{Name: "http", ContainerPort: 8080, HostPort: 31000}}, Restarts: restarts, LastExitCode: &code, ObservedGeneration: 1,
		Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue, Reason: "Running"}}}
}

// BenchmarkFirstLoad is the server's time for the first browser: every
// key through the model, every row built and encoded once.
func BenchmarkFirstLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchHub(b)
	}
}

// BenchmarkSnapshot is the server's time for each browser that opens the
// page once the rows are built: the snapshot it starts from.
func BenchmarkSnapshot(b *testing.B) {
	h := benchHub(b)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		s, snap := h.subscribe()
		size = len(snap)
		h.unsubscribe(s)
	}
	b.ReportMetric(float64(size), "bytes/snapshot")
}

// BenchmarkUpdate is the server's time for one status change (a restart)
// with subscribers browsers watching: the rows it changes rebuilt,
// encoded, compared and queued for each.
func BenchmarkUpdate(b *testing.B) {
	for _, subscribers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("browsers=%d", subscribers), func(b *testing.B) {
			h := benchHub(b)
			var subs []*subscriber
			for range subscribers {
				s, _ := h.subscribe()
				subs = append(subs, s)
			}
			key := store.StatusKey(v1.KindUnit, "unit-0042", "host-042")
			restarts, size := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				restarts++
				v, _ := json.Marshal(benchStatus(restarts))
				kv := store.KV{Key: key, Value: v, ModRevision: int64(restarts)}
				h.note(1, func(m *model) []rowID { return applyKV(m, kv, true) })
				h.mu.Lock()
				h.flushLocked()
				h.mu.Unlock()
				for _, s := range subs {
					size = len(<-s.ch)
				}
			}
			b.ReportMetric(float64(size), "bytes/message")
		})
	}
}

// BenchmarkHeartbeats is the server's time for a round of heartbeats of
// every host (each rewrites its record), flushed as one message.
func BenchmarkHeartbeats(b *testing.B) {
	h := benchHub(b)
	s, _ := h.subscribe()
	hosts := make([]store.KV, benchHosts)
	for i := range hosts {
		name := fmt.Sprintf("host-%03d", i)
		host := h.m.hosts[name].DeepCopyObject().(*v1.Host)
		v, _ := json.Marshal(host)
		hosts[i] = store.KV{Key: store.HostKey(name), Value: v}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range hosts {
			var host v1.Host
			_ = json.Unmarshal(hosts[i].Value, &host)
			host.Status.Heartbeat = time.Now()
			v, _ := json.Marshal(host)
			kv := store.KV{Key: hosts[i].Key, Value: v}
			h.note(1, func(m *model) []rowID { return applyKV(m, kv, true) })
		}
		h.mu.Lock()
		h.flushLocked()
		h.mu.Unlock()
		<-s.ch
	}
}

// BenchmarkStream is what browsers see: each op is one status written to
// a real (embedded) etcd, until every one of the open streams, each a real
// HTTP connection, has received it. Its time includes the hub's 100 ms of
// coalescing. It reports the server's heap per open stream.
func BenchmarkStream(b *testing.B) {
	for _, browsers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("browsers=%d", browsers), func(b *testing.B) {
			d := newDashboard(b, false)
			d.apply(testUnit("web"))
			d.put(store.HostKey("h1"), v1.Host{})
			d.put(store.AliveKey("h1"), map[string]string{})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			streams := make([]<-chan streamMsg, browsers)
			for i := range streams {
				streams[i] = d.openStream()
				<-streams[i] // the snapshot
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perBrowser := float64(after.HeapAlloc-before.HeapAlloc) / float64(browsers) / 1024
			key := store.StatusKey(v1.KindUnit, "web", "h1")
			restarts := 0
			for b.Loop() {
				restarts++
				d.put(key, v1.InstanceStatus{State: v1.StateRunning, Restarts: restarts})
				for _, s := range streams {
					waitRow(b, s, rowUnit, "web", func(u unitRow) bool {
						return len(u.Instances) == 1 && u.Instances[0].Restarts == restarts
					})
				}
			}
			b.ReportMetric(perBrowser, "KiB/browser")
		})
	}
}
