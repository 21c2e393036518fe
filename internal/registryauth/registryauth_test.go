package registryauth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/internal/registryauth"
	"berth.dev/berth/internal/runtime"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestLookup(t *testing.T) {
	keys, err := registryauth.Parse([]byte(`{
	  "auths": {
	    "https://index.docker.io/v1/": {"auth": "`+b64("hubuser:hubpass")+`"},
	    "registry.example.com:5000": {"username": "alice", "password": "a-pass"},
	    "https://ghcr.io/v2/": {"identitytoken": "tok-123"},
	    "http://plain.example.com/some/path": {"auth": "`+b64("bob:b:pass")+`"},
	    "helper.example.com": {}
	  },
	  "credHelpers": {"helper.example.com": "secretservice"},
	  "psFormat": "table {{.ID}}"
	}`), registryauth.FlagSource)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		image   string
		wantKey string // "" : none
		user    string
		pass    string
		token   string
	}{
		{"redis", "https://index.docker.io/v1/", "hubuser", "hubpass", ""},
		{"me/app:1", "https://index.docker.io/v1/", "hubuser", "hubpass", ""},
		{"docker.io/library/redis:7", "https://index.docker.io/v1/", "hubuser", "hubpass", ""},
		{"index.docker.io/me/app", "https://index.docker.io/v1/", "hubuser", "hubpass", ""},
		{"registry.example.com:5000/team/app:2", "registry.example.com:5000", "alice", "a-pass", ""},
		{"registry.example.com/team/app", "", "", "", ""}, // another port is another registry
		{"registry.example.com:5000/app@sha256:" + strings.Repeat("a", 64), "registry.example.com:5000", "alice", "a-pass", ""},
		{"ghcr.io/org/tool:v1", "https://ghcr.io/v2/", "", "", "tok-123"},
		{"plain.example.com/x", "http://plain.example.com/some/path", "bob", "b:pass", ""},
		{"helper.example.com/x", "", "", "", ""},
		{"127.0.0.1:5000/app", "", "", "", ""},
		{"UPPER/invalid", "", "", "", ""},
	} {
		c, ok := keys.Lookup(tc.image)
		if ok != (tc.wantKey != "") || c.Key != tc.wantKey {
			t.Errorf("Lookup(%s) = key %q, %v; want %q", tc.image, c.Key, ok, tc.wantKey)
			continue
		}
		if !ok {
			continue
		}
		if a := c.Auth; a.Username != tc.user || a.Password != tc.pass || a.IdentityToken != tc.token || a.ServerAddress != tc.wantKey || c.Source != registryauth.FlagSource {
			t.Errorf("Lookup(%s) = %v (password %q, token %q), want user %q password %q token %q", tc.image, a, a.Password, a.IdentityToken, tc.user, tc.pass, tc.token)
		}
	}
}

// Docker Hub's entry may be written under any of its names.
func TestLookupHubAliases(t *testing.T) {
	for _, key := range []string{"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io", "https://registry-1.docker.io/v2/"} {
		keys, err := registryauth.Parse([]byte(`{"auths": {"`+key+`": {"username": "u", "password": "p"}}}`), registryauth.FlagSource)
		if err != nil {
			t.Fatal(err)
		}
		for _, image := range []string{"redis", "docker.io/me/app:1", "index.docker.io/me/app"} {
			if c, ok := keys.Lookup(image); !ok || c.Key != key {
				t.Errorf("with key %q: Lookup(%s) = %q, %v", key, image, c.Key, ok)
			}
		}
		if _, ok := keys.Lookup("quay.io/me/app"); ok {
			t.Errorf("with key %q: quay.io found Docker Hub's entry", key)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, tc := range []struct {
		name, file, want string
	}{
		{"not JSON", `{"auths": {`, "not a Docker config.json: invalid JSON at byte"},
		{"auths a list", `{"auths": []}`, "not a Docker config.json: auths must not be a JSON array"},
		{"auth not base64", `{"auths": {"r.example.com": {"auth": "*` + secret + `*"}}}`, `auths["r.example.com"].auth is not base64 of user:password`},
		{"auth without colon", `{"auths": {"r.example.com": {"auth": "` + b64(secret) + `"}}}`, `auths["r.example.com"].auth is not base64 of user:password (no colon)`},
		{"password alone", `{"auths": {"r.example.com": {"password": "` + secret + `"}}}`, `auths["r.example.com"] has a password but no username`},
	} {
		_, err := registryauth.Parse([]byte(tc.file), registryauth.FlagSource)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), b64(secret))) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if _, err := registryauth.Load(path, registryauth.FlagSource); !errors.Is(err, fs.ErrNotExist) || err.Error() != "--registry-config "+path+": no such file or directory" {
		t.Errorf("Load(missing) = %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"auths": {"r.example.com": {"auth": "no*pe"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	src := registryauth.SecretSource("regcred")
	if _, err := registryauth.Load(path, src); err == nil || err.Error() != `imagePullSecret file regcred `+path+`: auths["r.example.com"].auth is not base64 of user:password` {
		t.Errorf("Load(bad) = %v", err)
	}
	if err := os.WriteFile(path, make([]byte, registryauth.MaxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := registryauth.Load(path, src); err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") {
		t.Errorf("Load(huge) = %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"auths": {"r.example.com": {"username": "u", "password": "p"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := registryauth.Load(path, src)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := k.Lookup("r.example.com/app"); !ok || c.Path != path || c.Source != src {
		t.Errorf("Lookup = %+v, %v", c, ok)
	}
}

func TestChoose(t *testing.T) {
	secret, _ := registryauth.Parse([]byte(`{"auths": {"r.example.com": {"username": "from-secret", "password": "p"}}}`), registryauth.SecretSource("regcred"))
	flag, _ := registryauth.Parse([]byte(`{"auths": {"r.example.com": {"username": "from-flag", "password": "p"}, "other.example.com": {"username": "o", "password": "p"}}}`), registryauth.FlagSource)
	if c, ok := registryauth.Choose("r.example.com/app", secret, flag); !ok || c.Auth.Username != "from-secret" {
		t.Errorf("Choose = %+v, %v; want the secret's entry", c, ok)
	}
	if c, ok := registryauth.Choose("other.example.com/app", secret, flag); !ok || c.Auth.Username != "o" {
		t.Errorf("Choose = %+v, %v; want the flag's entry", c, ok)
	}
	if _, ok := registryauth.Choose("third.example.com/app", nil, secret, flag); ok {
		t.Errorf("Choose found an entry for a registry nobody has")
	}
}

func TestExplain(t *testing.T) {
	flag, _ := registryauth.Parse([]byte(`{"auths": {"127.0.0.1:5000": {"username": "berth", "password": "pw-123"}}, "credsStore": "desktop"}`), registryauth.FlagSource)
	flag.Path = "/root/.docker/config.json"
	empty, _ := registryauth.Parse([]byte(`{}`), registryauth.FlagSource)
	secret, _ := registryauth.Parse([]byte(`{"auths": {"ghcr.io": {"identitytoken": "tok-123"}}}`), registryauth.SecretSource("regcred"))
	unauthorized := fmt.Errorf("docker: pull x: image could not be pulled: %w: no basic auth credentials", runtime.ErrUnauthorized)
	refused := fmt.Errorf("docker: pull x: image could not be pulled: %w: unauthorized: authentication required", runtime.ErrUnauthorized)
	unknown := fmt.Errorf("docker: pull x: image could not be pulled: %w: manifest for x not found: manifest unknown: manifest unknown", runtime.ErrNotFound)
	other := errors.New("docker: pull x: image could not be pulled: dial tcp: connection refused")
	for _, tc := range []struct {
		name  string
		image string
		keys  []*registryauth.Keys
		err   error
		want  string
	}{
		{"no credentials", "127.0.0.1:5000/app:1", []*registryauth.Keys{empty}, unauthorized,
			"unauthorized: authentication required for 127.0.0.1:5000/app (no credentials for this registry in --registry-config)"},
		{"no file at all", "127.0.0.1:5000/app:1", nil, unauthorized,
			"unauthorized: authentication required for 127.0.0.1:5000/app (no credentials for this registry in --registry-config)"},
		{"none in either", "127.0.0.1:5000/app:1", []*registryauth.Keys{secret, empty}, unauthorized,
			"unauthorized: authentication required for 127.0.0.1:5000/app (no credentials for this registry in imagePullSecret file regcred or --registry-config)"},
		{"a credential helper", "quay.io/me/app", []*registryauth.Keys{flag}, unauthorized,
			"unauthorized: authentication required for quay.io/me/app (no credentials for this registry in --registry-config; --registry-config names a credential helper, which berth does not run: write the credentials in auths)"},
		{"refused", "127.0.0.1:5000/app:1", []*registryauth.Keys{flag}, refused,
			"unauthorized: authentication required for 127.0.0.1:5000/app (the registry refused the credentials of user berth for 127.0.0.1:5000 in --registry-config /root/.docker/config.json)"},
		{"refused token", "ghcr.io/org/tool", []*registryauth.Keys{secret, flag}, refused,
			"unauthorized: authentication required for ghcr.io/org/tool (the registry refused the credentials (identity token) for ghcr.io in imagePullSecret file regcred)"},
		{"unknown tag", "127.0.0.1:5000/app:1.2", []*registryauth.Keys{flag}, unknown,
			"manifest unknown: tag 1.2 not found in 127.0.0.1:5000/app"},
		{"unknown latest", "redis", []*registryauth.Keys{flag}, unknown,
			"manifest unknown: tag latest not found in redis"},
		{"unknown digest", "127.0.0.1:5000/app@sha256:" + strings.Repeat("0", 64), []*registryauth.Keys{flag}, unknown,
			"manifest unknown: digest sha256:" + strings.Repeat("0", 64) + " not found in 127.0.0.1:5000/app"},
		{"other", "127.0.0.1:5000/app:1", []*registryauth.Keys{flag}, other, other.Error()},
	} {
		cred, found := registryauth.Choose(tc.image, tc.keys...)
		err := registryauth.Explain(tc.image, cred, found, tc.keys, tc.err)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: the error does not wrap the runtime's", tc.name)
		}
		if err != nil && (strings.Contains(err.Error(), "pw-123") || strings.Contains(err.Error(), "tok-123")) {
			t.Errorf("%s: the error shows a secret: %v", tc.name, err)
		}
	}
	if registryauth.Explain("x", registryauth.Credential{}, false, nil, nil) != nil {
		t.Errorf("Explain(nil) is not nil")
	}
}
