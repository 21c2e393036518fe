// Command units measures how long a Unit takes from `applyctl apply` to
// RUNNING in its status, against Docker's own create and start of the same
// image on the same `berth` network through the engine's API, and what the
// controller costs while idle. hack/bench-units.sh builds the binaries,
// starts a controller and runs it; it is run by hand, not in CI.
//
// RUNNING is seen through an etcd watch (store.Watch), started before
// applyctl runs, so the figure has no polling error: it is the time from
// exec of applyctl to the watch event of the status put. The same watch
// sees the Unit's object written and every status put before RUNNING, which
// the one-unit rounds print as a timeline. The anchor is the API's container
// create and start (the calls berth's runtime makes, the network check
// included), timed from the create call to the start call's return, which
// Docker gives once the container runs. `docker run -d` on the default
// bridge is timed too, from exec to `docker inspect` reporting
// State.Running, for comparison with earlier figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	dockerrt "berth.dev/berth/internal/runtime/docker"
	"berth.dev/berth/internal/store"
)

func main() {
	var o opts
	flag.StringVar(&o.etcd, "etcd", "", "etcd client URL of the controller")
	flag.StringVar(&o.applyctl, "applyctl", "bin/applyctl", "applyctl binary")
	flag.StringVar(&o.host, "host", "", "the controller's --host-name")
	flag.StringVar(&o.listen, "listen", "", "the controller's --listen (for /metrics)")
	flag.IntVar(&o.pid, "pid", 0, "the controller's process id (for CPU and memory)")
	flag.StringVar(&o.image, "image", "berth/testapp:latest", "image to run")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of the one-unit measure")
	flag.IntVar(&o.many, "n", 50, "units of the many-units measure")
	flag.DurationVar(&o.idle, "idle", time.Minute, "idle period measured with the units running")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type opts struct {
	etcd, applyctl, host, listen, image string
	pid, rounds, many                   int
	idle                                time.Duration
}

type bench struct {
	o   opts
	st  *store.Store
	rt  *dockerrt.Client
	dir string
}

// timeline is what the watch saw of one Unit, as times after applyctl's
// exec: its object written, then each status put until RUNNING.
type timeline struct {
	object time.Duration
	states []string
}

func run(o opts) error {
	ctx := context.Background()
	st, err := store.New(ctx, store.Config{Endpoints: []string{o.etcd}})
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rt, err := dockerrt.New("")
	if err != nil {
		return err
	}
	defer rt.Close()
	b := &bench{o: o, st: st, rt: rt, dir: dir}
	// Whatever happens, leave nothing behind.
	defer b.cleanup()

	// Warm-up: the network berth and the image cache, once, not measured.
	if _, _, err := b.applyAndWait(ctx, []string{"bench-warm"}); err != nil {
		return err
	}
	if err := b.deleteAndWait(ctx, []string{"bench-warm"}); err != nil {
		return err
	}
	if _, err := b.dockerRun("bench-docker-warm"); err != nil {
		return err
	}
	docker("rm", "-f", "bench-docker-warm")
	if _, err := b.apiRun(ctx, "bench-docker-api-warm"); err != nil {
		return err
	}

	// (a) one unit, several rounds, each followed by its anchors.
	fmt.Printf("load average before: %s\n", loadavg())
	var unitTimes, apiTimes, dockerTimes []time.Duration
	var lines []timeline
	for i := range o.rounds {
		name := fmt.Sprintf("bench-one-%d", i)
		d, tl, err := b.applyAndWait(ctx, []string{name})
		if err != nil {
			return err
		}
		unitTimes, lines = append(unitTimes, d), append(lines, tl[name])
		if err := b.deleteAndWait(ctx, []string{name}); err != nil {
			return err
		}
		d, err = b.apiRun(ctx, fmt.Sprintf("bench-docker-api-%d", i))
		if err != nil {
			return err
		}
		apiTimes = append(apiTimes, d)
		d, err = b.dockerRun(fmt.Sprintf("bench-docker-one-%d", i))
		if err != nil {
			return err
		}
		dockerTimes = append(dockerTimes, d)
		b.cleanup()
	}
	fmt.Printf("one unit, %d rounds (load average after: %s):\n", o.rounds, loadavg())
	fmt.Printf("  applyctl apply -> RUNNING:             %s\n", summary(unitTimes))
	fmt.Printf("  API create+start on %s -> running: %s\n", v1.NetworkName, summary(apiTimes))
	fmt.Printf("  docker run -d (bridge) -> running:     %s\n", summary(dockerTimes))
	fmt.Printf("  ratio of medians: %.2fx the API's create+start, %.2fx docker run -d\n",
		float64(median(unitTimes))/float64(median(apiTimes)), float64(median(unitTimes))/float64(median(dockerTimes)))
	var paired []float64
	for i := range unitTimes {
		paired = append(paired, float64(unitTimes[i])/float64(apiTimes[i]))
	}
	slices.Sort(paired)
	fmt.Printf("  median of each round's ratio to the API's create+start just after it: %.2fx (%.2f-%.2f)\n",
		paired[len(paired)/2], paired[0], paired[len(paired)-1])
	fmt.Println("  timelines (ms after applyctl's exec: object written, then each status put):")
	for i, tl := range lines {
		fmt.Printf("    round %d: object %d, %s\n", i, tl.object.Milliseconds(), strings.Join(tl.states, ", "))
	}

	// (b) many units at once, against docker run one after the other.
	var names []string
	for i := range o.many {
		names = append(names, fmt.Sprintf("bench-many-%02d", i))
	}
	before := b.metrics()
	fmt.Printf("load average before: %s\n", loadavg())
	many, _, err := b.applyAndWait(ctx, names)
	if err != nil {
		return err
	}
	after := b.metrics()
	start := time.Now()
	for i := range o.many {
		if _, err := b.dockerRun(fmt.Sprintf("bench-docker-many-%02d", i)); err != nil {
			return err
		}
	}
	seq := time.Since(start)
	fmt.Printf("%d units (load average after: %s):\n", o.many, loadavg())
	fmt.Printf("  one applyctl apply -> all RUNNING: %s\n", many.Round(time.Millisecond))
	fmt.Printf("  %d sequential docker run -d:      %s\n", o.many, seq.Round(time.Millisecond))
	fmt.Printf("  ratio: %.2fx\n", float64(many)/float64(seq))
	fmt.Printf("  unit reconciles during the apply: %s\n", histDelta(before, after))
	for i := range o.many {
		docker("rm", "-f", fmt.Sprintf("bench-docker-many-%02d", i))
	}

	// (c) idle with the units running.
	if o.pid > 0 {
		if err := b.idle(ctx); err != nil {
			return err
		}
	}
	return b.deleteAndWait(ctx, names)
}

func (b *bench) cleanup() {
	out, _ := docker("ps", "-aq", "--filter", "name=^bench-docker-")
	if f := strings.Fields(out); len(f) > 0 {
		docker(append([]string{"rm", "-f"}, f...)...)
	}
}

// applyAndWait applies one pinned Unit per name in one applyctl call and
// returns the time until every one is RUNNING in its status, and each
// one's timeline.
func (b *bench) applyAndWait(ctx context.Context, names []string) (time.Duration, map[string]timeline, error) {
	var docs []string
	for _, n := range names {
		docs = append(docs, fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  placement: {hosts: [%s]}\n  container: {image: %q}\n", n, b.o.host, b.o.image))
	}
	file := filepath.Join(b.dir, "units.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		return 0, nil, err
	}
	rev, err := b.st.Revision(ctx)
	if err != nil {
		return 0, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	watch := b.st.Watch(wctx, store.Prefix, rev+1)
	want := map[string]string{}
	objects := map[string]string{}
	lines := map[string]timeline{}
	for _, n := range names {
		want[store.StatusKey(v1.KindUnit, n, b.o.host)] = n
		objects[store.ObjectKey(v1.KindUnit, n)] = n
	}
	start := time.Now()
	cmd := exec.Command(b.o.applyctl, "--etcd-endpoints", b.o.etcd, "apply", "-f", file)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	applied := make(chan error, 1)
	go func() { applied <- cmd.Wait() }()
	for len(want) > 0 {
		var batch store.WatchBatch
		var ok bool
		select {
		case batch, ok = <-watch:
		case err := <-applied:
			if err != nil {
				return 0, nil, fmt.Errorf("applyctl apply: %v: %s", err, out.String())
			}
			applied = nil
			continue
		}
		at := time.Since(start)
		if !ok {
			return 0, nil, fmt.Errorf("no RUNNING after 5m for %d units", len(want))
		}
		if batch.Err != nil {
			return 0, nil, batch.Err
		}
		for _, ev := range batch.Events {
			if n, ok := objects[ev.KV.Key]; ok {
				tl := lines[n]
				tl.object = at
				lines[n] = tl
			}
			n, ok := want[ev.KV.Key]
			if !ok || ev.Type != store.EventPut {
				continue
			}
			var st v1.InstanceStatus
			if json.Unmarshal(ev.KV.Value, &st) != nil {
				continue
			}
			tl := lines[n]
			tl.states = append(tl.states, fmt.Sprintf("%s %d", st.State, at.Milliseconds()))
			lines[n] = tl
			if st.State == v1.StateRunning && st.ContainerID != "" {
				delete(want, ev.KV.Key)
			}
		}
	}
	took := time.Since(start)
	if applied != nil {
		if err := <-applied; err != nil {
			return 0, nil, fmt.Errorf("applyctl apply: %v: %s", err, out.String())
		}
	}
	return took, lines, nil
}

// deleteAndWait deletes the Units and waits until their containers and
// status are gone.
func (b *bench) deleteAndWait(ctx context.Context, names []string) error {
	args := append([]string{"--etcd-endpoints", b.o.etcd, "delete", "unit"}, names...)
	if out, err := exec.Command(b.o.applyctl, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("applyctl delete: %v: %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := docker("ps", "-aq", "--filter", "label=berth.dev/host="+b.o.host)
		kvs, _, lerr := b.st.List(ctx, store.HostStatusPrefix(b.o.host))
		if err == nil && lerr == nil && strings.TrimSpace(out) == "" && len(kvs) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("units %v not gone after 5m", names)
}

// dockerRun times docker run -d of the image until docker inspect says it
// runs.
func (b *bench) dockerRun(name string) (time.Duration, error) {
	start := time.Now()
	if out, err := docker("run", "-d", "--name", name, b.o.image); err != nil {
		return 0, fmt.Errorf("docker run: %v: %s", err, out)
	}
	for {
		out, err := docker("inspect", "-f", "{{.State.Running}}", name)
		if err != nil {
			return 0, fmt.Errorf("docker inspect: %v: %s", err, out)
		}
		if out == "true" {
			return time.Since(start), nil
		}
	}
}

// apiRun creates and starts a container of the image on berth's network
// through the engine's API, as berth's runtime does, and returns the time
// from the create call to the start call's return.
func (b *bench) apiRun(ctx context.Context, name string) (time.Duration, error) {
	start := time.Now()
	id, err := b.rt.Create(ctx, runtime.ContainerSpec{Name: name, Image: b.o.image, Network: v1.NetworkName})
	if err != nil {
		return 0, err
	}
	if err := b.rt.Start(ctx, id); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// idle measures the controller's CPU time and resident memory, and the
// writes to etcd, over the idle period.
func (b *bench) idle(ctx context.Context) error {
	rev0, err := b.st.Revision(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := b.st.Watch(wctx, store.Prefix, rev0+1)
	cpu0, err := cpuTicks(b.o.pid)
	if err != nil {
		return err
	}
	rss0 := rss(b.o.pid)
	timer := time.NewTimer(b.o.idle)
	writes := map[string]int{}
	var maxRSS = rss0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case batch := <-watch:
			for _, ev := range batch.Events {
				writes[keyClass(ev.KV.Key)]++
			}
		case <-tick.C:
			maxRSS = max(maxRSS, rss(b.o.pid))
		case <-timer.C:
			break loop
		}
	}
	cpu1, err := cpuTicks(b.o.pid)
	if err != nil {
		return err
	}
	rev1, err := b.st.Revision(ctx)
	if err != nil {
		return err
	}
	rss1 := rss(b.o.pid)
	const clkTck = 100 // USER_HZ on Linux
	cpu := float64(cpu1-cpu0) / clkTck
	fmt.Printf("idle %s with %d units running:\n", b.o.idle, b.o.many)
	fmt.Printf("  controller CPU: %.2fs (%.2f CPU-seconds per minute)\n", cpu, cpu/b.o.idle.Minutes())
	fmt.Printf("  controller VmRSS: %d MiB at start, %d MiB at end, %d MiB max\n", rss0>>10, rss1>>10, maxRSS>>10)
	fmt.Printf("  etcd revision: %d -> %d (%d writes)\n", rev0, rev1, rev1-rev0)
	var classes []string
	for k := range writes {
		classes = append(classes, k)
	}
	slices.Sort(classes)
	for _, k := range classes {
		fmt.Printf("    %s: %d\n", k, writes[k])
	}
	return nil
}

// keyClass is a key without its last segments: /berth/v1/hosts/<h> -> hosts.
func keyClass(key string) string {
	rest := strings.TrimPrefix(key, store.Prefix)
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) >= 2 && (parts[0] == "status" || parts[0] == "objects" || parts[0] == "events") {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime, nil
}

// rss returns VmRSS in KiB.
func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// metrics returns the unit controller's reconcile_time histogram buckets
// and sum and count, from /metrics.
func (b *bench) metrics() map[string]float64 {
	out := map[string]float64{}
	if b.o.listen == "" {
		return out
	}
	resp, err := http.Get("http://" + b.o.listen + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^controller_runtime_reconcile_time_seconds_(bucket|sum|count)\{controller="unit"(?:,le="([^"]+)")?\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+m[2]] = v
	}
	return out
}

func histDelta(a, b map[string]float64) string {
	n := b["count"] - a["count"]
	if n == 0 {
		return "(no metrics)"
	}
	s := fmt.Sprintf("%.0f reconciles, mean %.0f ms", n, 1000*(b["sum"]-a["sum"])/n)
	for _, le := range []string{"0.1", "0.25", "0.5", "1", "2", "5", "10"} {
		s += fmt.Sprintf(", <=%ss %.0f", le, b["bucket"+le]-a["bucket"+le])
	}
	return s
}

func docker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	var parts []string
	for _, d := range ds {
		parts = append(parts, strconv.FormatInt(d.Milliseconds(), 10))
	}
	return fmt.Sprintf("median %d ms, min %d ms, max %d ms (ms: %s)", median(ds).Milliseconds(), s[0].Milliseconds(), s[len(s)-1].Milliseconds(), strings.Join(parts, " "))
}
