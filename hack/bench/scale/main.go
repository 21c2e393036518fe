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
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
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
	replicas, lost  int
	ttl, reschedule time.Duration
	resources       bool
	timeout         time.Duration
	leaderListen    string
	leaderPID       int
	etcdPID         int
	dir             string
	profileDir      string
	pprofListen     string
	leaderPprof     string
}

func main() {
	var o opts
	var etcd string
	flag.StringVar(&o.mode, "mode", "hosts", "leader: run one controller until SIGTERM; hosts: run the measurement")
	flag.StringVar(&etcd, "etcd", "", "comma-separated etcd client URLs")
	flag.IntVar(&o.hosts, "hosts", 100, "host controllers in this process")
	flag.IntVar(&o.units, "units", 50, "Units applied at once")
	flag.IntVar(&o.replicas, "replicas", 5, "replicas of each Unit")
	flag.IntVar(&o.lost, "lost", 1, "hosts lost at once after convergence")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write profiles of the convergence here: hosts.cpu, hosts.heap, and leader.cpu with -leader-pprof")
	flag.StringVar(&o.pprofListen, "pprof-listen", "", "serve net/http/pprof on this address")
	flag.StringVar(&o.leaderPprof, "leader-pprof", "", "the leader's -pprof-listen")
	flag.DurationVar(&o.ttl, "ttl", 3*time.Second, "--heartbeat-ttl of every controller")
	flag.DurationVar(&o.reschedule, "reschedule-after", 3*time.Second, "--reschedule-after of the leader")
	flag.StringVar(&o.leaderListen, "leader-listen", "", "the leader's --listen (for its /metrics)")
	flag.IntVar(&o.leaderPID, "leader-pid", 0, "the leader's process id (for its RSS and CPU time)")
	flag.IntVar(&o.etcdPID, "etcd-pid", 0, "etcd's process id (for its CPU time)")
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
	defer servePprof(o.pprofListen)()
	return agent.Run(ctx, config(o, "scale-leader", map[string]string{"role": "leader"}, listen), logger())
}

type host struct {
	name, listen string
	cancel       context.CancelFunc
	done         chan error
}

// servePprof serves net/http/pprof on addr ("": nowhere) until the
// returned function is called.
func servePprof(addr string) func() {
	if addr == "" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux}
	go func() { _ = srv.ListenAndServe() }()
	return func() { srv.Close() }
}

func hosts(o opts) error {
	ctx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	defer servePprof(o.pprofListen)()
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
	width := len(strconv.Itoa(max(o.hosts-1, 100)))
	for i := range hs {
		h := &host{name: fmt.Sprintf("scale-%0*d", width, i), listen: "127.0.0.1:" + strconv.Itoa(freePort()), done: make(chan error, 1)}
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
	ready := make([]bool, len(hs))
	if err := waitEvery(5*time.Minute, 500*time.Millisecond, "every host controller ready", func() (bool, string) {
		n := 0
		for i, h := range hs {
			select {
			case err := <-h.done:
				h.done <- err
				return false, fmt.Sprintf("%s exited: %v", h.name, err)
			default:
			}
			if !ready[i] {
				code, _ := get("http://" + h.listen + "/readyz")
				ready[i] = code == 200
			}
			if ready[i] {
				n++
			}
		}
		return n == len(hs), fmt.Sprintf("%d of %d ready", n, len(hs))
	}); err != nil {
		return err
	}
	fmt.Printf("start: %d controllers ready in %s\n", o.hosts, time.Since(t0).Round(time.Millisecond))

	// What the harness watches: the bindings and statuses of Units, in
	// caches of its own (one watch each), rather than listing them again
	// and again.
	bindingCache := store.NewTyped(st, store.BindingKey(v1.KindUnit, ""), store.DecodeJSON[v1.Binding], store.CacheOptions{Log: logger()})
	statusCache := store.NewTyped(st, store.StatusesPrefix, store.DecodeStatusOf(v1.KindUnit), store.CacheOptions{Log: logger()})
	for _, c := range []interface{ Run(context.Context) error }{bindingCache, statusCache} {
		go func() { _ = c.Run(ctx) }()
	}
	if err := waitFor(time.Minute, "the harness's caches synced", func() (bool, string) {
		return bindingCache.HasSynced() && statusCache.HasSynced(), ""
	}); err != nil {
		return err
	}

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
	stopProfile, err := startProfiles(o)
	if err != nil {
		return err
	}
	rev0, _ := st.Revision(ctx)
	cpu0 := cpuTimes(o)
	applied := time.Now()
	// In transactions of up to 4,000 Units (bench-scale.sh gives etcd
	// --max-txn-ops 10000): a second transaction would wait for this
	// process, busy with the first, and time the harness rather than berth.
	for i := 0; i < len(objs); i += 4000 {
		if _, err := store.Apply(ctx, st, objs[i:min(i+4000, len(objs))], store.ApplyOptions{}); err != nil {
			return err
		}
	}
	applyTook := time.Since(applied)
	var bound, running time.Duration
	if err := waitEvery(o.timeout, 100*time.Millisecond, "every instance RUNNING", func() (bool, string) {
		if bound == 0 {
			if n := boundInstances(bindingCache, nil); n == want {
				bound = time.Since(applied)
				fmt.Printf("bound: all %d bound %s after the apply (%.0f placements/s)\n", want, bound.Round(time.Millisecond), float64(want)/bound.Seconds())
				if o.resources {
					if err := checkCapacity(ctx, st, objs); err != nil {
						fmt.Println("capacity:", err)
					}
				}
			}
		}
		n := runningInstances(statusCache, bindingCache, nil)
		return n == want, fmt.Sprintf("%d of %d RUNNING, %d bound", n, want, boundInstances(bindingCache, nil))
	}); err != nil {
		stopProfile()
		return err
	}
	running = time.Since(applied)
	cpu1 := cpuTimes(o)
	stopProfile()
	rev1, _ := st.Revision(ctx)
	idleShare := idleRate * running.Seconds()
	writes := float64(rev1-rev0) - idleShare
	fmt.Printf("converge: apply %s; all %d bound %s (%.0f placements/s); all RUNNING %s after the apply\n", applyTook.Round(time.Millisecond), want,
		bound.Round(time.Millisecond), float64(want)/bound.Seconds(), running.Round(time.Millisecond))
	fmt.Printf("writes: %d revisions during convergence (%.0f/s), %.0f of them idle heartbeats; %.2f writes per converged instance\n",
		rev1-rev0, float64(rev1-rev0)/running.Seconds(), idleShare, writes/float64(want))
	breakdown(ctx, st, rev0, rev1, want)
	fmt.Printf("cpu during convergence: hosts process %.1f s, leader %.1f s, etcd %.1f s (the machine offers %.1f CPU-seconds in %s)\n",
		(cpu1[0] - cpu0[0]).Seconds(), (cpu1[1] - cpu0[1]).Seconds(), (cpu1[2] - cpu0[2]).Seconds(),
		float64(goruntime.NumCPU())*running.Seconds(), running.Round(time.Millisecond))

	settle(3 * time.Second)
	rss2, heap2 := selfMemory()
	lrss2, lheap2 := leaderMemory(o)
	if err := writeHeapProfile(o.profileDir); err != nil {
		return err
	}
	per := func(a, b uint64) float64 { return float64(b-a) / float64(o.hosts) / (1 << 20) }
	fmt.Printf("memory: hosts process RSS %.0f MiB, Go heap %.0f MiB (before any controller %.0f / %.0f MiB)\n",
		mib(rss2), mib(heap2), mib(rss0), mib(heap0))
	fmt.Printf("memory: per host controller, idle %.2f MiB RSS / %.2f MiB heap; with %d instances each %.2f MiB RSS / %.2f MiB heap\n",
		per(rss0, rss1), per(heap0, heap1), want/o.hosts, per(rss0, rss2), per(heap0, heap2))
	if o.leaderPID != 0 {
		fmt.Printf("memory: leader (own process) idle %.1f MiB RSS / %.1f MiB heap; with %d Units bound %.1f MiB RSS / %.1f MiB heap\n",
			mib(lrss1), mib(lheap1), o.units, mib(lrss2), mib(lheap2))
	}

	// Lose -lost hosts at once: stop their controllers together and time
	// until their instances run elsewhere.
	if o.lost <= 0 {
		return nil
	}
	from := max(len(hs)/2-o.lost/2, 0)
	victims := hs[from:min(from+o.lost, len(hs))]
	gone := map[string]bool{}
	for _, h := range victims {
		gone[h.name] = true
	}
	lost := want - runningInstances(statusCache, bindingCache, gone)
	stopped := time.Now()
	for _, h := range victims {
		h.cancel()
	}
	for _, h := range victims {
		<-h.done
		h.done <- nil
	}
	stopTook := time.Since(stopped)
	// Until the first and every binding names only hosts not lost.
	var firstRebound, rebound time.Duration
	if err := waitEvery(o.reschedule+5*time.Minute, 20*time.Millisecond, "the lost hosts' Units RUNNING elsewhere", func() (bool, string) {
		if n := boundInstances(bindingCache, gone); firstRebound == 0 && n > want-lost {
			firstRebound = time.Since(stopped)
		}
		if rebound == 0 && boundInstances(bindingCache, gone) == want {
			rebound = time.Since(stopped)
		}
		n := runningInstances(statusCache, bindingCache, gone)
		return n == want, fmt.Sprintf("%d of %d RUNNING off the %d lost hosts (they ran %d)", n, want, len(victims), lost)
	}); err != nil {
		return err
	}
	took := time.Since(stopped)
	fmt.Printf("reschedule: %d hosts lost at once ran %d instances; their controllers stopped in %s (leases revoked: Down at once); the first bound elsewhere %s and all %s after the stop (%s beyond reschedule-after), all RUNNING elsewhere %s after the stop, %s beyond reschedule-after\n",
		len(victims), lost, stopTook.Round(time.Millisecond), firstRebound.Round(time.Millisecond), rebound.Round(time.Millisecond), (rebound - o.reschedule).Round(time.Millisecond),
		took.Round(time.Millisecond), (took - o.reschedule).Round(time.Millisecond))
	return nil
}

// startProfiles profiles this process's CPU into -profile-dir's hosts.cpu
// until the returned function is called, and the leader's for up to 60 s
// into leader.cpu; no -profile-dir profiles nothing.
func startProfiles(o opts) (func(), error) {
	if o.profileDir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(o.profileDir, "hosts.cpu"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		if o.leaderPprof == "" {
			return
		}
		c := &http.Client{Timeout: 90 * time.Second}
		resp, err := c.Get("http://" + o.leaderPprof + "/debug/pprof/profile?seconds=60")
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale: leader profile:", err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(filepath.Join(o.profileDir, "leader.cpu"), b, 0o644)
	}()
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

// writeHeapProfile writes this process's heap profile into dir's
// hosts.heap, unless dir is "".
func writeHeapProfile(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, "hosts.heap"))
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

// settle waits d: the idle periods measured here are time, not a condition.
func settle(d time.Duration) { time.Sleep(d) }

func waitFor(timeout time.Duration, what string, cond func() (bool, string)) error {
	return waitEvery(timeout, 50*time.Millisecond, what, cond)
}

// waitEvery calls cond every interval until it holds or timeout passes.
func waitEvery(timeout, interval time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s; last: %s", what, timeout, last)
		}
		time.Sleep(interval)
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

// boundInstances counts the hosts not in except that the cached bindings
// name.
func boundInstances(c *store.Typed[v1.Binding], except map[string]bool) int {
	n := 0
	for _, e := range c.List() {
		for _, h := range e.Value.Hosts {
			if !except[h] {
				n++
			}
		}
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

// runningInstances counts the cached RUNNING Unit instances on hosts
// not in except that their Unit's binding names: an instance left on a
// host that went Down and was moved off it is not counted, though its
// last status stays RUNNING.
func runningInstances(c *store.Typed[v1.InstanceStatus], bindings *store.Typed[v1.Binding], except map[string]bool) int {
	n := 0
	for _, e := range c.List() {
		if e.Value.State != v1.StateRunning || except[e.Value.Host] {
			continue
		}
		_, name, host, ok := store.ParseStatusKey(e.Key)
		if !ok {
			continue
		}
		if b, ok := bindings.Get(store.BindingKey(v1.KindUnit, name)); ok && b.Err == nil && slices.Contains(b.Value.Hosts, host) {
			n++
		}
	}
	return n
}

// breakdown prints which key prefixes the writes of (from, to] went to,
// and per instance of want those to statuses, to events and the others.
func breakdown(ctx context.Context, st *store.Store, from, to int64, want int) {
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
			parts := strings.SplitN(k, "/", 4)
			switch {
			case parts[0] == "status" && len(parts) == 4: // status/<host>/<kind>/<name>
				k = "status/" + parts[2]
			case len(parts) > 2:
				k = parts[0] + "/" + parts[1]
			default:
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
	var status, events, other int
	for k, n := range count {
		switch {
		case strings.HasPrefix(k, "status/"):
			status += n
		case strings.HasPrefix(k, "events/"):
			events += n
		default:
			other += n
		}
	}
	per := func(n int) float64 { return float64(n) / float64(want) }
	fmt.Printf("writes per instance: status %.2f, events %.2f, other %.2f (all %.2f)\n", per(status), per(events), per(other), per(status+events+other))
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

// cpuTimes returns the CPU time (user and system) used so far by this
// process, the leader and etcd (0 for one whose pid is not known).
func cpuTimes(o opts) [3]time.Duration {
	return [3]time.Duration{cpuOf(os.Getpid()), cpuOf(o.leaderPID), cpuOf(o.etcdPID)}
}

// cpuOf reads the user and system time of process pid from /proc, in the
// kernel's clock ticks of 1/100 s.
func cpuOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
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
