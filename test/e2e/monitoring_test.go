package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/internal/testenv"
)

// monitoringDir holds the manifests this test proves.
const monitoringDir = "../../manifests/monitoring"

// requireTool returns the path of a Prometheus tool, skipping the test
// without it (failing under CI=true).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	testenv.Require(t, err == nil, "%s not found on PATH (Debian: apt-get install prometheus)", name)
	return p
}

// The shipped configuration and rules load in Debian's promtool, and the
// dashboard is valid JSON whose panels all query something.
func TestMonitoringManifestsLoad(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(monitoringDir, "alerts.yml")},
		{"check", "config", filepath.Join(monitoringDir, "prometheus-http-sd.yml")},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(monitoringDir, "grafana-dashboard.json"))), &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Errorf("dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q queries nothing", p.Title)
		}
	}
}

// A real Prometheus (Debian's), configured from
// manifests/monitoring/prometheus-http-sd.yml, discovers the controller and
// a container berth registered through GET /v1/prometheus/targets, scrapes
// the controller, and loads the alert rules.
func TestPrometheusDiscoversAndScrapesBerth(t *testing.T) {
	t.Parallel()
	prom := requireTool(t, "prometheus")
	h := newDiscoveryHost(t, controllerOpts{})
	svc, name := "metrics-"+h.sfx, "e2e-m-"+h.sfx
	port := testenv.FreePort(t)
	runPlain(t, name, "-e", "SERVICE_NAME="+svc, "-e", "SERVICE_TAGS=metrics", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port),
		testImage, "--listen", ":8080")
	sd := "http://" + h.c.listen + "/v1/prometheus/targets"
	eventually(t, 20*time.Second, svc+" in the HTTP SD answer", func() (bool, string) {
		code, body := httpGet(sd + "?service=" + svc)
		return code == 200 && strings.Contains(body, fmt.Sprintf(`"127.0.0.1:%d"`, port)), body
	})

	// The shipped configuration, pointed at this controller, with the
	// intervals shortened and the services job limited to this test's.
	dir := t.TempDir()
	cfg := readFile(t, filepath.Join(monitoringDir, "prometheus-http-sd.yml"))
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:8500", h.c.listen)
	cfg = strings.ReplaceAll(cfg, "/v1/prometheus/targets\n", "/v1/prometheus/targets?service="+url.QueryEscape(svc)+"\n")
	cfg = strings.ReplaceAll(cfg, "interval: 15s", "interval: 1s")
	cfg = strings.ReplaceAll(cfg, "refresh_interval: 30s", "refresh_interval: 1s")
	if !strings.Contains(cfg, h.c.listen) || !strings.Contains(cfg, "?service="+svc) {
		t.Fatalf("the manifest no longer has the shape this test rewrites:\n%s", cfg)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), []byte(readFile(t, filepath.Join(monitoringDir, "alerts.yml"))), 0o644); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	api := "http://" + web + "/api/v1/"
	eventually(t, 30*time.Second, "prometheus ready", func() (bool, string) {
		code, body := httpGet("http://" + web + "/-/ready")
		return code == 200, body
	})

	// It scrapes the controller: the unit controller's reconcile counter
	// is queryable, with the host label the configuration adds.
	q := url.QueryEscape(fmt.Sprintf(`controller_runtime_reconcile_total{controller="unit",result="success",host=%q}`, h.name))
	eventually(t, 60*time.Second, "controller_runtime_reconcile_total in Prometheus", func() (bool, string) {
		var r struct {
			Status string
			Data   struct{ Result []json.RawMessage }
		}
		_, body := httpGet(api + "query?query=" + q)
		_ = json.Unmarshal([]byte(body), &r)
		return r.Status == "success" && len(r.Data.Result) == 1, body
	})

	// It discovered the registered container, labelled with its service
	// and host (its scrape may fail: testapp serves no metrics).
	eventually(t, 30*time.Second, svc+" among Prometheus' targets", func() (bool, string) {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels     map[string]string
					ScrapeURL  string
					Health     string
					ScrapePool string
				}
			}
		}
		_, body := httpGet(api + "targets?state=active")
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return false, err.Error()
		}
		controllerUp, service := false, false
		for _, tg := range r.Data.ActiveTargets {
			if tg.ScrapePool == "berth" && tg.Labels["host"] == h.name && tg.Health == "up" {
				controllerUp = true
			}
			if tg.ScrapePool == "berth-services" && tg.Labels["service"] == svc && tg.Labels["host"] == h.name &&
				strings.Contains(tg.ScrapeURL, fmt.Sprintf("127.0.0.1:%d", port)) {
				service = true
			}
		}
		return controllerUp && service, body
	})

	// The alert rules loaded.
	_, body := httpGet(api + "rules?type=alert")
	for _, alert := range []string{"BerthInstanceFailed", "BerthCrashLooping", "BerthEndpointCritical", "BerthHostDown", "BerthReconcileErrors"} {
		if !strings.Contains(body, `"name":"`+alert+`"`) {
			t.Errorf("Prometheus did not load alert %s: %s", alert, body)
		}
	}
}
