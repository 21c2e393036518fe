package cli_test

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// fakeController plays a host's controller: it serves
// /v1/logs/unit/{name} from lines it is given, honouring tail and follow,
// and records the queries it gets.
type fakeController struct {
	srv *httptest.Server

	mu      sync.Mutex
	logs    map[string][]string // by unit name, each line with its newline
	queries []string
	// more receives the lines sent to followers after what logs holds.
	more chan string
	// host, when set, is the host this controller is: it names itself in
	// X-Berth-Host and answers 421 to a request meant for another, as a
	// controller does.
	host string
}

func newFakeController(t *testing.T) *fakeController {
	t.Helper()
	f := &fakeController{logs: map[string][]string{}, more: make(chan string)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/logs/{kind}/{name}", f.serve)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeController) serve(w http.ResponseWriter, r *http.Request) {
	if f.host != "" {
		w.Header().Set(v1.HeaderHost, f.host)
		if want := r.Header.Get(v1.HeaderHost); want != f.host {
			http.Error(w, "this is the controller of host "+f.host+", not of host "+want, http.StatusMisdirectedRequest)
			return
		}
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	lines, ok := f.logs[r.PathValue("name")]
	f.mu.Unlock()
	q := r.URL.Query()
	if !ok || r.PathValue("kind") != "unit" {
		http.Error(w, fmt.Sprintf("no container of unit/%s on host vm", r.PathValue("name")), http.StatusNotFound)
		return
	}
	if v := q.Get("tail"); v != "" {
		n, _ := strconv.Atoi(v)
		lines = lines[max(len(lines)-n, 0):]
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, l := range lines {
		fmt.Fprint(w, l)
	}
	if q.Get("follow") != "true" {
		return
	}
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case l := <-f.more:
			fmt.Fprint(w, l)
			w.(http.Flusher).Flush()
		}
	}
}

func (f *fakeController) setLogs(name string, lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	withNL := make([]string, len(lines))
	for i, l := range lines {
		withNL[i] = l + "\n"
	}
	f.logs[name] = withNL
}

func (f *fakeController) lastQuery() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		return "<none>"
	}
	return f.queries[len(f.queries)-1]
}

func (f *fakeController) addr() string { return f.srv.Listener.Addr().String() }

// addHostAt stores an Up host record whose controller answers at addr.
func (e *env) addHostAt(name, addr string) {
	e.t.Helper()
	e.putJSON(store.HostKey(name), v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost},
		Metadata: v1.ObjectMeta{Name: name}, Status: v1.HostStatus{HTTPAddress: addr, Addresses: []string{"127.0.0.1"}}})
	e.putJSON(store.AliveKey(name), map[string]string{})
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm := newFakeController(t)
	e.addHostAt("vm", vm.addr())
	e.applyDocs(unitDoc("todo"))
	e.setStatus("todo", status("vm", v1.StateRunning, 1, ""))
	vm.setLogs("todo", "one", "two", "three")

	wantEqual(t, "logs", e.ok("logs", "unit", "todo"), "one\ntwo\nthree\n")
	wantEqual(t, "query", vm.lastQuery(), "")
	wantEqual(t, "logs --tail 2", e.ok("logs", "unit/todo", "--tail", "2"), "two\nthree\n")
	wantEqual(t, "query", vm.lastQuery(), "tail=2")
	e.ok("logs", "unit", "todo", "--since", "10m", "--timestamps", "--host", "vm")
	wantEqual(t, "query", vm.lastQuery(), "since=10m&timestamps=true")
	e.ok("logs", "unit", "todo", "--since", "2026-11-26T07:52:29Z")
	wantEqual(t, "query", vm.lastQuery(), "since=2026-11-26T07%3A52%3A29Z")
}

func TestLogsSeveralHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm, vm2 := newFakeController(t), newFakeController(t)
	e.addHostAt("vm", vm.addr())
	// A controller listening on every address is reached on the host's address.
	_, port, _ := net.SplitHostPort(vm2.addr())
	e.addHostAt("vm2", ":"+port)
	e.applyDocs(unitDoc("todo"))
	e.setStatus("todo", status("vm", v1.StateRunning, 1, ""))
	e.setStatus("todo", status("vm2", v1.StateRunning, 1, ""))
	vm.setLogs("todo", "a1", "a2")
	vm2.setLogs("todo", "b1", "b2")

	lines := strings.Split(strings.TrimSuffix(e.ok("logs", "unit", "todo"), "\n"), "\n")
	slices.Sort(lines)
	wantEqual(t, "merged", strings.Join(lines, "\n"), "[vm2] b1\n[vm2] b2\n[vm] a1\n[vm] a2")
	wantEqual(t, "--host vm2", e.ok("logs", "unit", "todo", "--host", "vm2"), "b1\nb2\n")
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm := newFakeController(t)
	e.addHostAt("vm", vm.addr())
	e.applyDocs(unitDoc("todo"))
	e.setStatus("todo", status("vm", v1.StateRunning, 1, ""))
	vm.setLogs("todo", "before")

	r := e.start("", "logs", "unit", "todo", "-f")
	r.out.waitFor(t, "before\n")
	select {
	case vm.more <- "after\n":
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f is not following")
	}
	r.out.waitFor(t, "before\nafter\n")
	if !r.running() {
		t.Fatalf("logs -f ended:\n%s%s", r.out, r.err)
	}
	r.cancel() // interrupted
	if code := r.exit(); code != 0 || r.err.String() != "" {
		t.Errorf("interrupted logs -f: exit %d, stderr %q", code, r.err)
	}
	wantEqual(t, "query", vm.lastQuery(), "follow=true")
}

func TestLogsErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm := newFakeController(t)
	vm.host = "vm"
	down := closedAddr(t)
	e.addHostAt("vm", vm.addr())
	e.addHostAt("gone", down)
	e.addHostAt("far", vm.addr()) // a host on another machine, at the same loopback address
	e.applyDocs(unitDoc("todo"), unitDoc("idle"), unitDoc("elsewhere"), unitDoc("nocontainer"), unitDoc("stray"))
	e.setStatus("todo", status("vm", v1.StateRunning, 1, ""))
	e.setStatus("elsewhere", status("gone", v1.StateRunning, 1, ""))
	e.setStatus("nocontainer", status("vm", v1.StatePullingImage, 1, ""))
	e.setStatus("stray", status("far", v1.StateRunning, 1, ""))
	vm.setLogs("todo", "x")
	vm.setLogs("stray", "vm's own line")
	const elsewhere = " (a loopback address reaches this machine only: if host %s's controller runs on another machine, give it a --listen address this machine can reach)\n"

	for _, tc := range []struct {
		args []string
		code int
		err  string // stderr, or its start
	}{
		{[]string{"logs", "unit", "nope"}, 1, "Error: unit \"nope\" not found\n"},
		{[]string{"logs", "unit", "idle"}, 1, "Error: unit \"idle\" has no instance\n"},
		{[]string{"logs", "unit", "todo", "--host", "vm2"}, 1, "Error: unit \"todo\" has no instance on host vm2\n"},
		{[]string{"logs", "unit", "elsewhere"}, 1, "Error: host gone (" + down + ") did not answer: dial tcp " + down + ": connect: connection refused\n"},
		{[]string{"logs", "unit", "stray"}, 1, "Error: host far is unreachable from here: its host record gives " + vm.addr() +
			", where host vm's controller answers" + fmt.Sprintf(elsewhere, "far")},
		{[]string{"logs", "unit", "nocontainer"}, 1, "Error: host vm (" + vm.addr() + "): no container of unit/nocontainer on host vm\n"},
		{[]string{"logs", "unit", "todo", "--since", "yesterday"}, 2, "Error: --since yesterday: want a duration such as 10m or an RFC 3339 time\n"},
		{[]string{"logs", "job", "todo"}, 2, "Error: logs is for units and timers, not jobs\n"},
	} {
		r := e.run("", tc.args...)
		if r.code != tc.code || !strings.HasPrefix(r.err, tc.err) || r.out != "" {
			t.Errorf("applyctl %s: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", strings.Join(tc.args, " "), r.code, r.out, r.err, tc.code, tc.err)
		}
	}
}

// TestLogsTLSAndToken: a host whose record says https is read over TLS,
// trusting --api-cacert, with the token of --api-token-file; a 403 says
// which flag is missing, and no error repeats a token.
func TestLogsTLSAndToken(t *testing.T) {
	t.Parallel()
	const token = "cli-T0ken"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/logs/unit/{name}", func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer " + token:
			fmt.Fprintln(w, "secret line")
		case "":
			http.Error(w, "Permission denied: this API needs a token", http.StatusForbidden)
		default:
			http.Error(w, "Permission denied: the token sent is not this controller's --api-token-file token", http.StatusForbidden)
		}
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	tokenFile := write("token", []byte(token+"\n"))
	wrongFile := write("wrong", []byte("guessed\n"))
	emptyFile := write("empty", []byte("\n"))

	e := newEnv(t)
	e.putJSON(store.HostKey("vm"), v1.Host{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindHost},
		Metadata: v1.ObjectMeta{Name: "vm"}, Status: v1.HostStatus{HTTPAddress: srv.Listener.Addr().String(), HTTPScheme: "https"}})
	e.putJSON(store.AliveKey("vm"), map[string]string{})
	e.applyDocs(unitDoc("todo"))
	e.setStatus("todo", status("vm", v1.StateRunning, 1, ""))

	wantEqual(t, "logs with the token and the CA", e.ok("--api-token-file", tokenFile, "--api-cacert", ca, "logs", "unit", "todo"), "secret line\n")
	for _, tc := range []struct {
		args []string
		err  string // stderr, or its start
	}{
		{[]string{"--api-cacert", ca}, "Error: host vm refused: a token is required (--api-token-file)\n"},
		{[]string{"--api-cacert", ca, "--api-token-file", wrongFile}, "Error: host vm refused the token of --api-token-file " + wrongFile + "\n"},
		{[]string{"--api-token-file", tokenFile}, "Error: host vm (" + srv.Listener.Addr().String() + ") did not answer: tls: failed to verify certificate: x509: certificate signed by unknown authority (give the CA of its certificate with --api-cacert)\n"},
		{[]string{"--api-cacert", ca, "--api-token-file", emptyFile}, "Error: --api-token-file " + emptyFile + ": the file is empty; it should hold the controllers' token\n"},
		{[]string{"--api-cacert", tokenFile}, "Error: --api-cacert " + tokenFile + ": no PEM certificate in it\n"},
		{[]string{"--api-cacert", filepath.Join(dir, "missing.pem")}, "Error: --api-cacert: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory\n"},
	} {
		r := e.run("", append(tc.args, "logs", "unit", "todo")...)
		if r.code != 1 || r.err != tc.err || r.out != "" {
			t.Errorf("applyctl %s logs unit todo: exit %d, stdout %q, stderr %q; want exit 1, stderr %q", strings.Join(tc.args, " "), r.code, r.out, r.err, tc.err)
		}
		if strings.Contains(r.err, token) || strings.Contains(r.err, "guessed") {
			t.Errorf("applyctl %s: stderr repeats a token: %q", strings.Join(tc.args, " "), r.err)
		}
	}
	// status shows the logs the same way.
	if out := e.ok("--api-token-file", tokenFile, "--api-cacert", ca, "status", "unit", "todo"); !strings.Contains(out, "secret line") {
		t.Errorf("status with the token: no log line:\n%s", out)
	}
	if out := e.ok("--api-cacert", ca, "status", "unit", "todo"); !strings.Contains(out, "(logs unavailable: host vm refused: a token is required (--api-token-file))") {
		t.Errorf("status without the token: no refusal in place of the logs:\n%s", out)
	}
}
