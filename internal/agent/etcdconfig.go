package agent

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"berth.dev/berth/internal/store/embedded"
)

// validateEtcd checks the flags of the embedded etcd's protection, as
// validateAPI does the HTTP API's: whoever can write etcd decides what
// every host runs, so a listener off loopback must serve TLS and ask
// every client for a certificate (--etcd-server-cert, --etcd-server-key,
// --etcd-client-ca), unless --insecure-etcd says otherwise. They apply to
// the embedded etcd only: with --etcd-endpoints they are refused, not
// ignored.
func (c *Config) validateEtcd() error {
	if len(c.EtcdEndpoints) > 0 {
		if c.EtcdServerCert != "" || c.EtcdServerKey != "" || c.EtcdClientCA != "" {
			return fmt.Errorf("--etcd-server-cert, --etcd-server-key and --etcd-client-ca serve the embedded etcd, which --etcd-endpoints does not start: configure TLS on the etcd cluster itself")
		}
		return nil
	}
	if err := certAndKey("--etcd-server-cert", c.EtcdServerCert, "--etcd-server-key", c.EtcdServerKey); err != nil {
		return err
	}
	switch {
	case c.EtcdClientCA != "" && c.EtcdServerCert == "":
		return fmt.Errorf("--etcd-client-ca %s needs --etcd-server-cert and --etcd-server-key: etcd asks for client certificates over TLS only", c.EtcdClientCA)
	case c.EtcdServerCert != "" && c.InsecureEtcd:
		return fmt.Errorf("--insecure-etcd and --etcd-server-cert ask for both plain HTTP and TLS: give one")
	}
	if _, err := c.embedTLS(); err != nil {
		return err
	}
	client, err := listenURL("--etcd-listen-client", cmp.Or(c.EtcdListenClient, embedded.DefaultListenClient))
	if err != nil {
		return err
	}
	peer, err := listenURL("--etcd-listen-peer", cmp.Or(c.EtcdListenPeer, embedded.DefaultListenPeer))
	if err != nil {
		return err
	}
	if c.EtcdServerCert != "" && client.Scheme != "https" {
		return fmt.Errorf("--etcd-server-cert: --etcd-listen-client %s is plain HTTP: give an https:// URL to serve etcd's clients over TLS", client)
	}
	for _, l := range []struct {
		flag string
		u    *url.URL
	}{{"--etcd-listen-client", client}, {"--etcd-listen-peer", peer}} {
		if l.u.Scheme == "https" && c.EtcdServerCert == "" {
			return fmt.Errorf("%s %s: give --etcd-server-cert and --etcd-server-key to serve TLS there", l.flag, l.u)
		}
		if c.InsecureEtcd {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		loopback, err := isLoopbackHost(ctx, l.u.Hostname(), net.DefaultResolver.LookupHost)
		cancel()
		switch {
		case err != nil:
			return fmt.Errorf("%s %s: %w", l.flag, l.u, err)
		case loopback:
		case l.u.Scheme == "http":
			return fmt.Errorf("%s %s is not a loopback address: whoever reaches etcd decides what every host runs; serve it over TLS with client certificates (an https:// URL, --etcd-server-cert, --etcd-server-key and --etcd-client-ca), or give --insecure-etcd to serve plain HTTP", l.flag, l.u)
		case c.EtcdClientCA == "":
			return fmt.Errorf("%s %s is not a loopback address: give --etcd-client-ca too, so that etcd asks every client for a certificate (TLS alone lets anyone who reaches it write what every host runs), or --insecure-etcd", l.flag, l.u)
		}
	}
	if client.Scheme == "https" {
		// The controller is the embedded etcd's first client.
		if c.EtcdCACert == "" {
			return fmt.Errorf("--etcd-listen-client %s: the controller talks to its embedded etcd over TLS too: give --etcd-cacert, the CA that signed --etcd-server-cert", client)
		}
		if c.EtcdClientCA != "" && c.EtcdCert == "" {
			return fmt.Errorf("--etcd-listen-client %s: the embedded etcd asks for client certificates (--etcd-client-ca): give the controller's own with --etcd-cert and --etcd-key", client)
		}
	}
	return nil
}

// listenURL parses a listen URL of the embedded etcd: http or https, a
// host and a port.
func listenURL(flag, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%s %q: want http://HOST:PORT or https://HOST:PORT", flag, s)
	}
	return u, nil
}

// embedTLS loads the embedded etcd's TLS files, so that a wrong one is
// said at start, naming its flag; it returns what embedded.Start
// takes.
func (c *Config) embedTLS() (embedded.TLS, error) {
	t := embedded.TLS{CertFile: c.EtcdServerCert, KeyFile: c.EtcdServerKey, ClientCAFile: c.EtcdClientCA}
	if t.CertFile == "" {
		return t, nil
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return t, fmt.Errorf("--etcd-server-cert %s, --etcd-server-key %s: %w", t.CertFile, t.KeyFile, err)
	}
	if t.ClientCAFile != "" {
		b, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return t, fmt.Errorf("--etcd-client-ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return t, fmt.Errorf("--etcd-client-ca %s: no PEM certificate in it", t.ClientCAFile)
		}
	}
	return t, nil
}
