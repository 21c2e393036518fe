package main

import (
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// TestManifest checks that manifests/todo.yaml is valid for applyctl and runs
// this program as built: image, port, data folder and health check.
func TestManifest(t *testing.T) {
	docs := testenv.Manifest(t, "../../manifests/todo.yaml")
	var unit *v1.Unit
	for _, d := range docs {
		if u, ok := d.Object.(*v1.Unit); ok && u.Metadata.Name == "todo" {
			unit = u
		}
	}
	if unit == nil {
		t.Fatal("no Unit named todo")
	}
	c := unit.Spec.Container
	if c.Image != "berth/todo:latest" {
		t.Errorf("image = %q", c.Image)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8000 {
		t.Errorf("ports = %+v, want http 8000", c.Ports)
	}
	if len(c.Volumes) != 1 || c.Volumes[0].ContainerPath != "/data" || c.Volumes[0].HostPath == "" || c.Volumes[0].Type != v1.HostPathDirectoryOrCreate {
		t.Errorf("volumes = %+v, want a DirectoryOrCreate hostPath at /data", c.Volumes)
	}
	for _, e := range c.Env {
		if e.Name == "TODO_DATA" && e.Value != "/data/todo.json" {
			t.Errorf("TODO_DATA = %q, want a file in /data", e.Value)
		}
	}
	hc := c.HealthCheck
	if hc == nil || hc.HTTP == nil || hc.HTTP.Path != "/healthz" || hc.HTTP.Port.String() != "http" {
		t.Errorf("healthCheck = %+v, want http /healthz on port http", hc)
	}
	if unit.Spec.Restart.Policy != v1.RestartAlways {
		t.Errorf("restart = %q, want always", unit.Spec.Restart.Policy)
	}
}
