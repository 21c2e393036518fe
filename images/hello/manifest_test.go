package main

import (
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/testenv"
)

// TestManifest checks that manifests/netcat.yaml is valid for applyctl and
// runs this program as built: image, the port it answers on, a TCP health
// check on that port, and the port registered as a service.
func TestManifest(t *testing.T) {
	docs := testenv.Manifest(t, "../../manifests/netcat.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents, want the Job alone", len(docs))
	}
	job, ok := docs[0].Object.(*v1.Job)
	if !ok || job.Metadata.Name != "netcat" || job.Spec.Version == "" {
		t.Fatalf("document = %#v, want Job netcat with a version", docs[0].Object)
	}
	c := job.Spec.Container
	if c.Image != "berth/hello:latest" || len(c.Command) > 0 {
		t.Errorf("image = %q, command %q, want berth/hello:latest as built", c.Image, c.Command)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "nc" || c.Ports[0].ContainerPort != 4711 {
		t.Errorf("ports = %+v, want nc on 4711, where hello answers by default", c.Ports)
	}
	if hc := c.HealthCheck; hc == nil || hc.TCP == nil || hc.TCP.Port.String() != "nc" {
		t.Errorf("healthCheck = %+v, want tcp on port nc", hc)
	}
	if r := job.Spec.Registration; len(r) != 1 || r[0].Port != "nc" || r[0].Service != "netcat" {
		t.Errorf("registration = %+v, want port nc as service netcat", r)
	}
	if len(job.Spec.Deployments) > 0 || len(job.Spec.HostSelector) > 0 {
		t.Errorf("the example is deployed by applyctl deploy, not by the manifest: %+v %v", job.Spec.Deployments, job.Spec.HostSelector)
	}
}
