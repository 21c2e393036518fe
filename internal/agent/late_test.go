package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLateHandler(t *testing.T) {
	t.Parallel()
	l := newLateHandler("the service catalog is loading")
	serve := func() *http.Response {
		w := httptest.NewRecorder()
		l.ServeHTTP(w, httptest.NewRequest("PUT", "/v1/agent/service/register", nil))
		return w.Result()
	}
	body := func(r *http.Response) string { b, _ := io.ReadAll(r.Body); return string(b) }

	r := serve()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" ||
		body(r) != "berth is starting: the service catalog is loading; retry in 1s\n" ||
		r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("before start: %d, Retry-After %q, %q, want 503 with Retry-After 1 saying what is starting",
			r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"))
	}
	if l.started() {
		t.Error("started before start")
	}

	l.start(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "first") }))
	l.start(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "second") }))
	r = serve()
	if got := body(r); r.StatusCode != http.StatusOK || got != "first" || r.Header.Get("Retry-After") != "" {
		t.Errorf("after start: %d %q, Retry-After %q; want the first handler's answer", r.StatusCode, got, r.Header.Get("Retry-After"))
	}
	if !l.started() {
		t.Error("not started after start")
	}
}
