package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		log.SetOutput(io.Discard)
	}
	os.Exit(m.Run())
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startProxy forwards a free loopback port to target.
func startProxy(t *testing.T, target string) (*Proxy, string) {
	t.Helper()
	ln := listen(t)
	p := &Proxy{Target: target, DialTimeout: 2 * time.Second}
	go p.Serve(ln)
	t.Cleanup(p.Close)
	return p, ln.Addr().String()
}

// startUpper serves a target that reads everything until EOF, then answers
// it in upper case and closes: it only works when the proxy half-closes.
func startUpper(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr, input string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, input)
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHalfCloseBothWays(t *testing.T) {
	_, addr := startProxy(t, startUpper(t))
	if got := roundTrip(t, addr, "hello\nworld\n"); got != "HELLO\nWORLD\n" {
		t.Fatalf("got %q", got)
	}
}

func TestConcurrentConnections(t *testing.T) {
	_, addr := startProxy(t, startUpper(t))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := strings.Repeat(fmt.Sprintf("conn %d ", i), 10000)
			if got := roundTrip(t, addr, in); got != strings.ToUpper(in) {
				t.Errorf("conn %d: %d bytes back, want %d", i, len(got), len(in))
			}
		}()
	}
	wg.Wait()
}

func TestTargetDown(t *testing.T) {
	ln := listen(t)
	target := ln.Addr().String()
	ln.Close()
	_, addr := startProxy(t, target)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read from a proxy whose target is down = %d, %v; want EOF", n, err)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	// a target that never answers nor closes
	ln := listen(t)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p, addr := startProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the open connection")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// sqliteServer builds ./images/sqliteserver and runs it on a free port over
// the database at db; the returned function stops it with SIGTERM.
func sqliteServer(t *testing.T, bin, db string) (string, func()) {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--listen", addr, "--db", db)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sqliteserver exited with %v: %s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("sqliteserver did not stop on SIGINT")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if exec.Command(bin, "check", addr).Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("sqliteserver not answering on %s: %s", addr, stderr.String())
		}
	}
	return addr, stop
}

func buildServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds sqliteserver")
	}
	bin := filepath.Join(t.TempDir(), "sqliteserver")
	out, err := exec.Command("go", "build", "-o", bin, "../sqliteserver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ../sqliteserver: %v\n%s", err, out)
	}
	return bin
}

// TestThroughProxyToSQLiteServer is the README's walk-through, on loopback:
// statements through the proxy, an error that keeps the session, and the
// rows still there after the server restarts.
func TestThroughProxyToSQLiteServer(t *testing.T) {
	bin := buildServer(t)
	db := filepath.Join(t.TempDir(), "data", "db.sqlite")
	target, stop := sqliteServer(t, bin, db)
	_, addr := startProxy(t, target)

	walk := `create table t1(a,b); insert into t1 values (1,"one"),(2,"two"); select * from t1;` + "\n"
	if got := roundTrip(t, addr, walk); got != "1|one\n2|two\n" {
		t.Fatalf("walk-through printed %q", got)
	}

	// an interactive session: answers come back line by line, an error
	// does not end it
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range []struct{ in, want string }{
		{"select * from t1 where a = 2;\n", "2|two\n"},
		{"selec * from t1;\n", "Error: near \"selec\": syntax error\n"},
		{"select count(*)\nfrom t1;\n", "2\n"},
	} {
		io.WriteString(c, step.in)
		if line, err := r.ReadString('\n'); err != nil || line != step.want {
			t.Fatalf("after %q: %q, %v; want %q", step.in, line, err, step.want)
		}
	}
	c.Close()

	// restart the server on the same file, behind a new proxy
	stop()
	target2, stop2 := sqliteServer(t, bin, db)
	defer stop2()
	_, addr = startProxy(t, target2)
	if got := roundTrip(t, addr, "select b from t1 order by a;"); got != "one\ntwo\n" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestLocalAddr(t *testing.T) {
	for in, want := range map[string]string{":12346": "127.0.0.1:12346", "0.0.0.0:1": "127.0.0.1:1", "10.0.0.1:5": "10.0.0.1:5"} {
		if got := localAddr(in); got != want {
			t.Errorf("localAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
