// Command scale measures berth at many hosts with the fake runtime: how
// long many Units take from one apply to RUNNING everywhere, how many etcd
// writes each converged instance costs, what a controller costs in memory,
// and how long the Units of a lost host take to run elsewhere.
// hack/bench-scale.sh starts an etcd and runs it twice: once as the
// leader (-mode leader, one controller in its own process, so its memory
// is its own), then as the hosts (-mode hosts, -hosts controllers in one
// process, each with its own fake runtime, host name and ports). It is run
// by hand, not in CI.
//
// Memory of the hosts is the process's RSS and Go heap divided by the
// number of controllers, after subtracting what the process held before
// the first controller started: Go has no per-goroutine-tree heap.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/agent"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
)

const image = "bench/app:latest"

type opts struct {
	mode            string
	etcd            []string
	hosts, units    int
	replicas        int
	ttl, reschedule time.Duration
	resources       bool
	timeout         time.Duration
	leaderListen    string
	leaderPID       int
	dir             string
}

func main() {
	var o opts
	var etcd string
	flag.StringVar(&o.mode, "mode", "hosts", "leader: run one controller until SIGTERM; hosts: run the measurement")
	flag.StringVar(&etcd, "etcd", "", "comma-separated etcd client URLs")
	flag.IntVar(&o.hosts, "hosts", 100, "host controllers in this process")
	flag.IntVar(&o.units, "units", 50, "Units applied at once")
	flag.IntVar(&o.replicas, "replicas", 5, "replicas of each Unit")
	flag.DurationVar(&o.ttl, "ttl", 3*time.Second, "--heartbeat-ttl of every controller")
	flag.DurationVar(&o.reschedule, "reschedule-after", 3*time.Second, "--reschedule-after of the leader")
	flag.StringVar(&o.leaderListen, "leader-listen", "", "the leader's --listen (for its /metrics)")
	flag.IntVar(&o.leaderPID, "leader-pid", 0, "the leader's process id (for its RSS)")
	flag.StringVar(&o.dir, "dir", os.TempDir(), "data directories go under it")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "how long every instance may take to be RUNNING")
	flag.BoolVar(&o.resources, "resources", false, "hosts of three capacities (--reserved-cpus and --reserved-memory) and Units of mixed requests")
	flag.Parse()
	o.etcd = strings.Split(etcd, ",")
	var err error
	switch o.mode {
	case "leader":
		err = leader(o)
	case "hosts":
		err = hosts(o)
	default:
		err = fmt.Errorf("-mode %q: leader or hosts", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// config returns the Config of controller i of a mode, on a fresh fake.
func config(o opts, name string, labels map[string]string, listen string) agent.Config {
	rt := fake.New()
	rt.AddImage(image)
	return agent.Config{
		HostName: name, HostLabels: labels, DataDir: o.dir + "/" + name, EtcdEndpoints: o.etcd,
		Listen: listen, DNSListen: "127.0.0.1:" + strconv.Itoa(freePort()), DNSDomain: "berth.",
		AdvertiseAddress: "127.0.0.1", Resync: agent.DefaultResync, HeartbeatTTL: o.ttl,
		RescheduleAfter: o.reschedule, HostGCAfter: agent.DefaultHostGCAfter, Runtime: rt,
	}
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func leader(o opts) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	listen := o.leaderListen
	return agent.Run(ctx, config(o, "scale-leader", map[string]string{"role": "leader"}, listen), logger())
}

type host struct {
	name, listen string
	cancel       context.CancelFunc
	done         chan error
}

func hosts(o opts) error {
	ctx := context.Background()
	st, err := store.New(ctx, store.Config{Endpoints: o.etcd})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("# %s, %d CPUs, %s; %d hosts x %d Units x %d replicas = %d instances; heartbeat TTL %s, reschedule-after %s\n",
		time.Now().UTC().Format("2006-01-02T15:04Z"), goruntime.NumCPU(), goruntime.Version(), o.hosts, o.units, o.replicas,
		o.units*o.replicas, o.ttl, o.reschedule)

	rss0, heap0 := selfMemory()
	t0 := time.Now()
	hs := make([]*host, o.hosts)
	for i := range hs {
		h := &host{name: fmt.Sprintf("scale-%03d", i), listen: "127.0.0.1:" + strconv.Itoa(freePort()), done: make(chan error, 1)}
		hctx, cancel := context.WithCancel(ctx)
		h.cancel = cancel
		cfg := config(o, h.name, map[string]string{"role": "web"}, h.listen)
		if o.resources {
			c := capacities[i%len(capacities)]
			cfg.ReservedCPUs = v1.CPUs(strconv.FormatFloat(float64(goruntime.NumCPU())-c.cpus, 'f', -1, 64))
			cfg.ReservedMemory = v1.Quantity(strconv.FormatInt(max(machineMemory()-c.memory, 0), 10))
		}
		go func() { h.done <- agent.Run(hctx, cfg, logger()) }()
		hs[i] = h
	}
	defer func() {
		for _, h := range hs {
			h.cancel()
		}
		for _, h := range hs {
			<-h.done
		}
	}()
	if err := waitFor(5*time.Minute, "every host controller ready", func() (bool, string) {
		n := 0
		for _, h := range hs {
			select {
			case err := <-h.done:
				h.done <- err
				return false, fmt.Sprintf("%s exited: %v", h.name, err)
			default:
			}
			if code, _ := get("http://" + h.listen + "/readyz"); code == 200 {
				n++
			}
		}
		return n == len(hs), fmt.Sprintf("%d of %d ready", n, len(hs))
	}); err != nil {
		return err
	}
	fmt.Printf("start: %d controllers ready in %s\n", o.hosts, time.Since(t0).Round(time.Millisecond))

	// Idle: writes per second of heartbeats and host records alone.
	settle(2 * time.Second)
	revA, _ := st.Revision(ctx)
	idleFor := 5 * time.Second
	settle(idleFor)
	revB, _ := st.Revision(ctx)
	idleRate := float64(revB-revA) / idleFor.Seconds()
	rss1, heap1 := selfMemory()
	lrss1, lheap1 := leaderMemory(o)
	fmt.Printf("idle: %.1f etcd writes/s for %d hosts + leader (heartbeats, host records)\n", idleRate, o.hosts)

	// Apply the Units at once and wait for every instance RUNNING.
	var objs []v1.Object
	for i := 0; i < o.units; i++ {
		u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
			Metadata: v1.ObjectMeta{Name: fmt.Sprintf("app-%04d", i)},
			Spec: v1.UnitSpec{Container: v1.ContainerTemplate{Image: image},
				Placement: v1.Placement{HostSelector: map[string]string{"role": "web"}, Replicas: o.replicas}}}
		if o.resources {
			u.Spec.Container.Resources = requests[i%len(requests)]
		}
		v1.Default(u)
		if fes := v1.Validate(u); len(fes) > 0 {
			return fmt.Errorf("unit %s: %v", u.Metadata.Name, fes)
		}
		objs = append(objs, u)
	}
	want := o.units * o.replicas
	rev0, _ := st.Revision(ctx)
	applied := time.Now()
	for i := 0; i < len(objs); i += 500 { // etcd's --max-txn-ops
		if _, err := store.Apply(ctx, st, objs[i:min(i+500, len(objs))], store.ApplyOptions{}); err != nil {
			return err
		}
	}
	applyTook := time.Since(applied)
	var bound, running time.Duration
	if err := waitFor(o.timeout, "every instance RUNNING", func() (bool, string) {
		if bound == 0 {
			if n := boundInstances(ctx, st); n == want {
				bound = time.Since(applied)
				fmt.Printf("bound: all %d bound %s after the apply (%.0f placements/s)\n", want, bound.Round(time.Millisecond), float64(want)/bound.Seconds())
				if o.resources {
					if err := checkCapacity(ctx, st, objs); err != nil {
						fmt.Println("capacity:", err)
					}
				}
			}
		}
		n, _ := runningInstances(ctx, st, "")
		return n == want, fmt.Sprintf("%d of %d RUNNING", n, want)
	}); err != nil {
		return err
	}
	running = time.Since(applied)
	rev1, _ := st.Revision(ctx)
	idleShare := idleRate * running.Seconds()
	writes := float64(rev1-rev0) - idleShare
	fmt.Printf("converge: apply %s; all %d bound %s; all RUNNING %s after the apply\n", applyTook.Round(time.Millisecond), want,
		bound.Round(time.Millisecond), running.Round(time.Millisecond))
	fmt.Printf("writes: %d revisions during convergence, %.0f of them idle heartbeats; %.2f writes per converged instance\n",
		rev1-rev0, idleShare, writes/float64(want))
	breakdown(ctx, st, rev0, rev1)

	settle(3 * time.Second)
	rss2, heap2 := selfMemory()
	lrss2, lheap2 := leaderMemory(o)
	per := func(a, b uint64) float64 { return float64(b-a) / float64(o.hosts) / (1 << 20) }
	fmt.Printf("memory: hosts process RSS %.0f MiB, Go heap %.0f MiB (before any controller %.0f / %.0f MiB)\n",
		mib(rss2), mib(heap2), mib(rss0), mib(heap0))
	fmt.Printf("memory: per host controller, idle %.2f MiB RSS / %.2f MiB heap; with %d instances each %.2f MiB RSS / %.2f MiB heap\n",
		per(rss0, rss1), per(heap0, heap1), want/o.hosts, per(rss0, rss2), per(heap0, heap2))
	if o.leaderPID != 0 {
		fmt.Printf("memory: leader (own process) idle %.1f MiB RSS / %.1f MiB heap; with %d Units bound %.1f MiB RSS / %.1f MiB heap\n",
			mib(lrss1), mib(lheap1), o.units, mib(lrss2), mib(lheap2))
	}

	// Lose one host: stop its controller and time until its instances run
	// elsewhere.
	victim := hs[len(hs)/2]
	lost := unitsOn(ctx, st, victim.name)
	stopped := time.Now()
	victim.cancel()
	<-victim.done
	victim.done <- nil
	stopTook := time.Since(stopped)
	var down time.Duration
	if err := waitFor(o.reschedule+2*time.Minute, "the lost host's Units RUNNING elsewhere", func() (bool, string) {
		if down == 0 {
			if kv, err := st.Get(ctx, store.AliveKey(victim.name)); err == nil && kv.Value == nil {
				down = time.Since(stopped)
			}
		}
		n, _ := runningInstances(ctx, st, victim.name)
		return n == want, fmt.Sprintf("%d of %d RUNNING off %s (it ran %d)", n, want, victim.name, len(lost))
	}); err != nil {
		return err
	}
	took := time.Since(stopped)
	fmt.Printf("reschedule: %s ran %d instances; controller stopped in %s (lease revoked: Down at once, %s); all RUNNING elsewhere %s after the stop, %s beyond reschedule-after\n",
		victim.name, len(lost), stopTook.Round(time.Millisecond), down.Round(time.Millisecond), took.Round(time.Millisecond), (took - o.reschedule).Round(time.Millisecond))
	return nil
}

// settle waits d: the idle periods measured here are time, not a condition.
func settle(d time.Duration) { time.Sleep(d) }

func waitFor(timeout time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s; last: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// capacities are what the hosts of -resources offer, in turn: the
// machine's CPUs and memory less their --reserved-cpus and
// --reserved-memory.
var capacities = []struct {
	cpus   float64
	memory int64
}{{2, 16 << 30}, {1.5, 8 << 30}, {1, 4 << 30}}

// requests are what the Units of -resources ask, in turn.
var requests = []v1.Resources{
	{CPUs: "5m", Memory: "16Mi"}, {CPUs: "10m", Memory: "32Mi"}, {CPUs: "20m", Memory: "64Mi"}, {CPUs: "40m", Memory: "128Mi"},
}

// machineMemory is what every host of this process reports: the machine's.
func machineMemory() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// bindings returns the Units' bindings, by Unit name.
func bindings(ctx context.Context, st *store.Store) (map[string]v1.Binding, error) {
	kvs, _, err := st.List(ctx, store.BindingKey(v1.KindUnit, ""))
	if err != nil {
		return nil, err
	}
	out := map[string]v1.Binding{}
	for _, kv := range kvs {
		var b v1.Binding
		if json.Unmarshal(kv.Value, &b) == nil {
			out[strings.TrimPrefix(kv.Key, store.BindingKey(v1.KindUnit, ""))] = b
		}
	}
	return out, nil
}

func boundInstances(ctx context.Context, st *store.Store) int {
	bs, err := bindings(ctx, st)
	if err != nil {
		return -1
	}
	n := 0
	for _, b := range bs {
		n += len(b.Hosts)
	}
	return n
}

// checkCapacity fails when a host was given more than it offers, and says
// how full the fullest host is.
func checkCapacity(ctx context.Context, st *store.Store, objs []v1.Object) error {
	bs, err := bindings(ctx, st)
	if err != nil {
		return err
	}
	hosts, err := store.ListHosts(ctx, st)
	if err != nil {
		return err
	}
	cpu, mem := map[string]float64{}, map[string]int64{}
	for _, o := range objs {
		u := o.(*v1.Unit)
		c, _ := u.Spec.Container.Resources.CPUs.Value()
		m, _ := u.Spec.Container.Resources.Memory.Bytes()
		for _, h := range bs[u.Metadata.Name].Hosts {
			cpu[h] += c
			mem[h] += m
		}
	}
	var maxCPU, maxMem float64
	pending := 0
	for _, b := range bs {
		pending += b.Pending
	}
	for _, h := range hosts {
		s := h.Status
		capCPU, capMem := float64(s.CPUs)-s.ReservedCPUs, s.MemoryBytes-s.ReservedMemory
		n := h.Metadata.Name
		if cpu[n] > capCPU+1e-9 || mem[n] > capMem {
			return fmt.Errorf("%s given %.3f CPUs and %d bytes, more than its %.3f CPUs and %d bytes", n, cpu[n], mem[n], capCPU, capMem)
		}
		if capCPU > 0 {
			maxCPU = max(maxCPU, cpu[n]/capCPU)
		}
		if capMem > 0 {
			maxMem = max(maxMem, float64(mem[n])/float64(capMem))
		}
	}
	fmt.Printf("capacity: no host over its capacity; fullest host %.0f%% of its CPUs, %.0f%% of its memory; %d replicas pending\n",
		100*maxCPU, 100*maxMem, pending)
	return nil
}

// runningInstances counts RUNNING Unit instances not on host except.
func runningInstances(ctx context.Context, st *store.Store, except string) (int, error) {
	m, err := store.ListStatuses(ctx, st, v1.KindUnit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ins := range m {
		for _, in := range ins {
			if in.State == v1.StateRunning && in.Host != except {
				n++
			}
		}
	}
	return n, nil
}

// unitsOn returns the Units whose binding names host.
func unitsOn(ctx context.Context, st *store.Store, host string) []string {
	kvs, _, _ := st.List(ctx, store.BindingKey(v1.KindUnit, ""))
	var out []string
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), `"`+host+`"`) {
			out = append(out, kv.Key)
		}
	}
	return out
}

// breakdown prints which key prefixes the writes of (from, to] went to.
func breakdown(ctx context.Context, st *store.Store, from, to int64) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	count := map[string]int{}
	last := from
	for b := range st.Watch(wctx, store.Prefix, from+1) {
		for _, ev := range b.Events {
			last = max(last, ev.KV.ModRevision)
			if ev.KV.ModRevision > to {
				continue
			}
			k := strings.TrimPrefix(ev.KV.Key, store.Prefix)
			if parts := strings.SplitN(k, "/", 3); len(parts) > 2 {
				k = parts[0] + "/" + parts[1]
			} else {
				k = parts[0]
			}
			count[k]++
		}
		if last >= to || b.Err != nil || b.Compacted {
			break
		}
	}
	cancel()
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return count[keys[i]] > count[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, count[k]))
	}
	fmt.Printf("writes by prefix: %s\n", strings.Join(parts, ", "))
}

func selfMemory() (rss, heap uint64) {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return rssOf(os.Getpid()), ms.HeapInuse
}

var heapLine = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes (\S+)$`)

func leaderMemory(o opts) (rss, heap uint64) {
	if o.leaderPID == 0 {
		return 0, 0
	}
	_, body := get("http://" + o.leaderListen + "/metrics")
	if m := heapLine.FindStringSubmatch(body); m != nil {
		f, _ := strconv.ParseFloat(m[1], 64)
		heap = uint64(f)
	}
	return rssOf(o.leaderPID), heap
}

func rssOf(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

var client = &http.Client{Timeout: 2 * time.Second}

func get(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var portsMu sync.Mutex
var taken = map[int]bool{}

// freePort returns a loopback TCP port free now and not handed out before
// by this process.
func freePort() int {
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !taken[p] {
			taken[p] = true
			return p
		}
	}
}
