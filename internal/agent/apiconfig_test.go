package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/internal/testenv"
)

func TestValidateAPIFlags(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "hunter2-do-not-print"
	token := file("token", secret+"\n")
	empty := file("empty", " \n\t\n")
	twoWords := file("two-words", secret+" "+secret+"\n")
	huge := file("huge", strings.Repeat(secret, 1000))
	unreadable := file("unreadable", secret)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	notPEM := file("not-pem", secret)
	missing := filepath.Join(dir, "missing")

	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string // "" : valid; else the error, or its start ending in "…"
	}{
		{"the defaults", func(c *Config) {}, ""},
		{"reads open", func(c *Config) { c.APIReads = "open" }, ""},
		{"a token file", func(c *Config) { c.APITokenFile = token }, ""},
		{"reads need the token", func(c *Config) { c.APITokenFile, c.APIReads = token, "token" }, ""},
		{"TLS", func(c *Config) { c.TLSCert, c.TLSKey = certs.ServerCert, certs.ServerKey }, ""},
		{"localhost", func(c *Config) { c.Listen = "localhost:8500" }, ""},
		{"IPv6 loopback", func(c *Config) { c.Listen = "[::1]:8500" }, ""},
		{"127.0.0.2", func(c *Config) { c.Listen = "127.0.0.2:8500" }, ""},

		{"a certificate without its key", func(c *Config) { c.TLSCert = certs.ServerCert },
			"--tls-cert " + certs.ServerCert + " needs --tls-key: the key of that certificate"},
		{"a key without its certificate", func(c *Config) { c.TLSKey = certs.ServerKey },
			"--tls-key " + certs.ServerKey + " needs --tls-cert: the certificate of that key"},
		{"a key of another certificate", func(c *Config) { c.TLSCert, c.TLSKey = certs.ServerCert, certs.ClientKey },
			"--tls-cert " + certs.ServerCert + ", --tls-key " + certs.ClientKey + ": tls: private key does not match public key"},
		{"a certificate that is not PEM", func(c *Config) { c.TLSCert, c.TLSKey = notPEM, certs.ServerKey },
			"--tls-cert " + notPEM + ", --tls-key " + certs.ServerKey + ": tls: failed to find any PEM data in certificate input"},
		{"a missing certificate", func(c *Config) { c.TLSCert, c.TLSKey = missing, certs.ServerKey },
			"--tls-cert " + missing + ", --tls-key " + certs.ServerKey + ": open " + missing + ": no such file or directory"},
		{"TLS and --insecure-http", func(c *Config) { c.TLSCert, c.TLSKey, c.InsecureHTTP = certs.ServerCert, certs.ServerKey, true },
			"--insecure-http and --tls-cert ask for both plain HTTP and HTTPS: give one"},
		{"reads neither open nor token", func(c *Config) { c.APIReads = "closed" }, `--api-reads "closed": use open or token`},
		{"reads need a token, and there is none", func(c *Config) { c.APIReads = "token" },
			"--api-reads token needs --api-token-file: the token that reads must carry"},
		{"a missing token file", func(c *Config) { c.APITokenFile = missing }, "--api-token-file: open " + missing + ": no such file or directory"},
		{"an empty token file", func(c *Config) { c.APITokenFile = empty }, "--api-token-file " + empty + ": the file is empty; it should hold one token"},
		{"a token file of two words", func(c *Config) { c.APITokenFile = twoWords },
			"--api-token-file " + twoWords + ": the token must be one word of printable ASCII characters, without spaces"},
		{"a token file too large", func(c *Config) { c.APITokenFile = huge }, "--api-token-file " + huge + ": longer than 4096 bytes; it should hold one token"},

		{"every IPv4 address", func(c *Config) { c.Listen = "0.0.0.0:8500" },
			"--listen 0.0.0.0:8500 is not a loopback address: give --tls-cert and --tls-key to serve HTTPS there, or --insecure-http to serve plain HTTP"},
		{"every address", func(c *Config) { c.Listen = ":8500" }, "--listen :8500 is not a loopback address: …"},
		{"every IPv6 address", func(c *Config) { c.Listen = "[::]:8500" }, "--listen [::]:8500 is not a loopback address: …"},
		{"another address", func(c *Config) { c.Listen = "192.0.2.10:8500" }, "--listen 192.0.2.10:8500 is not a loopback address: …"},
		{"every address with --insecure-http", func(c *Config) { c.Listen, c.InsecureHTTP = "0.0.0.0:8500", true }, ""},
		{"every address with TLS", func(c *Config) { c.Listen, c.TLSCert, c.TLSKey = "0.0.0.0:8500", certs.ServerCert, certs.ServerKey }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkValidate(t, tc.set, tc.want)
			if strings.Contains(got, secret) {
				t.Errorf("the error repeats the file's content: %s", got)
			}
		})
	}

	if os.Geteuid() != 0 { // root reads any file
		c := testConfig(t)
		c.APITokenFile = unreadable
		err := c.Validate()
		if want := "--api-token-file: open " + unreadable + ": permission denied"; err == nil || err.Error() != want {
			t.Errorf("an unreadable token file: Validate() = %v, want %q", err, want)
		}
	}
}

// checkValidate validates testConfig changed by set, and fails t unless
// the error is want ("": none; ending in "…": starting with the rest). It
// returns the error's text.
func checkValidate(t *testing.T, set func(*Config), want string) string {
	t.Helper()
	c := testConfig(t)
	set(&c)
	got := ""
	if err := c.Validate(); err != nil {
		got = err.Error()
	}
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(got, prefix) || got == prefix {
			t.Errorf("Validate() = %q, want it to start with %q", got, prefix)
		}
		return got
	}
	if got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	return got
}

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "local.test":
			return []string{"127.0.0.1", "::1"}, nil
		case "split.test":
			return []string{"127.0.0.1", "192.0.2.7"}, nil
		case "public.test":
			return []string{"192.0.2.7"}, nil
		case "empty.test":
			return nil, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range []struct {
		host string
		want bool
		err  string
	}{
		{host: "127.0.0.1", want: true},
		{host: "127.1.2.3", want: true},
		{host: "::1", want: true},
		{host: "::ffff:127.0.0.1", want: true},
		{host: "fe80::1%lo", want: false},
		{host: "", want: false},
		{host: "0.0.0.0", want: false},
		{host: "::", want: false},
		{host: "10.0.0.1", want: false},
		{host: "local.test", want: true},
		{host: "split.test", want: false},
		{host: "public.test", want: false},
		{host: "empty.test", want: false},
		{host: "unknown.test", err: "resolve unknown.test: no such host"},
	} {
		got, err := isLoopbackHost(context.Background(), tc.host, lookup)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("isLoopbackHost(%q) error = %v, want %q", tc.host, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("isLoopbackHost(%q) = %v, %v; want %v", tc.host, got, err, tc.want)
		}
	}
}
