package testenv_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of acting.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequire(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			testenv.Require(r, true, "present")
			if r.skipped || r.failed {
				t.Fatal("Require(true) skipped or failed")
			}
			testenv.Require(r, false, "missing %s", "etcd")
			if want := ci == "true"; r.failed != want || r.skipped == want {
				t.Fatalf("Require(false) under CI=%q: failed=%v skipped=%v", ci, r.failed, r.skipped)
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	p := testenv.FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("FreePort %d is not free: %v", p, err)
	}
	l.Close()
}

func TestEtcdStore(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Put(ctx, store.Prefix+"x", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestCerts(t *testing.T) {
	t.Parallel()
	c := testenv.Certs(t)
	pool := func(path string) *x509.CertPool {
		p := x509.NewCertPool()
		b, err := os.ReadFile(path)
		if err != nil || !p.AppendCertsFromPEM(b) {
			t.Fatalf("CA %s: %v", path, err)
		}
		return p
	}
	leaf := func(path string) *x509.Certificate {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	server := leaf(c.ServerCert)
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := server.Verify(x509.VerifyOptions{Roots: pool(c.CACert), DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: pool(c.OtherCACert)}); err == nil {
		t.Error("server certificate verifies against the unrelated CA")
	}
	client := x509.VerifyOptions{Roots: pool(c.CACert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf(c.ClientCert).Verify(client); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := leaf(c.OtherClientCert).Verify(client); err == nil {
		t.Error("the other CA's client certificate verifies against the CA")
	}
	for _, pair := range [][2]string{{c.ServerCert, c.ServerKey}, {c.ClientCert, c.ClientKey}, {c.OtherClientCert, c.OtherClientKey}} {
		if _, err := tls.LoadX509KeyPair(pair[0], pair[1]); err != nil {
			t.Errorf("key pair %s: %v", pair[0], err)
		}
	}
}

// TestEtcdProcessRestart stops Debian's etcd, checks the process is gone, starts it
// again on the same data and reads the key back.
func TestEtcdProcessRestart(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.NewStore(t, p.StoreConfig())
	if _, err := s.Put(ctx, store.Prefix+"kept", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	p.Stop()
	if err := syscallKill0(pid); err == nil {
		t.Fatalf("etcd pid %d still exists after Stop", pid)
	}
	p.Start()
	if kv, err := s.Get(ctx, store.Prefix+"kept"); err != nil || string(kv.Value) != "1" {
		t.Fatalf("after restart: %+v, %v", kv, err)
	}
	if p.Tail() == "" {
		t.Error("no stderr tail")
	}
}

func TestEventually(t *testing.T) {
	t.Parallel()
	calls := 0
	testenv.Eventually(t, 10*time.Second, "the third call", func() (bool, string) {
		calls++
		return calls == 3, strconv.Itoa(calls)
	})
	if calls != 3 {
		t.Fatalf("cond called %d times after it held, want 3", calls)
	}

	r := &recorder{TB: t}
	testenv.Eventually(r, 30*time.Millisecond, "never", func() (bool, string) { return false, "no" })
	if !r.failed {
		t.Fatal("Eventually of a condition that never holds did not fail")
	}
}

func TestEventuallyConditions(t *testing.T) {
	t.Parallel()
	n := 0
	testenv.Eventually(t, 10*time.Second, "a bool", func() bool { n++; return n == 2 })
	testenv.Eventually(t, 10*time.Second, "an error", func() error {
		if n++; n < 4 {
			return fmt.Errorf("n is %d", n)
		}
		return nil
	})
	if n != 4 {
		t.Fatalf("n = %d after both conditions held, want 4", n)
	}
}
