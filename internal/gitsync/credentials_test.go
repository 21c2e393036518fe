package gitsync_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/gitsync"
)

func TestCredentialsAuthFor(t *testing.T) {
	t.Parallel()
	key := writeKey(t)
	file := `# team tokens
https://git.example.com alice org-token
https://git.example.com/team/ bob team-token

https://git.example.com/team/app.git carol app-token
ssh://git.example.com ssh-key ` + key + `
ssh://deploy@git.example.com ssh-key ` + key + `
git@git.example.com: ssh-key ` + key + "\n"
	creds, err := gitsync.ParseCredentials([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		want      string // "user:password" for basic, "ssh:user" for a key, "" for none
	}{
		{"host prefix", "https://git.example.com/other/x.git", "alice:org-token"},
		{"longer prefix wins", "https://git.example.com/team/x.git", "bob:team-token"},
		{"exact URL", "https://git.example.com/team/app.git", "carol:app-token"},
		{"prefix is not a path boundary", "https://git.example.com.evil.org/x.git", ""},
		{"path continues the name", "https://git.example.com/team/app.git-fork", "bob:team-token"},
		{"other host", "https://github.com/x/y.git", ""},
		{"scheme differs", "http://git.example.com/x.git", ""},
		{"ssh URL user", "ssh://deploy@git.example.com/x.git", "ssh:deploy"},
		{"ssh URL other user", "ssh://other@git.example.com/x.git", ""},
		{"ssh URL", "ssh://git.example.com/x.git", "ssh:git"},
		{"scp-like", "git@git.example.com:org/x.git", "ssh:git"},
		{"file", "file:///srv/x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := creds.AuthFor(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			switch a := auth.(type) {
			case nil:
			case *githttp.BasicAuth:
				got = a.Username + ":" + a.Password
			case *gitssh.PublicKeys:
				got = "ssh:" + a.User
			default:
				t.Fatalf("auth %T", auth)
			}
			if got != tc.want {
				t.Errorf("AuthFor(%s) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
	var none *gitsync.Credentials
	if auth, err := none.AuthFor("https://git.example.com/x"); auth != nil || err != nil {
		t.Errorf("nil credentials: %v, %v", auth, err)
	}
}

func TestParseCredentialsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, want string }{
		{"two fields", "https://git.example.com s3cret\n", "line 1: want"},
		{"four fields", "\nhttps://git.example.com u s3cret extra\n", "line 2: want"},
		{"basic auth over ssh", "ssh://git.example.com u s3cret\n", "line 1: basic auth for \"ssh://git.example.com\", which is not an https URL"},
		{"basic auth over http", "http://git.example.com u s3cret\n", "not an https URL"},
		{"key for https", "https://git.example.com ssh-key /k\n", "line 1: ssh-key for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gitsync.ParseCredentials([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
	if _, err := gitsync.LoadCredentials(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file loaded")
	}
	creds, err := gitsync.ParseCredentials([]byte("ssh://h ssh-key /no/such/key\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creds.AuthFor("ssh://h/x.git"); err == nil || !strings.Contains(err.Error(), "/no/such/key") {
		t.Fatalf("missing key: %v", err)
	}
}

// TestFetchWithCredentials: Fetch over https (git http-backend behind
// basic auth) fails without credentials and with wrong ones, and succeeds
// with the ones whose prefix matches. Not parallel: it installs go-git's
// https transport with the test server's certificate, which is global.
func TestFetchWithCredentials(t *testing.T) {
	r := newRepo(t)
	c1 := r.commit("one", map[string]string{"a.yaml": unitYAML("a", "a:1")})
	root := t.TempDir()
	r.git("clone", "-q", "--bare", r.dir, filepath.Join(root, "apps.git"))
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("no git http-backend: %v", err)
	}
	cgiH := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "ci" || p != "tok3n" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiH.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	orig := client.Protocols["https"]
	client.InstallProtocol("https", githttp.NewClient(srv.Client()))
	t.Cleanup(func() { client.InstallProtocol("https", orig) })
	url := srv.URL + "/apps.git"
	ctx := context.Background()

	if _, err := gitsync.Fetch(ctx, url, v1.GitRef{}, filepath.Join(t.TempDir(), "anon")); err == nil {
		t.Fatal("fetched without credentials")
	}
	wrong := mustCreds(t, srv.URL+" ci wrong\n")
	if _, err := gitsync.Fetch(ctx, url, v1.GitRef{}, filepath.Join(t.TempDir(), "wrong"), gitsync.WithCredentials(wrong)); err == nil {
		t.Fatal("fetched with a wrong password")
	}
	right := mustCreds(t, srv.URL+" ci tok3n\n")
	rev, err := gitsync.Fetch(ctx, url, v1.GitRef{}, filepath.Join(t.TempDir(), "right"), gitsync.WithCredentials(right))
	if err != nil || rev != "main@sha1:"+c1 {
		t.Fatalf("Fetch with credentials = %q, %v; want main@sha1:%s", rev, err, c1)
	}
}

func mustCreds(t *testing.T, file string) *gitsync.Credentials {
	t.Helper()
	c, err := gitsync.ParseCredentials([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeKey writes an unencrypted ed25519 private key and returns its path.
func writeKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
