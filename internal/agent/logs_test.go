package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// logsServer serves LogsHandler for host-a over a fake engine holding a
// running container of unit/todo, and one of unit/other on host-b.
func logsServer(t *testing.T) (*httptest.Server, *fake.Runtime, string) {
	t.Helper()
	ctx := context.Background()
	rt := fake.New()
	rt.AddImage("todo:1")
	newContainer := func(name, host string) string {
		id, err := rt.Create(ctx, runtime.ContainerSpec{Name: "berth-unit-" + name + "-" + host, Image: "todo:1",
			Labels: map[string]string{v1.LabelHost: host, v1.LabelKind: v1.KindUnit, v1.LabelName: name}})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := newContainer("todo", "host-a")
	newContainer("other", "host-b")
	mux := http.NewServeMux()
	mux.Handle("GET /v1/logs/{kind}/{name}", LogsHandler(rt, "host-a"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rt, id
}

func getLogs(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestLogsHandler(t *testing.T) {
	t.Parallel()
	srv, rt, id := logsServer(t)
	if err := rt.WriteLogs(id, "one\ntwo\nthree\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		code        int
		want        string // the body, or a part of it for errors
	}{
		{"all", "", 200, "one\ntwo\nthree\n"},
		{"tail", "?tail=2", 200, "two\nthree\n"},
		{"tail all", "?tail=all", 200, "one\ntwo\nthree\n"},
		{"tail 0", "?tail=0", 200, ""},
		{"since a duration ago", "?since=1h", 200, "one\ntwo\nthree\n"},
		{"since a time to come", "?since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 200, ""},
		{"bad tail", "?tail=-3", 400, "tail=-3: want a number of lines"},
		{"bad since", "?since=yesterday", 400, "since=yesterday: want an RFC 3339 time"},
		{"bad follow", "?follow=maybe", 400, "follow=maybe: want true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := getLogs(t, srv.URL+"/v1/logs/unit/todo"+tc.query)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if ctype != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ctype)
			}
			if tc.code == 200 && body != tc.want || tc.code != 200 && !strings.Contains(body, tc.want) {
				t.Errorf("body %q, want %q", body, tc.want)
			}
		})
	}

	code, _, body := getLogs(t, srv.URL+"/v1/logs/unit/todo?timestamps=true&tail=1")
	if ts, line, _ := strings.Cut(body, " "); code != 200 || line != "three\n" || !parses(ts) {
		t.Errorf("timestamps: %d %q", code, body)
	}
	for _, tc := range []struct{ path, want string }{
		{"/v1/logs/unit/nope", "no container of unit/nope on host host-a\n"},
		{"/v1/logs/unit/other", "no container of unit/other on host host-a\n"}, // another host's
		{"/v1/logs/job/todo", "no container of job/todo on host host-a\n"},
	} {
		if code, _, body := getLogs(t, srv.URL+tc.path); code != 404 || body != tc.want {
			t.Errorf("GET %s: %d %q, want 404 %q", tc.path, code, body, tc.want)
		}
	}
	if code, _, body := getLogs(t, srv.URL+"/v1/logs/service/todo"); code != 400 || !strings.Contains(body, `unsupported kind "service"`) {
		t.Errorf("bad kind: %d %q", code, body)
	}
	rt.SetAvailable(false)
	if code, _, body := getLogs(t, srv.URL+"/v1/logs/unit/todo"); code != 503 {
		t.Errorf("engine down: %d %q, want 503", code, body)
	}
}

// TestLogsHandlerMisdirected: a request naming another host in
// X-Berth-Host gets 421 and no logs; one naming this host, or none, gets
// them; every answer names the host that gave it.
func TestLogsHandlerMisdirected(t *testing.T) {
	t.Parallel()
	srv, rt, id := logsServer(t)
	if err := rt.WriteLogs(id, "host-a's line\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host string
		code       int
		body       string
	}{
		{"this host", "host-a", 200, "host-a's line\n"},
		{"no host named", "", 200, "host-a's line\n"},
		{"another host", "host-b", 421, "this is the controller of host host-a, not of host host-b\n"},
		{"a host that runs the same unit elsewhere", "host-c", 421, "this is the controller of host host-a, not of host host-c\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/logs/unit/todo", nil)
			if tc.host != "" {
				req.Header.Set(v1.HeaderHost, tc.host)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || string(b) != tc.body {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, b, tc.code, tc.body)
			}
			if got := resp.Header.Get(v1.HeaderHost); got != "host-a" {
				t.Errorf("%s: %q, want host-a", v1.HeaderHost, got)
			}
		})
	}
}

func parses(ts string) bool {
	_, err := time.Parse(time.RFC3339Nano, ts)
	return err == nil
}

func TestLogsHandlerFollow(t *testing.T) {
	t.Parallel()
	srv, rt, id := logsServer(t)
	if err := rt.WriteLogs(id, "before\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/logs/unit/todo?follow=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no line within 10s")
		}
		return ""
	}
	if l := next(); l != "before" {
		t.Fatalf("first line %q", l)
	}
	// Written after the request started: it arrives.
	if err := rt.WriteLogs(id, "after\n"); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "after" {
		t.Fatalf("followed line %q", l)
	}
	// The client goes away: the stream ends.
	cancel()
	select {
	case _, ok := <-lines:
		for ok {
			_, ok = <-lines
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after the client went away")
	}
}

func TestLogContainer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		cs   []runtime.Container
		want string
	}{
		{"none", nil, ""},
		{"one", []runtime.Container{{ID: "a", State: runtime.StateExited}}, "a"},
		{"running first", []runtime.Container{{ID: "a", State: runtime.StateExited, Created: t0.Add(time.Hour)}, {ID: "b", State: runtime.StateRunning, Created: t0}}, "b"},
		{"latest", []runtime.Container{{ID: "a", State: runtime.StateExited, Created: t0}, {ID: "b", State: runtime.StateExited, Created: t0.Add(time.Hour)}}, "b"},
		{"latest running", []runtime.Container{{ID: "a", State: runtime.StateRunning, Created: t0.Add(time.Hour)}, {ID: "b", State: runtime.StateRunning, Created: t0}}, "a"},
	} {
		c, ok := logContainer(tc.cs)
		if ok != (tc.want != "") || c.ID != tc.want {
			t.Errorf("%s: got %q %v, want %q", tc.name, c.ID, ok, tc.want)
		}
	}
}

// TestLogsOfARunningUnit runs the controller on the fake engine: the Unit
// it starts has its logs at /v1/logs/unit/<name> on --listen.
func TestLogsOfARunningUnit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EtcdEndpoints = testenv.Etcd(t)
	rt := fake.New()
	rt.AddImage("todo:1")
	cfg.Runtime = rt
	s := testenv.NewStore(t, store.Config{Endpoints: cfg.EtcdEndpoints})
	start(t, cfg)
	u := v1.New(v1.KindUnit).(*v1.Unit)
	u.Metadata.Name = "todo"
	u.Spec.Container.Image = "todo:1"
	u.Spec.Placement.Hosts = []string{"host-a"}
	v1.Default(u)
	ctx := context.Background()
	if _, err := store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var id string
	eventually(t, 20*time.Second, "the unit's container runs", func() (bool, string) {
		cs, err := rt.List(ctx, runtime.ListOptions{Labels: map[string]string{v1.LabelName: "todo"}})
		if err != nil || len(cs) != 1 {
			return false, fmt.Sprint(cs, err)
		}
		id = cs[0].ID
		return true, ""
	})
	if err := rt.WriteLogs(id, "listening on :8000\nGET /\n"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + cfg.Listen + "/v1/logs/unit/"
	if code, body := get(base + "todo?tail=1"); code != 200 || body != "GET /\n" {
		t.Errorf("logs: %d %q", code, body)
	}
	if code, body := get(base + "nope"); code != 404 || body != "no container of unit/nope on host host-a\n" {
		t.Errorf("logs of a unit without a container: %d %q", code, body)
	}
}
