// Package registrytest starts Debian's docker-registry (the reference
// registry, github.com/docker/distribution) for a test and puts images in
// it with the Docker engine the test runs against.
//
//	reg := registrytest.Start(t, registrytest.Options{Auth: true}) // TLS + htpasswd
//	p := reg.Push(t, "app:1", registrytest.Image{Base: "berth/testapp:latest"})
//	// p.Ref is "<reg.Host>/app:1"; the engine no longer has it locally
//
// Without Auth the registry serves plain HTTP to anyone on a loopback
// port, which dockerd accepts because it counts 127.0.0.0/8 as insecure
// registries.
//
// With Auth it serves TLS with a certificate of a CA the test makes, and
// asks for basic authentication against an htpasswd file of one user,
// registrytest.User, with a random password. dockerd would neither verify
// a loopback registry's certificate nor keep to TLS (when its attempt over
// HTTPS is refused it tries plain HTTP, and reports what that says), so
// this registry listens in a network namespace of its own, at an address
// dockerd treats as any remote registry's: it trusts the test's CA only
// through /etc/docker/certs.d/<host:port>/ca.crt, which Start writes and
// removes at cleanup with the directories it made.
//
// The registry process runs in its own process group, is killed and waited
// for at cleanup, and its log is shown when it fails to start. Images the
// test pushed or the engine pulled from the registry (every image whose
// repository starts with its host:port, unique to the test, or with a
// host given to AlsoRemove) are removed at cleanup.
//
// The tests that use it skip when docker-registry or the engine is missing
// (hack/deps.sh --test installs it), and fail instead under CI=true.
package registrytest

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"golang.org/x/crypto/bcrypt"

	"berth.dev/berth/internal/testenv"
)

// User is the one user of a registry started with Auth.
const User = "berth"

// CertsDir is where dockerd reads the CAs it trusts for a registry,
// <CertsDir>/<host:port>/ca.crt.
const CertsDir = "/etc/docker/certs.d"

// Options say what registry Start starts.
type Options struct {
	// Auth: TLS with a test CA, and htpasswd basic authentication of User.
	// Without it the registry serves plain HTTP to anyone.
	Auth bool
}

// Registry is one running docker-registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of its image references.
	Host string
	// Password is User's password; "" without Auth.
	Password string
	// CACert is the PEM file of the CA that signed its certificate; ""
	// without Auth.
	CACert string

	api     *client.Client
	logPath string
	hosts   []string // whose images are removed at cleanup
}

// AlsoRemove has the images of host (another name of this registry, such
// as a proxy's address) removed at cleanup too.
func (r *Registry) AlsoRemove(host string) { r.hosts = append(r.hosts, host) }

// Start starts a registry, waits until it answers and returns it. It skips
// the test (fails it under CI=true) when docker-registry is not on PATH,
// the engine is unreachable, or, with Auth, the engine's certs.d cannot be
// written (not root).
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	testenv.Require(t, err == nil, "docker-registry not found on PATH (Debian: apt-get install docker-registry; hack/deps.sh --test)")
	api, err := client.New(client.WithHost(cmp.Or(os.Getenv("DOCKER_HOST"), "unix:///var/run/docker.sock")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	testenv.Require(t, err == nil, "Docker is not reachable: %v", err)

	dir := t.TempDir()
	r := &Registry{api: api, logPath: filepath.Join(dir, "registry.log")}
	defer func() { r.hosts = append(r.hosts, r.Host) }()
	var ns *testenv.Netns
	if opts.Auth {
		testenv.Require(t, os.Geteuid() == 0, "the engine's %s is written by root only (running as uid %d)", CertsDir, os.Geteuid())
		ns = testenv.NewNetns(t)
		r.Host = ns.Addr + ":5000"
	} else {
		r.Host = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), r.Host)
	scheme := "http"
	if opts.Auth {
		scheme = "https"
		certs := testenv.Certs(t, ns.Addr)
		r.CACert = certs.CACert
		r.Password = randomHex(12)
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\nauth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n",
			certs.ServerCert, certs.ServerKey, htpasswd)
		r.trust(t)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	if ns != nil {
		cmd = ns.Command(bin, "serve", cfgPath)
	}
	r.start(t, cmd)
	r.waitReady(t, scheme)
	t.Cleanup(r.removeImages)
	return r
}

// trust writes the CA where the engine reads it for r.Host, and removes
// at cleanup exactly what it wrote.
func (r *Registry) trust(t testing.TB) {
	t.Helper()
	var made []string // directories made, innermost last
	for _, d := range []string{filepath.Dir(CertsDir), CertsDir, filepath.Join(CertsDir, r.Host)} {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			made = append(made, d)
		}
	}
	ca, err := os.ReadFile(r.CACert)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(CertsDir, r.Host, "ca.crt")
	if err := os.WriteFile(file, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(file); err != nil {
			t.Errorf("registrytest: cleanup: %v", err)
		}
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.Remove(made[i]); err != nil {
				t.Errorf("registrytest: cleanup: %v", err)
			}
		}
	})
}

// start starts cmd, which runs the registry, in a process group of its
// own; it is killed and waited for at cleanup.
func (r *Registry) start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("registrytest: start %s: %v", cmd, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
}

// waitReady polls GET /v2/ until the registry answers: 200 without
// authentication, 401 with it.
func (r *Registry) waitReady(t testing.TB, scheme string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(t, r.CACert)}}
	testenv.Eventually(t, 30*time.Second, "registry "+r.Host+" answers", func() (bool, string) {
		resp, err := hc.Get(scheme + "://" + r.Host + "/v2/")
		if err != nil {
			return false, err.Error() + "\n" + r.Tail()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized, resp.Status
	})
}

// Tail returns the last lines of the registry's log.
func (r *Registry) Tail() string { return testenv.TailFile(r.logPath) }

// Log returns the registry's whole log.
func (r *Registry) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Image is what Push builds: Base with one layer more, of a file /stamp
// holding a random stamp (so every image Push makes is new, with its own
// digest) and Size random bytes more.
type Image struct {
	Base string // a local image, e.g. "berth/testapp:latest"
	Size int    // bytes of random content in the added layer
}

// Pushed is an image Push put in the registry.
type Pushed struct {
	Ref    string // "127.0.0.1:PORT/repo:tag"
	Digest string // the manifest's digest, "sha256:..."
	Stamp  string // the content of /stamp
}

// Named returns the reference by digest, "127.0.0.1:PORT/repo@sha256:...".
func (p Pushed) Named() string {
	repo := p.Ref
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + p.Digest
}

// Push builds img, tags it <Host>/<repoTag>, pushes it (as User when the
// registry has Auth) and removes it from the engine again, so that using
// it takes a pull.
func (r *Registry) Push(t testing.TB, repoTag string, img Image) Pushed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := Pushed{Ref: r.Host + "/" + repoTag, Stamp: randomHex(8)}
	r.build(t, ctx, p.Ref, img, p.Stamp)
	resp, err := r.api.ImagePush(ctx, p.Ref, client.ImagePushOptions{RegistryAuth: r.AuthHeader(t, User, r.Password)})
	if err != nil {
		t.Fatalf("registrytest: push %s: %v", p.Ref, err)
	}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			t.Fatalf("registrytest: push %s: %v\n%s", p.Ref, err, r.Tail())
		}
		if msg.Error != nil {
			t.Fatalf("registrytest: push %s: %s\n%s", p.Ref, msg.Error.Message, r.Tail())
		}
		if msg.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*msg.Aux, &aux) == nil && aux.Digest != "" {
				p.Digest = aux.Digest
			}
		}
	}
	if p.Digest == "" {
		t.Fatalf("registrytest: push %s: the engine reported no digest", p.Ref)
	}
	r.RemoveLocal(t, p.Ref)
	return p
}

// AuthHeader returns the engine's X-Registry-Auth value for user and
// password at this registry (none for a registry without Auth).
func (r *Registry) AuthHeader(t testing.TB, user, password string) string {
	t.Helper()
	cfg := registry.AuthConfig{ServerAddress: r.Host}
	if r.Password != "" {
		cfg.Username, cfg.Password = user, password
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(b)
}

func (r *Registry) build(t testing.TB, ctx context.Context, tag string, img Image, stamp string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		body []byte
	}{
		{"Dockerfile", []byte("FROM " + img.Base + "\nCOPY stamp payload /\n")},
		{"stamp", []byte(stamp + "\n")},
		{"payload", randomBytes(img.Size)},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := r.api.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("registrytest: build %s: %v", tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("registrytest: build %s: %v", tag, err)
		}
		if msg.Error != "" {
			t.Fatalf("registrytest: build %s: %s", tag, msg.Error)
		}
	}
}

// RemoveLocal removes ref from the engine (not from the registry); it is
// not an error when the engine does not have it.
func (r *Registry) RemoveLocal(t testing.TB, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("registrytest: remove %s: %v", ref, err)
	}
}

// HasLocal reports whether the engine has ref.
func (r *Registry) HasLocal(t testing.TB, ref string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.api.ImageInspect(ctx, ref)
	if err != nil && !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("registrytest: inspect %s: %v", ref, err)
	}
	return err == nil
}

// removeImages removes every image of this registry's repositories from
// the engine.
func (r *Registry) removeImages() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := r.api.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return
	}
	for _, img := range list.Items {
		for _, ref := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
			for _, host := range r.hosts {
				if strings.HasPrefix(ref, host+"/") {
					_, _ = r.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
				}
			}
		}
	}
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// tlsConfig trusts the PEM CA in caFile ("" : no TLS, nil).
func tlsConfig(t testing.TB, caFile string) *tls.Config {
	t.Helper()
	if caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("registrytest: no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
