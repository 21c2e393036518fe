package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// TestDashboardScale measures the dashboard in Chromium with 1,000 Units
// on 100 hosts (BENCHMARKS.md): how long the units page takes to show them
// all, how long a redraw of it takes, and how long a status written to
// etcd takes to show on it. A measurement, not a check of speed: it runs
// only with BERTH_UI_SCALE=1 and fails only when the page does not show
// what was written.
func TestDashboardScale(t *testing.T) {
	if os.Getenv("BERTH_UI_SCALE") != "1" {
		t.Skip("a measurement: set BERTH_UI_SCALE=1 to run it")
	}
	requireChromium(t)
	sfx := randomSuffix(6)
	c := startController(t, controllerOpts{name: "e2e-scale-" + sfx})
	ctx := context.Background()
	st, err := store.New(ctx, store.Config{Endpoints: []string{c.etcd}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := st.Put(ctx, key, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	// 100 hosts that never run anything (their records and heartbeats
	// written here), and 1,000 Units pinned to them, one instance each.
	const hosts, units = 100, 1000
	hostName := func(i int) string { return fmt.Sprintf("s%s-h%03d", sfx, i) }
	for i := range hosts {
		var h v1.Host
		h.Metadata.Name = hostName(i)
		h.Status = v1.HostStatus{Addresses: []string{"192.0.2.1"}, CPUs: 8, MemoryBytes: 32 << 30, MemoryUsed: 8 << 30,
			OS: "Debian GNU/Linux 12", BerthVersion: "v0.1.0", DockerVersion: "20.10.24", Heartbeat: time.Now()}
		put(store.HostKey(h.Metadata.Name), h)
		put(store.AliveKey(h.Metadata.Name), map[string]string{})
	}
	var objs []v1.Object
	for i := range units {
		u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}}
		u.Metadata.Name = fmt.Sprintf("s%s-u%04d", sfx, i)
		u.Spec.Container.Image = testImage
		u.Spec.Placement.Hosts = []string{hostName(i % hosts)}
		v1.Default(u)
		objs = append(objs, u)
	}
	if _, err := store.Apply(ctx, st, objs, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	status := func(i, restarts int) {
		put(store.StatusKey(v1.KindUnit, objs[i].GetObjectMeta().Name, hostName(i%hosts)), v1.InstanceStatus{
			State: v1.StateRunning, Restarts: restarts, Since: time.Now(), ContainerID: "0123456789abcdef",
			Conditions: []v1.Condition{{Type: v1.ConditionReady, Status: v1.ConditionTrue}}})
	}
	for i := range units {
		status(i, 0)
	}

	b := openBrowser(t, "http://"+c.listen)
	start := time.Now()
	b.run("load the units page", chromedp.Navigate("http://"+c.listen+"/ui/?again#/units"))
	eventually(t, 60*time.Second, "1,000 units on the page", func() (bool, string) {
		n, err := eval[int](b, `document.querySelectorAll('tr[data-kind="unit"]').length`)
		return err == nil && n == units, fmt.Sprint(n, err)
	})
	firstLoad := time.Since(start)

	var redraws []float64
	for range 10 {
		ms, err := eval[float64](b, `(() => { const t = performance.now(); window.dispatchEvent(new HashChangeEvent("hashchange")); return performance.now() - t; })()`)
		if err != nil {
			t.Fatal(err)
		}
		redraws = append(redraws, ms)
	}

	// The time a status takes from etcd to the page: the page notes when
	// the row first shows each restart count.
	probe := objs[500].GetObjectMeta().Name
	if _, err := eval[bool](b, fmt.Sprintf(`(() => {
		window.seen = {};
		const sel = 'tr[data-kind="unit"][data-name=%s] td.num';
		new MutationObserver(() => {
			const td = document.querySelector(sel);
			if (td && !(td.innerText in window.seen)) window.seen[td.innerText] = Date.now();
		}).observe(document.getElementById("content"), {childList: true, subtree: true});
		return true;
	})()`, jsString(probe))); err != nil {
		t.Fatal(err)
	}
	var latencies []float64
	for k := 1; k <= 20; k++ {
		sent := time.Now()
		status(500, k)
		var shown int64
		eventually(t, 10*time.Second, fmt.Sprintf("restart %d on the page", k), func() (bool, string) {
			v, err := eval[map[string]int64](b, `window.seen`)
			shown = v[fmt.Sprint(k)]
			return err == nil && shown > 0, fmt.Sprint(v, err)
		})
		latencies = append(latencies, float64(shown-sent.UnixMilli()))
	}
	slices.Sort(redraws)
	slices.Sort(latencies)
	t.Logf("%d units on %d hosts: load (navigation to every row shown, in a started browser) %s; redraw of the units page: median %.1f ms, max %.1f ms; status put → shown: median %.0f ms, min %.0f, max %.0f",
		units, hosts, firstLoad.Round(time.Millisecond), redraws[len(redraws)/2], redraws[len(redraws)-1],
		latencies[len(latencies)/2], latencies[0], latencies[len(latencies)-1])
	b.goTo("/")
	b.waitText(10*time.Second, "the overview", "main", "1000")
	b.screenshot("ui-scale-overview")
}
