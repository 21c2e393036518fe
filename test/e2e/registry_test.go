package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime/docker/registrytest"
)

// TestPrivateRegistry runs images from Debian's docker-registry, started
// by the test: one with htpasswd basic authentication over TLS (its CA
// trusted by dockerd through certs.d, at an address of a network
// namespace, so that dockerd verifies it as it would any remote
// registry's), and one without authentication on loopback. A Unit is
// refused for lack of credentials with the message operators act on, and
// pulled again as its back-off says; a wrong password is refused and
// shown nowhere; with the right one it runs, its status showing the digest
// it runs; a Unit's imagePullSecret is looked in first; a digest
// reference runs; a pull under way is PULLING_IMAGE
// with its layers; and the image of a Job's old version is removed once
// the new version rolled out and --image-gc-after passed.
func TestPrivateRegistry(t *testing.T) {
	private := registrytest.Start(t, registrytest.Options{Auth: true})
	public := registrytest.Start(t, registrytest.Options{})
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.json")
	writeRegistryConfig(t, config, "", "")
	h := newUnitHost(t, controllerOpts{extra: []string{"--registry-config", config, "--secrets-dir", secrets, "--image-gc-after", "2s"}}, false)

	app := private.Push(t, "app:1", registrytest.Image{Base: testImage, Size: 1 << 20})
	unit := h.doc("private", "  restart: {delay: 1s, maxDelay: 2s}\n  container:\n    image: "+app.Ref+"\n")
	h.apply(unit)
	repo := private.Host + "/app"
	noCredentials := "unauthorized: authentication required for " + repo + " (no credentials for this registry in --registry-config)"
	h.waitInstance("private", "refused for lack of credentials", time.Minute, func(in v1.InstanceStatus) bool {
		return in.State == v1.StatePullingImage && in.Throttled == v1.ThrottleImagePullFailed && strings.HasPrefix(in.Message, noCredentials+"; pulling again in ")
	})
	out, _, _ := applyctl(t, h.etcd, "", "get", "units", h.unit("private"))
	if !strings.Contains(out, "PULLING_IMAGE (ImagePullBackOff)") || !strings.Contains(out, noCredentials) {
		t.Errorf("get units does not say why:\n%s", out)
	}
	// It is pulled again, as its back-off says: each refused pull is one
	// event.
	eventually(t, time.Minute, "a second refused pull", func() (bool, string) {
		d, _, _ := applyctl(t, h.etcd, "", "describe", "unit", h.unit("private"))
		return strings.Count(d, noCredentials) >= 2, d
	})

	wrong := "wrong-" + private.Password
	writeRegistryConfig(t, config, private.Host, wrong)
	refused := "unauthorized: authentication required for " + repo + " (the registry refused the credentials of user " + registrytest.User +
		" for " + private.Host + " in --registry-config " + config + ")"
	h.waitInstance("private", "refused with a wrong password", time.Minute, func(in v1.InstanceStatus) bool {
		return strings.HasPrefix(in.Message, refused)
	})

	// A Unit's imagePullSecret is looked in before --registry-config.
	writeRegistryConfig(t, filepath.Join(secrets, "regcred.json"), private.Host, private.Password)
	other := private.Push(t, "other:1", registrytest.Image{Base: testImage})
	h.apply(h.doc("secret", "  container:\n    image: "+other.Ref+"\n    imagePullSecret: {file: regcred.json}\n"))
	h.waitRunning("secret", time.Minute)
	if in, _ := h.instance("private"); in.State == v1.StateRunning {
		t.Fatalf("%s runs without credentials", app.Ref)
	}

	writeRegistryConfig(t, config, private.Host, private.Password)
	in := h.waitRunning("private", time.Minute)
	if want := repo + "@" + app.Digest; in.ImageID != want {
		t.Errorf("imageID = %q, want %q", in.ImageID, want)
	}
	describe, _, _ := applyctl(t, h.etcd, "", "describe", "unit", h.unit("private"))
	status, _, _ := applyctl(t, h.etcd, "", "status", "unit", h.unit("private"))
	all, _, _ := applyctl(t, h.etcd, "", "get", "units", "-o", "json")
	if !strings.Contains(describe, repo+"@"+app.Digest) || !strings.Contains(status, "Image: "+repo+"@"+app.Digest) {
		t.Errorf("describe or status lacks the image ID %s:\n%s\n%s", app.Digest, describe, status)
	}
	for what, text := range map[string]string{"controller log": h.c.log(), "describe (events)": describe, "status": status, "get -o json": all} {
		for _, secret := range []string{wrong, private.Password, base64.StdEncoding.EncodeToString([]byte(registrytest.User + ":" + wrong))} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows a password", what)
			}
		}
	}

	// A digest reference runs, from the registry without authentication.
	pinned := public.Push(t, "pinned:1", registrytest.Image{Base: testImage})
	h.apply(h.doc("pinned", "  container:\n    image: "+pinned.Named()+"\n"))
	if in := h.waitRunning("pinned", time.Minute); in.ImageID != pinned.Named() {
		t.Errorf("imageID = %q, want %q", in.ImageID, pinned.Named())
	}

	// A pull held half way through its new layer is PULLING_IMAGE with its
	// layers: the one the engine has is done, the other not yet.
	big := public.Push(t, "big:1", registrytest.Image{Base: testImage, Size: 8 << 20})
	gate := newGateProxy(t, public.Host, 1<<20)
	held := strings.Replace(big.Ref, public.Host, gate.addr, 1)
	public.AlsoRemove(gate.addr)
	h.apply(h.doc("big", "  container:\n    image: "+held+"\n"))
	h.waitInstance("big", "pulling with progress", time.Minute, func(in v1.InstanceStatus) bool {
		return in.State == v1.StatePullingImage && in.Pull != nil && in.Pull.Layers == 2 && in.Pull.LayersDone == 1
	})
	out, _, _ = applyctl(t, h.etcd, "", "get", "units", h.unit("big"))
	if !strings.Contains(out, "PULLING_IMAGE (1/2 layers") {
		t.Errorf("get units does not show the pull's progress:\n%s", out)
	}
	gate.release()
	h.waitRunning("big", time.Minute)

	// A Job's old version's image goes once the new version runs.
	v1Image := public.Push(t, "job:1", registrytest.Image{Base: testImage})
	v2Image := public.Push(t, "job:2", registrytest.Image{Base: testImage})
	job := func(version string, p registrytest.Pushed) string {
		return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Job\nmetadata: {name: %s}\nspec:\n  version: %q\n  container:\n    image: %s\n  deployments: [{host: %s}]\n",
			h.unit("job"), version, p.Ref, h.name)
	}
	h.apply(job("1", v1Image))
	h.waitJob("job", "version 1 running", func(in v1.InstanceStatus) bool { return in.ImageID == public.Host+"/job@"+v1Image.Digest })
	h.apply(job("2", v2Image))
	h.waitJob("job", "version 2 running", func(in v1.InstanceStatus) bool { return in.ImageID == public.Host+"/job@"+v2Image.Digest })
	eventually(t, time.Minute, "version 1's image removed", func() (bool, string) {
		return !public.HasLocal(t, v1Image.Ref), "still present; the controller's image collection said:\n" + grepLines(h.c.log(), "imagegc")
	})
	for _, ref := range []string{v2Image.Ref, app.Ref, testImage} {
		if !public.HasLocal(t, ref) {
			t.Errorf("%s was removed, though in use (or built here)", ref)
		}
	}
	code, metrics := httpGet("http://" + h.c.listen + "/metrics")
	if code != 200 || !strings.Contains(metrics, `berth_images_bytes{owner="berth"}`) || !strings.Contains(metrics, "berth_images_removed_total") {
		t.Errorf("metrics lack the images' (%d)", code)
	}
}

// waitJob waits until the Job's instance on this host is RUNNING and
// satisfies cond.
func (h *unitHost) waitJob(short, what string, cond func(v1.InstanceStatus) bool) v1.InstanceStatus {
	h.t.Helper()
	var got v1.InstanceStatus
	eventually(h.t, time.Minute, h.unit(short)+": "+what, func() (bool, string) {
		out, errOut, code := applyctl(h.t, h.etcd, "", "get", "jobs", "-o", "json")
		if code != 0 {
			return false, errOut
		}
		var list struct{ Items []v1.Job }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return false, err.Error()
		}
		for _, j := range list.Items {
			if j.Metadata.Name != h.unit(short) || j.Status == nil {
				continue
			}
			for _, in := range j.Status.Instances {
				if in.Host == h.name {
					got = in
					return in.State == v1.StateRunning && cond(in), describeInstance(in) + " image " + in.ImageID
				}
			}
		}
		return false, "no instance yet"
	})
	return got
}

// writeRegistryConfig writes a Docker config.json with the credentials of
// registrytest.User at host, or none when host is "".
func writeRegistryConfig(t *testing.T, path, host, password string) {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{}}
	if host != "" {
		auth := base64.StdEncoding.EncodeToString([]byte(registrytest.User + ":" + password))
		cfg["auths"] = map[string]any{host: map[string]string{"auth": auth}}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// gateProxy forwards TCP connections on loopback to a registry, passing
// at most limit bytes of each answer until released: a pull through it
// stalls in the middle of a large layer.
type gateProxy struct {
	addr  string
	ln    net.Listener
	open  chan struct{}
	once  sync.Once
	conns sync.WaitGroup
}

func newGateProxy(t *testing.T, target string, limit int64) *gateProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateProxy{addr: ln.Addr().String(), ln: ln, open: make(chan struct{})}
	var mu sync.Mutex
	var all []net.Conn
	t.Cleanup(func() {
		g.release()
		ln.Close()
		mu.Lock()
		for _, c := range all {
			c.Close()
		}
		mu.Unlock()
		g.conns.Wait()
	})
	g.conns.Add(1)
	go func() {
		defer g.conns.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			all = append(all, client, server)
			mu.Unlock()
			g.conns.Add(2)
			go func() {
				defer g.conns.Done()
				_, _ = io.Copy(server, client)
				server.Close()
			}()
			go func() {
				defer g.conns.Done()
				_, _ = io.CopyN(client, server, limit)
				select {
				case <-g.open:
				case <-time.After(2 * time.Minute):
				}
				_, _ = io.Copy(client, server)
				client.Close()
			}()
		}
	}()
	return g
}

func (g *gateProxy) release() { g.once.Do(func() { close(g.open) }) }

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
