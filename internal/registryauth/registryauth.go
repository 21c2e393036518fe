package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"berth.dev/berth/internal/runtime"
)

// MaxFileBytes is the largest credentials file read: config.json files are
// a few KiB.
const MaxFileBytes = 1 << 20

// hubKey is the key docker login writes for Docker Hub.
const hubKey = "https://index.docker.io/v1/"

// hubHosts are the host names that mean Docker Hub.
var hubHosts = []string{"docker.io", "index.docker.io", "registry-1.docker.io"}

// Source says where a credentials file came from, for messages:
// "--registry-config" or "imagePullSecret file regcred".
type Source string

// FlagSource is the controller's --registry-config.
const FlagSource Source = "--registry-config"

// SecretSource is a workload's imagePullSecret of file name.
func SecretSource(name string) Source { return Source("imagePullSecret file " + name) }

// Keys are the entries of one credentials file.
type Keys struct {
	// Path is the file read, "" when there was none.
	Path   string
	Source Source
	auths  map[string]runtime.RegistryAuth
	// helpers names the registries a credential helper serves (credHelpers),
	// or "*" for every registry (credsStore).
	helpers []string
}

// Credential is the entry a pull presents.
type Credential struct {
	Auth   runtime.RegistryAuth
	Source Source
	Path   string
	Key    string // the entry's key in the file
}

// Load reads the credentials file at path. A missing file is an error
// wrapping fs.ErrNotExist.
func Load(path string, src Source) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", src, path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", src, path, errors.Unwrap(err))
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s %s: larger than %d KiB: it is not a Docker config.json", src, path, MaxFileBytes>>10)
	}
	k, err := Parse(b, src)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", src, path, err)
	}
	k.Path = path
	return k, nil
}

// configFile is the part of Docker's config.json berth reads; other keys
// (proxies, psFormat, ...) are ignored, as docker ignores what it does not
// know.
type configFile struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// Parse reads the content of a credentials file. Its errors name the entry
// that is wrong, never its content.
func Parse(b []byte, src Source) (*Keys, error) {
	var cf configFile
	if err := json.Unmarshal(b, &cf); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not a Docker config.json: invalid JSON at byte %d", syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, fmt.Errorf("not a Docker config.json: %s must not be a JSON %s", cmpOr(typ.Field, "the file"), typ.Value)
		}
		return nil, fmt.Errorf("not a Docker config.json: %w", err)
	}
	k := &Keys{Source: src, auths: map[string]runtime.RegistryAuth{}}
	for key, e := range cf.Auths {
		a := runtime.RegistryAuth{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, ServerAddress: key}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Auth))
			if err != nil {
				return nil, fmt.Errorf("auths[%q].auth is not base64 of user:password", key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("auths[%q].auth is not base64 of user:password (no colon)", key)
			}
			a.Username, a.Password = user, strings.Trim(pass, "\x00")
		}
		if a.Username == "" && a.Password == "" && a.IdentityToken == "" {
			continue // an entry a credential helper fills
		}
		if a.Username == "" && a.IdentityToken == "" {
			return nil, fmt.Errorf("auths[%q] has a password but no username", key)
		}
		k.auths[key] = a
	}
	if cf.CredsStore != "" {
		k.helpers = append(k.helpers, "*")
	}
	for host := range cf.CredHelpers {
		k.helpers = append(k.helpers, hostOfKey(host))
	}
	return k, nil
}

// Host returns the registry host of an image reference as Docker resolves
// it: "docker.io" for an image without one ("redis", "me/app").
func Host(image string) (string, error) {
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	return reference.Domain(n), nil
}

// Lookup returns the entry for image's registry. A nil Keys has none.
func (k *Keys) Lookup(image string) (Credential, bool) {
	if k == nil {
		return Credential{}, false
	}
	host, err := Host(image)
	if err != nil {
		return Credential{}, false
	}
	key, ok := k.keyFor(host)
	if !ok {
		return Credential{}, false
	}
	return Credential{Auth: k.auths[key], Source: k.Source, Path: k.Path, Key: key}, true
}

// keyFor chooses the entry of host: the key that is the host itself (or
// docker login's key for Docker Hub), else the first key, in sorted
// order, whose host part is host or, for Docker Hub, one of its names.
func (k *Keys) keyFor(host string) (string, bool) {
	hub := slices.Contains(hubHosts, host)
	exact := host
	if hub {
		exact = hubKey
	}
	if _, ok := k.auths[exact]; ok {
		return exact, true
	}
	keys := make([]string, 0, len(k.auths))
	for key := range k.auths {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		h := hostOfKey(key)
		if h == host || hub && slices.Contains(hubHosts, h) {
			return key, true
		}
	}
	return "", false
}

// helperFor reports whether a credential helper serves host's entry.
func (k *Keys) helperFor(host string) bool {
	if k == nil {
		return false
	}
	hub := slices.Contains(hubHosts, host)
	for _, h := range k.helpers {
		if h == "*" || h == host || hub && slices.Contains(hubHosts, h) {
			return true
		}
	}
	return false
}

// hostOfKey is a config.json key's host: without "http://" or "https://"
// and without a path, as Docker's ConvertToHostname.
func hostOfKey(key string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(key, "http://"), "https://")
	h, _, _ = strings.Cut(h, "/")
	return h
}

// DefaultPath is where docker login writes credentials for the user the
// controller runs as: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json; "" when there is no home directory.
func DefaultPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
