package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
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

func TestSplitStatements(t *testing.T) {
	cases := []struct {
		in    string
		stmts []string
		rest  string
	}{
		{"select 1;", []string{"select 1;"}, ""},
		{"select 1; select 2;\n", []string{"select 1;", "select 2;"}, "\n"},
		{"select 1", nil, "select 1"},
		{"select\n 1;", []string{"select\n 1;"}, ""},
		{"select 'a;b'; select \"c;\";", []string{"select 'a;b';", `select "c;";`}, ""},
		{"select 'it''s;';", []string{"select 'it''s;';"}, ""},
		{"select 'open;", nil, "select 'open;"},
		{"select [a;b] from t;", []string{"select [a;b] from t;"}, ""},
		{"select 1 -- c;\n;", []string{"select 1 -- c;\n;"}, ""},
		{"select 1 /* ; */;", []string{"select 1 /* ; */;"}, ""},
		{";; -- nothing\n", nil, " -- nothing\n"},
		{"create trigger tr after insert on t begin insert into u values(1); end;select 1;",
			[]string{"create trigger tr after insert on t begin insert into u values(1); end;", "select 1;"}, ""},
		{"create temp trigger tr after insert on t begin select 1;", nil, "create temp trigger tr after insert on t begin select 1;"},
		{"create table end_(x); select 2;", []string{"create table end_(x);", "select 2;"}, ""},
	}
	for _, c := range cases {
		stmts, rest := splitStatements(c.in)
		if !reflect.DeepEqual(stmts, c.stmts) || rest != c.rest {
			t.Errorf("splitStatements(%q) = %q, %q; want %q, %q", c.in, stmts, rest, c.stmts, c.rest)
		}
	}
}

func TestFormatValue(t *testing.T) {
	cases := map[string]any{
		"": nil, "42": int64(42), "1.0": 1.0, "2.5": 2.5, "-0.1": -0.1,
		"1.0e+20": 1e20, "1.5e-07": 1.5e-7, "x": "x", "AB": []byte("AB"), "Inf": inf(),
		"2024-01-02 03:04:05": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for want, v := range cases {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%#v) = %q, want %q", v, got, want)
		}
	}
}

func inf() float64 { var z float64; return 1 / z }

// start serves the database at path on a free loopback port.
func start(t *testing.T, path string) (*Server, string) {
	t.Helper()
	srv, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

// session sends input, closes the writing half and returns all the output.
func session(t *testing.T, addr, input string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, input); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

const walkThrough = `create table t1(a,b); insert into t1 values (1,"one"),(2,"two"); select * from t1;` + "\n"

func TestWalkThrough(t *testing.T) {
	_, addr := start(t, filepath.Join(t.TempDir(), "data", "db.sqlite"))
	if got := session(t, addr, walkThrough); got != "1|one\n2|two\n" {
		t.Fatalf("walk-through printed %q", got)
	}
}

func TestErrorKeepsSession(t *testing.T) {
	_, addr := start(t, filepath.Join(t.TempDir(), "db.sqlite"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	ask := func(in, want string) {
		t.Helper()
		io.WriteString(c, in)
		line, err := r.ReadString('\n')
		if err != nil || line != want {
			t.Fatalf("after %q: read %q, %v; want %q", in, line, err, want)
		}
	}
	ask("selec 1;\n", "Error: near \"selec\": syntax error\n")
	ask("select * from nope;\n", "Error: no such table: nope\n")
	// a statement without rows prints nothing: the next answer is the query's
	ask("create table t(x integer, y text); insert into t values (7, 'seven');\nselect * from t;\n", "7|seven\n")
}

func TestSessionStatements(t *testing.T) {
	_, addr := start(t, filepath.Join(t.TempDir(), "db.sqlite"))
	in := strings.Join([]string{
		"selec 1;",
		"create table t(x, y);",
		"insert into t values (1, null), (2.5, 'a;b');",
		"select x, y",
		"  from t order by x;",
		"begin; insert into t values (9, 9); rollback;",
		"select count(*) from t;",
		"insert into t values (3, 'r') returning x;",
		"select 'no semicolon at the end'",
	}, "\n")
	want := "Error: near \"selec\": syntax error\n1|\n2.5|a;b\n2\n3\nno semicolon at the end\n"
	if got := session(t, addr, in); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	srv, addr := start(t, path)
	session(t, addr, walkThrough)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	_, addr = start(t, path)
	if got := session(t, addr, "select * from t1;"); got != "1|one\n2|two\n" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	_, addr := start(t, filepath.Join(t.TempDir(), "db.sqlite"))
	session(t, addr, "create table c(n);")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for j := range 20 {
				fmt.Fprintf(&b, "insert into c values (%d);\n", i*100+j)
			}
			b.WriteString("select 'done';\n")
			if got := session(t, addr, b.String()); got != "done\n" {
				t.Errorf("client %d: %q", i, got)
			}
		}()
	}
	// one client holds its connection open while the others write
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wg.Wait()
	if got := session(t, addr, "select count(*) from c;"); got != "160\n" {
		t.Fatalf("count = %q", got)
	}
}

func TestCheck(t *testing.T) {
	_, addr := start(t, filepath.Join(t.TempDir(), "db.sqlite"))
	if err := Check(addr, 5*time.Second); err != nil {
		t.Fatalf("Check(up) = %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln.Addr().String()
	ln.Close()
	if err := Check(free, time.Second); err == nil {
		t.Fatal("Check(nothing listening) = nil")
	}
	if got := localAddr(":12345"); got != "127.0.0.1:12345" {
		t.Fatalf("localAddr = %q", got)
	}
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil { // a folder is not a database
		t.Fatal("Open(folder) = nil error")
	}
}
