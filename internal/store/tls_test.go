package store_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// newWithin calls store.New and fails the test if it takes longer than the dial
// timeout plus 2s (a hang guard, not a performance assertion).
func newWithin(t *testing.T, cfg store.Config) (*store.Store, error) {
	t.Helper()
	limit := cfg.DialTimeout + 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit+5*time.Second)
	defer cancel()
	start := time.Now()
	s, err := store.New(ctx, cfg)
	if d := time.Since(start); d > limit {
		t.Errorf("New took %v, more than DialTimeout+2s = %v", d, limit)
	}
	if s != nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.Certs(t)
	p := testenv.EtcdProcess(t, testenv.WithTLS(certs))
	ep := p.Endpoints()[0]
	if !strings.HasPrefix(ep, "https://") {
		t.Fatalf("endpoint %s is not https", ep)
	}
	good := store.Config{Endpoints: p.Endpoints(), CACert: certs.CACert, Cert: certs.ClientCert, Key: certs.ClientKey, DialTimeout: 2 * time.Second}

	t.Run("ClientCert", func(t *testing.T) {
		t.Parallel()
		s, err := newWithin(t, good)
		if err != nil {
			t.Fatalf("New with a client certificate: %v", err)
		}
		ctx := ctxT(t)
		if _, err := s.Txn(ctx, []store.Op{{Key: store.Prefix + "tls", Value: []byte("ok")}}); err != nil {
			t.Fatal(err)
		}
		if kv, err := s.Get(ctx, store.Prefix+"tls"); err != nil || string(kv.Value) != "ok" {
			t.Fatalf("Get = %q, %v", kv.Value, err)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  func(store.Config) store.Config
		want []string // the error must mention one of these
	}{
		{"WrongCA", func(c store.Config) store.Config { c.CACert = certs.OtherCACert; return c },
			[]string{"x509", "certificate signed by unknown authority"}},
		{"NoClientCert", func(c store.Config) store.Config { c.Cert, c.Key = "", ""; return c },
			[]string{"client certificate: none was given"}},
		{"ClientCertOfOtherCA", func(c store.Config) store.Config {
			c.Cert, c.Key = certs.OtherClientCert, certs.OtherClientKey
			return c
		}, []string{"rejected the client certificate"}},
		{"PlainHTTPToTLS", func(c store.Config) store.Config {
			c.Endpoints = []string{strings.Replace(ep, "https://", "http://", 1)}
			c.CACert, c.Cert, c.Key = "", "", ""
			return c
		}, []string{"https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newWithin(t, tc.cfg(good))
			if err == nil {
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.Contains(msg, "store: connect "+ep[len("https://"):]) && !strings.Contains(msg, "store: connect http") {
				t.Errorf("error does not name the endpoint: %s", msg)
			}
			ok := false
			for _, w := range tc.want {
				ok = ok || strings.Contains(msg, w)
			}
			if !ok {
				t.Errorf("error %q mentions none of %q", msg, tc.want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	etcdctl, err := exec.LookPath("etcdctl")
	testenv.Require(t, err == nil, "etcdctl not found on PATH (Debian: apt-get install etcd-client)")
	p := testenv.EtcdProcess(t)
	ep := p.Endpoints()[0]
	ctl := func(args ...string) {
		t.Helper()
		cmd := exec.Command(etcdctl, append([]string{"--endpoints", ep, "--dial-timeout", "5s"}, args...)...)
		cmd.Env = []string{"ETCDCTL_API=3"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
	}
	ctl("user", "add", "root:rootpw")
	ctl("auth", "enable")

	cfg := store.Config{Endpoints: p.Endpoints(), Username: "root", Password: "rootpw", DialTimeout: 2 * time.Second}
	s, err := newWithin(t, cfg)
	if err != nil {
		t.Fatalf("New with the right password: %v", err)
	}
	if _, err := s.Put(ctxT(t), store.Prefix+"auth", []byte("ok"), 0); err != nil {
		t.Fatalf("Put as root: %v", err)
	}

	cfg.Password = "wrong"
	_, err = newWithin(t, cfg)
	if err == nil || !(strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), "invalid user ID or password")) {
		t.Fatalf("New with a wrong password: %v, want authentication failed", err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a wrong password is reported as unavailable: %v", err)
	}
	t.Logf("error: %v", err)

	cfg.Username, cfg.Password = "", ""
	_, err = newWithin(t, cfg)
	if err == nil {
		t.Fatal("New without credentials on an etcd with auth succeeded")
	}
	t.Logf("without credentials: %v", err)
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ep := "http://127.0.0.1:" + itoa(testenv.FreePort(t))
	_, err := newWithin(t, store.Config{Endpoints: []string{ep}, DialTimeout: time.Second})
	if err == nil {
		t.Fatal("New on a closed port succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "store: connect "+ep) {
		t.Fatalf("New on a closed port: %v, want ErrUnavailable naming %s", err, ep)
	}
	t.Logf("error: %v", err)
}

func itoa(n int) string { return strconv.Itoa(n) }
