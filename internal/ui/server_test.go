package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// dashboard serves a Server over a fresh embedded etcd; mayWrite says
// whether requests may write, as the API's rules would.
type dashboard struct {
	t   testing.TB
	st  *store.Store
	srv *httptest.Server
	s   *Server
}

func newDashboard(t testing.TB, mayWrite bool) *dashboard {
	t.Helper()
	st := testenv.EtcdStore(t)
	s := New(st, Options{Host: "h1", MayWrite: func(*http.Request) bool { return mayWrite }})
	s.hub.linger = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &dashboard{t: t, st: st, srv: srv, s: s}
}

func (d *dashboard) apply(objs ...v1.Object) {
	d.t.Helper()
	for _, o := range objs {
		v1.Default(o)
	}
	if _, err := store.Apply(context.Background(), d.st, objs, store.ApplyOptions{}); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dashboard) put(key string, v any) {
	d.t.Helper()
	b, _ := json.Marshal(v)
	if _, err := d.st.Put(context.Background(), key, b, 0); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dashboard) do(method, path, body string, header map[string]string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.srv.URL+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// streamMsg is one message of the stream, decoded.
type streamMsg struct {
	Type string `json:"type"`
	Rows []struct {
		Kind, Name string
		Row        json.RawMessage
	} `json:"rows"`
	Deleted []struct{ Kind, Name string } `json:"deleted"`
}

// openStream reads the stream's messages into a channel until the test ends.
func (d *dashboard) openStream() <-chan streamMsg {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", d.srv.URL+"/ui/api/stream", nil)
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		d.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan streamMsg, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m streamMsg
			if json.Unmarshal([]byte(line), &m) == nil {
				out <- m
			}
		}
	}()
	return out
}

// waitRow waits for a message carrying kind/name whose row satisfies ok.
func waitRow[T any](t testing.TB, msgs <-chan streamMsg, kind, name string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			for _, r := range m.Rows {
				if r.Kind != kind || r.Name != name {
					continue
				}
				var v T
				if err := json.Unmarshal(r.Row, &v); err != nil {
					t.Fatal(err)
				}
				if ok(v) {
					return v
				}
			}
		case <-deadline:
			t.Fatalf("no row %s/%s as wanted within 10s", kind, name)
		}
	}
}

func TestStreamFollowsTheStore(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, false)
	d.apply(testUnit("web"))
	d.put(store.HostKey("h1"), v1.Host{})
	d.put(store.AliveKey("h1"), map[string]string{})

	msgs := d.openStream()
	snap := <-msgs
	if snap.Type != "snapshot" {
		t.Fatalf("the stream starts with %q, want a snapshot", snap.Type)
	}
	if len(snap.Rows) == 0 {
		t.Fatal("an empty snapshot")
	}
	inSnap := false
	for _, r := range snap.Rows {
		inSnap = inSnap || (r.Kind == rowUnit && r.Name == "web")
	}
	if !inSnap {
		t.Errorf("the snapshot lacks unit/web: %+v", snap.Rows)
	}

	d.put(store.StatusKey(v1.KindUnit, "web", "h1"), v1.InstanceStatus{State: v1.StateRunning, Restarts: 3})
	waitRow(t, msgs, rowUnit, "web", func(u unitRow) bool {
		return len(u.Instances) == 1 && u.Instances[0].State == v1.StateRunning && u.Instances[0].Restarts == 3
	})
	if _, err := d.st.Delete(context.Background(), store.AliveKey("h1")); err != nil {
		t.Fatal(err)
	}
	waitRow(t, msgs, rowUnit, "web", func(u unitRow) bool {
		return len(u.Instances) == 1 && u.Instances[0].State == v1.StateUnknown
	})
	if err := store.DeleteObject(context.Background(), d.st, v1.KindUnit, "web"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for deleted := false; !deleted; {
		select {
		case m := <-msgs:
			for _, x := range m.Deleted {
				deleted = deleted || (x.Kind == rowUnit && x.Name == "web")
			}
		case <-deadline:
			t.Fatal("the deleted unit was not reported deleted")
		}
	}
}

// A server that shuts down ends the streams, which would otherwise hold
// it until its deadline, and takes no new one.
func TestCloseStreams(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, false)
	msgs := d.openStream()
	<-msgs // the snapshot
	d.s.CloseStreams()
	select {
	case _, open := <-msgs:
		for open {
			_, open = <-msgs
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream still runs after CloseStreams")
	}
	if code, body := d.do("GET", "/ui/api/stream", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("a stream after CloseStreams: %d %s", code, body)
	}
}

func TestCachesRunWhileSomeoneLooks(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, false)
	running := func() bool {
		d.s.hub.mu.Lock()
		defer d.s.hub.mu.Unlock()
		return d.s.hub.cancel != nil
	}
	if running() {
		t.Fatal("the caches run before anyone looks")
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", d.srv.URL+"/ui/api/stream", nil)
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if !running() {
		t.Error("the caches do not run while a stream is open")
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for running() {
		if time.Now().After(deadline) {
			t.Fatal("the caches still run after the last stream ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPageAndDetail(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, false)
	d.apply(testUnit("web"))
	code, body := d.do("GET", "/ui/", "", nil)
	if code != 200 || !strings.Contains(body, `<script src="static/app.js"`) {
		t.Fatalf("GET /ui/: %d %.200s", code, body)
	}
	resp, err := http.Get(d.srv.URL + "/ui/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("app.js: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	code, body = d.do("GET", "/ui/api/object/unit/web", "", nil)
	var doc struct {
		Row      unitRow
		YAML     string
		Redacted bool
	}
	if code != 200 || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("detail: %d %s", code, body)
	}
	if doc.Row.Name != "web" || !doc.Redacted || strings.Contains(body, "hunter2") || !strings.Contains(doc.YAML, "value: '[redacted]'") {
		t.Errorf("detail without the token: %s", body)
	}
	if code, body := d.do("GET", "/ui/api/object/unit/nope", "", nil); code != 404 || !strings.Contains(body, `unit \"nope\" not found`) {
		t.Errorf("detail of a missing unit: %d %s", code, body)
	}
	if code, body := d.do("GET", "/ui/api/object/secret/x", "", nil); code != 400 {
		t.Errorf("detail of an unknown kind: %d %s", code, body)
	}
}

func TestActions(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, true)
	db := testUnit("db")
	web := testUnit("web")
	web.Spec.Requires = []string{"db"}
	d.apply(db, web)
	jsonHdr := map[string]string{"Content-Type": "application/json"}

	code, body := d.do("POST", "/ui/api/unit/db/stop", "{}", jsonHdr)
	if code != 200 || body != `{"lines":["unit/db stopped","unit/web stopped (requires db)"]}`+"\n" {
		t.Fatalf("stop: %d %s", code, body)
	}
	o, err := store.GetObject(context.Background(), d.st, v1.KindUnit, "web")
	if err != nil || o.(*v1.Unit).Spec.Goal != v1.GoalStop {
		t.Fatalf("web after stopping db: %v %v", o, err)
	}

	rev, _ := d.st.Revision(context.Background())
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		code   int
		want   string
	}{
		{"not JSON", "/ui/api/unit/db/start", map[string]string{"Content-Type": "text/plain"}, 403, "JSON request"},
		{"another origin", "/ui/api/unit/db/start", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "not from http://evil.example"},
		{"another site", "/ui/api/unit/db/start", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "cross-site"},
		{"a unit that does not exist", "/ui/api/unit/nope/start", jsonHdr, 404, `unit \"nope\" not found`},
		{"an unknown verb", "/ui/api/unit/db/kill", jsonHdr, 400, "use start, stop or restart"},
		{"a job verb without host", "/ui/api/job/nc/deploy", jsonHdr, 400, "host is required"},
	} {
		code, body := d.do("POST", tc.path, "{}", tc.header)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if after, _ := d.st.Revision(context.Background()); after != rev {
		t.Errorf("refused actions wrote: revision %d -> %d", rev, after)
	}

	// Without a token, a page reached under a name (which an attacker's
	// DNS may point at loopback) gets no action.
	req, _ := http.NewRequest("POST", d.srv.URL+"/ui/api/unit/db/start", strings.NewReader("{}"))
	req.Host = "rebound.example"
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an action under Host rebound.example: %d, want 403", resp.StatusCode)
	}
	if after, _ := d.st.Revision(context.Background()); after != rev {
		t.Errorf("a refused action wrote: revision %d -> %d", rev, after)
	}

	ro := newDashboard(t, false)
	ro.apply(testUnit("db"))
	if code, body := ro.do("POST", "/ui/api/unit/db/stop", "{}", jsonHdr); code != 403 || !strings.Contains(body, "may not change objects") {
		t.Errorf("an action of a request that may not write: %d %s", code, body)
	}
	code, body = ro.do("GET", "/ui/api/session", "", nil)
	if code != 200 || !strings.Contains(body, `"mayWrite":false`) || !strings.Contains(body, `"storeWritable":true`) {
		t.Errorf("session: %d %s", code, body)
	}
}

// A controller whose etcd user may write its own keys only (a host's
// role) offers no action and takes none, whoever asks.
func TestActionsNeedAnEtcdUserThatWritesObjects(t *testing.T) {
	t.Parallel()
	endpoints := testenv.Etcd(t)
	root := testenv.NewStore(t, store.Config{Endpoints: endpoints})
	u := testUnit("db")
	v1.Default(u)
	if _, err := store.Apply(context.Background(), root, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st := testenv.NewStore(t, testenv.EtcdUser(t, endpoints, "h1", store.HostStatusPrefix("h1")))
	s := New(st, Options{Host: "h1", MayWrite: func(*http.Request) bool { return true }})
	srv := httptest.NewServer(s)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ui/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var doc sessionDoc
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || !doc.MayWrite || doc.StoreWritable || !strings.Contains(doc.StoreWhy, "may not write objects") {
		t.Errorf("session of a host's etcd user: %+v %v", doc, err)
	}
	resp, err = http.Post(srv.URL+"/ui/api/unit/db/stop", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "etcd user may not write objects") {
		t.Errorf("stop through a host's etcd user: %d %s", resp.StatusCode, body)
	}
}

func TestJobActions(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, true)
	j := &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}}
	j.Metadata.Name = "nc"
	j.Spec.Version = "1"
	j.Spec.Container.Image = "nc:1"
	d.apply(j)
	hdr := map[string]string{"Content-Type": "application/json"}
	for _, step := range []struct{ path, body, want string }{
		{"/ui/api/job/nc/deploy", `{"host":"h1"}`, `{"lines":["job/nc deployed to h1"]}`},
		{"/ui/api/job/nc/stop", `{"host":"h1"}`, `{"lines":["job/nc stopped on h1"]}`},
		{"/ui/api/job/nc/undeploy", `{"host":"h1"}`, `{"lines":["job/nc undeployed from h1"]}`},
	} {
		if code, body := d.do("POST", step.path, step.body, hdr); code != 200 || body != step.want+"\n" {
			t.Errorf("%s: %d %s, want %s", step.path, code, body, step.want)
		}
	}
	if code, body := d.do("POST", "/ui/api/job/nc/deploy", `{"host":"Bad Host"}`, hdr); code != 400 || !strings.Contains(body, "host") {
		t.Errorf("deploy to a bad host name: %d %s", code, body)
	}
}

func TestAddressHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8500": true, "[::1]:8500": true, "localhost:8500": true, "10.0.0.1": true,
		"evil.example:8500": false, "berth.local": false,
	} {
		if got := addressHost(host); got != want {
			t.Errorf("addressHost(%q) = %v, want %v", host, got, want)
		}
	}
}
