package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestValidateImageFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "config.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"auths": {"r.example.com": {"username": "u", "password": "p"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"auths": {"r.example.com": {"password": "s3cret"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"defaults", func(c *Config) {}, ""},
		{"default file absent", func(c *Config) { c.RegistryConfig = missing }, ""},
		{"named file", func(c *Config) { c.RegistryConfig, c.RegistryConfigSet = good, true }, ""},
		{"named file missing", func(c *Config) { c.RegistryConfig, c.RegistryConfigSet = missing, true },
			"--registry-config " + missing + ": no such file or directory"},
		{"named file bad", func(c *Config) { c.RegistryConfig, c.RegistryConfigSet = bad, true },
			"--registry-config " + bad + `: auths["r.example.com"] has a password but no username`},
		{"negative pull timeout", func(c *Config) { c.ImagePullTimeout = -time.Second }, "--image-pull-timeout -1s: must not be negative"},
		{"negative gc", func(c *Config) { c.ImageGCAfter = -time.Minute }, "--image-gc-after -1m0s: must not be negative (0: never remove images)"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkValidate(t, tc.set, tc.want) })
	}
}
