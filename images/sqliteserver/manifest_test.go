package main

import (
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// TestManifest checks that manifests/sqlite.yaml is valid for applyctl and
// runs these programs as built: images, ports, data folder, health checks
// and the proxy's dependency on the server.
func TestManifest(t *testing.T) {
	docs := testenv.Manifest(t, "../../manifests/sqlite.yaml")
	units := map[string]*v1.Unit{}
	for _, d := range docs {
		if u, ok := d.Object.(*v1.Unit); ok {
			units[u.Metadata.Name] = u
		}
	}
	srv, proxy := units["sqliteserver"], units["sqliteproxy"]
	if srv == nil || proxy == nil {
		t.Fatalf("units = %v, want sqliteserver and sqliteproxy", units)
	}

	c := srv.Spec.Container
	if c.Image != "berth/sqliteserver:latest" {
		t.Errorf("server image = %q", c.Image)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "sql" || c.Ports[0].ContainerPort != 12345 || c.Ports[0].HostPort != 12345 {
		t.Errorf("server ports = %+v", c.Ports)
	}
	if len(c.Volumes) != 1 || c.Volumes[0].HostPath != "/var/lib/berth-volumes/sqlite" || c.Volumes[0].Type != v1.HostPathDirectoryOrCreate || c.Volumes[0].ContainerPath != "/data" {
		t.Errorf("server volumes = %+v", c.Volumes)
	}
	if hc := c.HealthCheck; hc == nil || hc.Exec == nil || len(hc.Exec.Command) != 2 || hc.Exec.Command[0] != "/sqliteserver" || hc.Exec.Command[1] != "check" {
		t.Errorf("server healthCheck = %+v", c.HealthCheck)
	}
	if srv.Spec.Restart.Policy != v1.RestartAlways {
		t.Errorf("server restart = %q", srv.Spec.Restart.Policy)
	}

	c = proxy.Spec.Container
	if c.Image != "berth/sqliteproxy:latest" {
		t.Errorf("proxy image = %q", c.Image)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 12346 || c.Ports[0].HostPort != 12346 {
		t.Errorf("proxy ports = %+v", c.Ports)
	}
	if len(proxy.Spec.Requires) != 1 || proxy.Spec.Requires[0] != "sqliteserver" {
		t.Errorf("proxy requires = %v", proxy.Spec.Requires)
	}
	if proxy.Spec.StartCondition["sqliteserver"] != v1.StartConditionHealthy {
		t.Errorf("proxy startCondition = %v", proxy.Spec.StartCondition)
	}
	if proxy.Spec.Restart.Policy != v1.RestartAlways {
		t.Errorf("proxy restart = %q", proxy.Spec.Restart.Policy)
	}
}
