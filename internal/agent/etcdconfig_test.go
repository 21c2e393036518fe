package agent

import (
	"os"
	"path/filepath"
	"testing"

	"berth.dev/berth/internal/testenv"
)

func TestValidateEtcdFlags(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	notPEM := filepath.Join(t.TempDir(), "not-pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// tlsOn serves the client URL over TLS with client certificates, and
	// gives the controller what it needs to connect.
	tlsOn := func(c *Config, client string) {
		c.EtcdListenClient = client
		c.EtcdServerCert, c.EtcdServerKey, c.EtcdClientCA = certs.ServerCert, certs.ServerKey, certs.CACert
		c.EtcdCACert, c.EtcdCert, c.EtcdKey = certs.CACert, certs.ClientCert, certs.ClientKey
	}
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string // "" : valid; else the error, or its start ending in "…"
	}{
		{"loopback, plain", func(c *Config) {}, ""},
		{"the defaults", func(c *Config) { c.EtcdListenClient, c.EtcdListenPeer = "", "" }, ""},
		{"localhost, plain", func(c *Config) { c.EtcdListenClient = "http://localhost:2379" }, ""},
		{"loopback, TLS with client certificates", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379") }, ""},
		{"every address, TLS with client certificates", func(c *Config) { tlsOn(c, "https://0.0.0.0:2379") }, ""},
		{"every address, peer too, TLS", func(c *Config) {
			tlsOn(c, "https://0.0.0.0:2379")
			c.EtcdListenPeer = "https://0.0.0.0:2380"
		}, ""},
		{"loopback, TLS without client certificates", func(c *Config) {
			tlsOn(c, "https://127.0.0.1:2379")
			c.EtcdClientCA, c.EtcdCert, c.EtcdKey = "", "", ""
		}, ""},
		{"every address, plain, --insecure-etcd", func(c *Config) {
			c.EtcdListenClient, c.EtcdListenPeer, c.InsecureEtcd = "http://0.0.0.0:2379", "http://0.0.0.0:2380", true
		}, ""},
		{"an etcd cluster", func(c *Config) {
			c.EtcdEndpoints = []string{"https://10.0.0.1:2379"}
			c.EtcdListenClient = "http://0.0.0.0:1"
		}, ""},

		{"every address, plain", func(c *Config) { c.EtcdListenClient = "http://0.0.0.0:2379" },
			"--etcd-listen-client http://0.0.0.0:2379 is not a loopback address: whoever reaches etcd decides what every host runs; serve it over TLS with client certificates (an https:// URL, --etcd-server-cert, --etcd-server-key and --etcd-client-ca), or give --insecure-etcd to serve plain HTTP"},
		{"another address, plain", func(c *Config) { c.EtcdListenClient = "http://192.0.2.10:2379" }, "--etcd-listen-client http://192.0.2.10:2379 is not a loopback address: …"},
		{"IPv6 everywhere, plain", func(c *Config) { c.EtcdListenClient = "http://[::]:2379" }, "--etcd-listen-client http://[::]:2379 is not a loopback address: …"},
		{"the peer on every address, plain", func(c *Config) { c.EtcdListenPeer = "http://0.0.0.0:2380" }, "--etcd-listen-peer http://0.0.0.0:2380 is not a loopback address: …"},
		{"the peer on every address, TLS client only", func(c *Config) {
			tlsOn(c, "https://127.0.0.1:2379")
			c.EtcdListenPeer = "http://0.0.0.0:2380"
		}, "--etcd-listen-peer http://0.0.0.0:2380 is not a loopback address: …"},
		{"every address, TLS without client certificates", func(c *Config) {
			tlsOn(c, "https://0.0.0.0:2379")
			c.EtcdClientCA = ""
		}, "--etcd-listen-client https://0.0.0.0:2379 is not a loopback address: give --etcd-client-ca too, so that etcd asks every client for a certificate (TLS alone lets anyone who reaches it write what every host runs), or --insecure-etcd"},
		{"https without a certificate", func(c *Config) { c.EtcdListenClient, c.EtcdCACert = "https://127.0.0.1:2379", certs.CACert },
			"--etcd-listen-client https://127.0.0.1:2379: give --etcd-server-cert and --etcd-server-key to serve TLS there"},
		{"a certificate on a plain URL", func(c *Config) {
			tlsOn(c, "https://127.0.0.1:2379")
			c.EtcdListenClient = "http://127.0.0.1:2379"
		}, "--etcd-server-cert: --etcd-listen-client http://127.0.0.1:2379 is plain HTTP: give an https:// URL to serve etcd's clients over TLS"},
		{"a certificate without its key", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.EtcdServerKey = "" },
			"--etcd-server-cert " + certs.ServerCert + " needs --etcd-server-key: the key of that certificate"},
		{"a key without its certificate", func(c *Config) { c.EtcdServerKey = certs.ServerKey },
			"--etcd-server-key " + certs.ServerKey + " needs --etcd-server-cert: the certificate of that key"},
		{"a client CA without TLS", func(c *Config) { c.EtcdClientCA = certs.CACert },
			"--etcd-client-ca " + certs.CACert + " needs --etcd-server-cert and --etcd-server-key: etcd asks for client certificates over TLS only"},
		{"TLS and --insecure-etcd", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.InsecureEtcd = true },
			"--insecure-etcd and --etcd-server-cert ask for both plain HTTP and TLS: give one"},
		{"a key of another certificate", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.EtcdServerKey = certs.ClientKey },
			"--etcd-server-cert " + certs.ServerCert + ", --etcd-server-key " + certs.ClientKey + ": tls: private key does not match public key"},
		{"a client CA that is not PEM", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.EtcdClientCA = notPEM },
			"--etcd-client-ca " + notPEM + ": no PEM certificate in it"},
		{"the controller cannot trust its own etcd", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.EtcdCACert = "" },
			"--etcd-listen-client https://127.0.0.1:2379: the controller talks to its embedded etcd over TLS too: give --etcd-cacert, the CA that signed --etcd-server-cert"},
		{"the controller has no client certificate", func(c *Config) { tlsOn(c, "https://127.0.0.1:2379"); c.EtcdCert, c.EtcdKey = "", "" },
			"--etcd-listen-client https://127.0.0.1:2379: the embedded etcd asks for client certificates (--etcd-client-ca): give the controller's own with --etcd-cert and --etcd-key"},
		{"not a URL of etcd", func(c *Config) { c.EtcdListenClient = "127.0.0.1:2379" },
			`--etcd-listen-client "127.0.0.1:2379": want http://HOST:PORT or https://HOST:PORT`},
		{"no port", func(c *Config) { c.EtcdListenPeer = "http://127.0.0.1" },
			`--etcd-listen-peer "http://127.0.0.1": want http://HOST:PORT or https://HOST:PORT`},
		{"server TLS with an etcd cluster", func(c *Config) {
			c.EtcdEndpoints = []string{"https://10.0.0.1:2379"}
			c.EtcdServerCert, c.EtcdServerKey = certs.ServerCert, certs.ServerKey
		}, "--etcd-server-cert, --etcd-server-key and --etcd-client-ca serve the embedded etcd, which --etcd-endpoints does not start: …"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkValidate(t, tc.set, tc.want) })
	}
}
