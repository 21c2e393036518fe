package embedded_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
	"berth.dev/berth/internal/testenv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func startEmbedded(t *testing.T, dir string, client, peer int) *embedded.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := embedded.Start(ctx, embedded.Config{
		DataDir:      dir,
		ListenClient: fmt.Sprintf("http://127.0.0.1:%d", client),
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", peer),
		Fast:         true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	client, peer := testenv.FreePort(t), testenv.FreePort(t)
	e := startEmbedded(t, dir, client, peer)
	s := testenv.NewStore(t, store.Config{Endpoints: e.Endpoints()})
	ctx := ctxT(t)
	rev, err := s.Txn(ctx, []store.Op{{Key: store.Prefix + "kept", Value: []byte("yes")}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = startEmbedded(t, dir, client, peer)
	defer e.Close()
	s = testenv.NewStore(t, store.Config{Endpoints: e.Endpoints()})
	kv, err := s.Get(ctx, store.Prefix+"kept")
	if err != nil || string(kv.Value) != "yes" || kv.ModRevision != rev {
		t.Fatalf("after restart: %+v, %v; want yes@%d", kv, err, rev)
	}
}

func TestEmbeddedPortInUse(t *testing.T) {
	t.Parallel()
	eps := testenv.Etcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := embedded.Start(ctx, embedded.Config{
		DataDir:      t.TempDir(),
		ListenClient: eps[0],
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
		Fast:         true,
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("StartEmbedded on a used port: %v, want address already in use", err)
	}
}

// An embedded etcd given a certificate serves its https:// URLs over TLS
// and, given a client CA, refuses clients without a certificate of it.
func TestEmbeddedTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := embedded.Start(ctx, embedded.Config{
		DataDir:      t.TempDir(),
		ListenClient: fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t)),
		ListenPeer:   fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t)),
		TLS:          embedded.TLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CACert},
		Fast:         true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ep := e.Endpoints()[0]
	if !strings.HasPrefix(ep, "https://127.0.0.1:") {
		t.Fatalf("endpoint %q, want https on loopback", ep)
	}
	s := testenv.NewStore(t, store.Config{Endpoints: e.Endpoints(), CACert: certs.CACert, Cert: certs.ClientCert, Key: certs.ClientKey})
	if _, err := s.Txn(ctxT(t), []store.Op{{Key: store.Prefix + "tls", Value: []byte("yes")}}); err != nil {
		t.Fatalf("write over TLS with a client certificate: %v", err)
	}
	for _, bad := range []struct {
		name string
		cfg  store.Config
	}{
		{"plain HTTP", store.Config{Endpoints: []string{strings.Replace(ep, "https://", "http://", 1)}}},
		{"no client certificate", store.Config{Endpoints: e.Endpoints(), CACert: certs.CACert}},
		{"a client certificate of another CA", store.Config{Endpoints: e.Endpoints(), CACert: certs.CACert, Cert: certs.OtherClientCert, Key: certs.OtherClientKey}},
	} {
		cfg := bad.cfg
		cfg.DialTimeout = 2 * time.Second
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := store.New(cctx, cfg)
		if err == nil {
			_, err = st.Get(cctx, store.Prefix+"tls")
			st.Close()
		}
		ccancel()
		if err == nil {
			t.Errorf("%s: read the embedded etcd", bad.name)
		}
	}
}

func TestEmbeddedTLSConfigErrors(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	for _, tc := range []struct {
		name         string
		client, peer string
		tls          embedded.TLS
		want         string
	}{
		{"https without a certificate", "https://127.0.0.1:1", "http://127.0.0.1:2", embedded.TLS{}, "https://127.0.0.1:1: https needs a server certificate and key"},
		{"a certificate on plain URLs", "http://127.0.0.1:1", "http://127.0.0.1:2", embedded.TLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey},
			"neither http://127.0.0.1:1 nor http://127.0.0.1:2 is https"},
		{"a certificate without its key", "https://127.0.0.1:1", "http://127.0.0.1:2", embedded.TLS{CertFile: certs.ServerCert}, "a certificate and its key go together"},
		{"a client CA without a certificate", "http://127.0.0.1:1", "http://127.0.0.1:2", embedded.TLS{ClientCAFile: certs.CACert}, "a client CA needs a server certificate"},
	} {
		_, err := embedded.Start(context.Background(), embedded.Config{DataDir: t.TempDir(), ListenClient: tc.client, ListenPeer: tc.peer, TLS: tc.tls, Fast: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestEmbeddedLocalURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://0.0.0.0:2379":    "https://127.0.0.1:2379",
		"https://[::]:2379":       "https://[::1]:2379",
		"http://127.0.0.1:2379":   "http://127.0.0.1:2379",
		"https://10.0.0.1:2379":   "https://10.0.0.1:2379",
		"https://etcd.local:2379": "https://etcd.local:2379",
	} {
		if got := embedded.LocalURL(in); got != want {
			t.Errorf("LocalURL(%s) = %s, want %s", in, got, want)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
