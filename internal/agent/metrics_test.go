package agent

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// metricValue returns the value of the first line of /metrics that starts
// with series (a name with its labels as exposed), or -1.
func metricValue(body, series string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

// The scraped /metrics passes `promtool check metrics`, carries every
// family a controller-runtime dashboard and berth's alerts use, and the
// series an alert watches move: an endpoint turning critical, a Docker
// call failing, a reconcile failing.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EtcdEndpoints = testenv.Etcd(t)
	rt := fake.New()
	rt.AddImage("berth/testapp")
	cfg.Runtime = rt
	s := testenv.NewStore(t, store.Config{Endpoints: cfg.EtcdEndpoints})
	start(t, cfg)
	base := "http://" + cfg.Listen
	eventually(t, 20*time.Second, "/readyz answers 200", func() (bool, string) {
		code, body := get(base + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})

	u := &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}}
	u.Metadata.Name = "web"
	u.Spec.Container.Image = "berth/testapp"
	u.Spec.Placement.Hosts = []string{"host-a"}
	v1.Default(u)
	if _, err := store.Apply(context.Background(), s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the unit RUNNING in berth_instances", func() (bool, string) {
		_, body := get(base + "/metrics")
		v := metricValue(body, `berth_instances{kind="Unit",state="RUNNING"}`)
		return v == 1, fmt.Sprint(v)
	})
	_, body := get(base + "/metrics")
	for _, want := range []string{
		`controller_runtime_reconcile_total{controller="unit",result="success"}`,
		`controller_runtime_reconcile_total{controller="registrator",result="requeue_after"}`,
		`controller_runtime_reconcile_errors_total{controller="unit"}`,
		`controller_runtime_terminal_reconcile_errors_total{controller="unit"}`,
		`controller_runtime_reconcile_panics_total{controller="unit"}`,
		`controller_runtime_reconcile_time_seconds_bucket{controller="unit",le="0.005"}`,
		`controller_runtime_active_workers{controller="unit"}`,
		`controller_runtime_max_concurrent_reconciles{controller="unit"} 8`,
		`workqueue_depth{controller="unit",name="unit",priority=""}`,
		`workqueue_adds_total{controller="unit",name="unit"}`,
		`workqueue_queue_duration_seconds_bucket{controller="unit",name="unit",le="1e-08"}`,
		`workqueue_work_duration_seconds_bucket{controller="unit",name="unit",le="1000"}`,
		`workqueue_retries_total{controller="unit",name="unit"}`,
		`workqueue_unfinished_work_seconds{controller="unit",name="unit"}`,
		`workqueue_longest_running_processor_seconds{controller="unit",name="unit"}`,
		`berth_instances{kind="Job",state="FAILED"} 0`,
		`berth_container_restarts_total{kind="Unit"} 0`,
		`berth_time_to_running_seconds_count{kind="Unit"} 1`,
		`berth_image_pulls_total{result="failure"} 0`,
		`berth_health_checks_total{result="critical",type="http"} 0`,
		`berth_endpoints{status="critical"} 0`,
		`berth_etcd_request_duration_seconds_bucket{op="put"`,
		`berth_etcd_request_errors_total{op="txn"} 0`,
		`berth_docker_api_errors_total{op="create"} 0`,
		`berth_dns_queries_total`,
		`berth_heartbeat_failures_total 0`,
		`berth_leader `,
		`berth_build_info{version=`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtool(t, body)

	// An endpoint with a check that fails: berth_endpoints{status="critical"}.
	put(t, base+"/v1/agent/service/register", `{"Name":"pay","ID":"pay-1","Port":9000,"Check":{"CheckID":"pay-ttl","TTL":"30s","Status":"critical"}}`)
	eventually(t, 10*time.Second, "critical endpoint counted", func() (bool, string) {
		_, body := get(base + "/metrics")
		v := metricValue(body, `berth_endpoints{status="critical"}`)
		return v == 1, fmt.Sprint(v)
	})
	put(t, base+"/v1/agent/check/pass/pay-ttl", "")
	eventually(t, 10*time.Second, "endpoint passing again", func() (bool, string) {
		_, body := get(base + "/metrics")
		c, p := metricValue(body, `berth_endpoints{status="critical"}`), metricValue(body, `berth_endpoints{status="passing"}`)
		ran := metricValue(body, `berth_health_checks_total{result="passing",type="ttl"}`)
		return c == 0 && p == 1 && ran == 1, fmt.Sprint(c, p, ran)
	})

	// The engine refuses to create: a Docker API error and reconcile errors.
	rt.Fail("create", fmt.Errorf("no space left on device"), 2)
	u2 := *u
	u2.Metadata.Name = "api"
	if _, err := store.Apply(context.Background(), s, []v1.Object{&u2}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "errors counted, then the unit runs", func() (bool, string) {
		_, body := get(base + "/metrics")
		d := metricValue(body, `berth_docker_api_errors_total{op="create"}`)
		r := metricValue(body, `controller_runtime_reconcile_errors_total{controller="unit"}`)
		n := metricValue(body, `berth_instances{kind="Unit",state="RUNNING"}`)
		return d == 2 && r >= 2 && n == 2, fmt.Sprint(d, r, n)
	})
}

// promtool runs `promtool check metrics` on an exposition; it skips
// without promtool (fails under CI=true).
func promtool(t *testing.T, exposition string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	testenv.Require(t, err == nil, "promtool not found on PATH (Debian: apt-get install prometheus)")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// With DisableMetrics the loop's and berth's metrics are gone and nothing
// else changes.
func TestMetricsDisabled(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EtcdEndpoints = testenv.Etcd(t)
	cfg.DisableMetrics = true
	start(t, cfg)
	base := "http://" + cfg.Listen
	eventually(t, 20*time.Second, "/readyz answers 200", func() (bool, string) {
		code, body := get(base + "/readyz")
		return code == 200, fmt.Sprint(code, body)
	})
	_, body := get(base + "/metrics")
	if regexp.MustCompile(`(?m)^(controller_runtime|workqueue|berth_instances|berth_dns)`).MatchString(body) {
		t.Errorf("metrics left on:\n%s", body)
	}
	if !strings.Contains(body, "berth_heartbeats_total") {
		t.Errorf("the controller's own metrics are gone too")
	}
}
