package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestServer(t *testing.T, path string) *httptest.Server {
	t.Helper()
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(NewServer(st))
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func decodeItem(t *testing.T, s string) Item {
	t.Helper()
	var it Item
	if err := json.Unmarshal([]byte(s), &it); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return it
}

func listItems(t *testing.T, base string) []Item {
	t.Helper()
	code, body := do(t, "GET", base+"/api/todos", "")
	if code != 200 {
		t.Fatalf("GET /api/todos = %d %s", code, body)
	}
	var items []Item
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return items
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t, filepath.Join(t.TempDir(), "todo.json"))
	code, body := do(t, "GET", ts.URL+"/healthz", "")
	if code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("GET /healthz = %d %q", code, body)
	}
}

func TestAPICreateListPatchDelete(t *testing.T) {
	ts := newTestServer(t, filepath.Join(t.TempDir(), "todo.json"))
	if items := listItems(t, ts.URL); items == nil || len(items) != 0 {
		t.Fatalf("empty list = %#v, want []", items)
	}
	code, body := do(t, "POST", ts.URL+"/api/todos", `{"title":"  buy milk "}`)
	if code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, body)
	}
	milk := decodeItem(t, body)
	if milk.ID != 1 || milk.Title != "buy milk" || milk.Done {
		t.Fatalf("created %+v", milk)
	}
	code, body = do(t, "POST", ts.URL+"/api/todos", `{"title":"write tests"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, body)
	}
	tests := decodeItem(t, body)

	code, body = do(t, "PATCH", ts.URL+"/api/todos/1", `{"done":true}`)
	if code != 200 || !decodeItem(t, body).Done {
		t.Fatalf("PATCH = %d %s", code, body)
	}
	items := listItems(t, ts.URL)
	if len(items) != 2 || !items[0].Done || items[1].Done || items[1].ID != tests.ID {
		t.Fatalf("list after PATCH = %+v", items)
	}
	code, body = do(t, "GET", ts.URL+"/api/todos/2", "")
	if code != 200 || decodeItem(t, body).Title != "write tests" {
		t.Fatalf("GET one = %d %s", code, body)
	}

	if code, body = do(t, "DELETE", ts.URL+"/api/todos/1", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	items = listItems(t, ts.URL)
	if len(items) != 1 || items[0].ID != 2 {
		t.Fatalf("list after DELETE = %+v", items)
	}
	// ids are never reused
	_, body = do(t, "POST", ts.URL+"/api/todos", `{"title":"third"}`)
	if it := decodeItem(t, body); it.ID != 3 {
		t.Fatalf("third item id = %d, want 3", it.ID)
	}
}

func TestAPIErrors(t *testing.T) {
	ts := newTestServer(t, filepath.Join(t.TempDir(), "todo.json"))
	do(t, "POST", ts.URL+"/api/todos", `{"title":"one"}`)
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"empty title", "POST", "/api/todos", `{"title":""}`, 400, "title must not be empty"},
		{"blank title", "POST", "/api/todos", `{"title":"   "}`, 400, "title must not be empty"},
		{"missing title", "POST", "/api/todos", `{}`, 400, "title is required"},
		{"long title", "POST", "/api/todos", `{"title":"` + strings.Repeat("x", MaxTitle+1) + `"}`, 400, "at most"},
		{"no body", "POST", "/api/todos", ``, 400, "empty body"},
		{"bad json", "POST", "/api/todos", `{"title":`, 400, "bad JSON"},
		{"unknown field", "POST", "/api/todos", `{"titel":"x"}`, 400, "unknown field"},
		{"wrong type", "PATCH", "/api/todos/1", `{"done":"yes"}`, 400, "bad JSON"},
		{"empty patch", "PATCH", "/api/todos/1", `{}`, 400, "nothing to change"},
		{"empty title patch", "PATCH", "/api/todos/1", `{"title":""}`, 400, "title must not be empty"},
		{"patch missing", "PATCH", "/api/todos/99", `{"done":true}`, 404, "no such item"},
		{"delete missing", "DELETE", "/api/todos/99", ``, 404, "no such item"},
		{"bad id", "DELETE", "/api/todos/abc", ``, 400, "bad id"},
		{"get missing", "GET", "/api/todos/42", ``, 404, "no such item"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := do(t, c.method, ts.URL+c.path, c.body)
			if code != c.code {
				t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.code)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, c.msg) {
				t.Fatalf("body %q: want a JSON error containing %q (%v)", body, c.msg, err)
			}
		})
	}
	if items := listItems(t, ts.URL); len(items) != 1 || items[0].Title != "one" || items[0].Done {
		t.Fatalf("bad requests changed the items: %+v", items)
	}
	if code, _ := do(t, "PUT", ts.URL+"/api/todos/1", `{}`); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT = %d, want 405", code)
	}
}

func TestPersistedAcrossInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "todo.json") // folder created when missing
	first := newTestServer(t, path)
	do(t, "POST", first.URL+"/api/todos", `{"title":"survive"}`)
	do(t, "POST", first.URL+"/api/todos", `{"title":"tick me"}`)
	do(t, "POST", first.URL+"/api/todos", `{"title":"delete me"}`)
	do(t, "PATCH", first.URL+"/api/todos/2", `{"done":true}`)
	do(t, "DELETE", first.URL+"/api/todos/3", "")
	first.Close()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("data file is not JSON: %s", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	second := newTestServer(t, path)
	items := listItems(t, second.URL)
	if len(items) != 2 || items[0].Title != "survive" || items[0].Done || items[1].Title != "tick me" || !items[1].Done {
		t.Fatalf("items after restart = %+v", items)
	}
	_, body := do(t, "POST", second.URL+"/api/todos", `{"title":"next"}`)
	if it := decodeItem(t, body); it.ID != 4 {
		t.Fatalf("id after restart = %d, want 4 (ids are not reused)", it.ID)
	}
}

func TestCorruptDataFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "todo.json")
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := OpenStore(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenStore(corrupt) = %v, want an error naming the file", err)
	}
}

func TestPageForms(t *testing.T) {
	ts := newTestServer(t, filepath.Join(t.TempDir(), "todo.json"))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		resp, err := noRedirect.PostForm(ts.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/add", url.Values{"title": {"<b>water plants</b>"}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("POST /add = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	post("/add", url.Values{"title": {"feed cat"}})
	if resp := post("/add", url.Values{"title": {""}}); !strings.Contains(resp.Header.Get("Location"), "error=") {
		t.Fatalf("POST /add empty: Location %q, want an error", resp.Header.Get("Location"))
	}
	post("/toggle/1", nil)
	post("/delete/2", nil)

	code, body := do(t, "GET", ts.URL+"/", "")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{`&lt;b&gt;water plants&lt;/b&gt;`, `class="done"`, `action="/add"`, `action="/toggle/1"`, `action="/delete/1"`, "0 of 1 left"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "feed cat") {
		t.Errorf("deleted item still shown")
	}
	if code, _ := do(t, "GET", ts.URL+"/?error=title+must+not+be+empty", ""); code != 200 {
		t.Fatalf("GET /?error = %d", code)
	}
	if code, _ := do(t, "GET", ts.URL+"/nope", ""); code != 404 {
		t.Fatalf("GET /nope = %d, want 404", code)
	}
	if code, _ := do(t, "POST", ts.URL+"/toggle/9", ""); code != 404 {
		t.Fatalf("POST /toggle/9 = %d, want 404", code)
	}
}
