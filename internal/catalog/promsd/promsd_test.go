package promsd

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

func testCatalog() *catalog.Memory {
	m := catalog.NewMemory()
	m.PutNode(catalog.Node{Name: "node-a", Address: "10.0.0.1", Up: true, HTTPAddress: "0.0.0.0:8500"}, 1)
	m.PutNode(catalog.Node{Name: "node-b", Address: "10.0.0.2", Up: true, HTTPAddress: "10.0.0.2:8500", HTTPScheme: "https"}, 2)
	m.PutNode(catalog.Node{Name: "node-c", Address: "10.0.0.3", Up: false, HTTPAddress: "10.0.0.3:8500"}, 3)
	put := func(e catalog.Endpoint, rev int64) { m.PutEndpoint(e, rev) }
	put(catalog.Endpoint{ID: "a1", Service: "web", Host: "node-a", Address: "10.0.0.1", Port: 20001, Tags: []string{"http", "v2"}, Meta: map[string]string{"version": "2", "team.name": "x"}}, 4)
	put(catalog.Endpoint{ID: "a2", Service: "web", Host: "node-a", Address: "10.0.0.1", Port: 20002, Tags: []string{"http", "v2"}, Meta: map[string]string{"version": "2", "team.name": "x"}}, 5)
	put(catalog.Endpoint{ID: "b1", Service: "web", Host: "node-b", Address: "10.0.0.2", Port: 20001, Tags: []string{"http"}}, 6)
	put(catalog.Endpoint{ID: "b2", Service: "web", Host: "node-b", Address: "10.0.0.2", Port: 20002, Tags: []string{"http"},
		Checks: []catalog.Check{{ID: "c", Type: catalog.CheckHTTP, Status: v1.CheckCritical}}}, 7)
	put(catalog.Endpoint{ID: "d1", Service: "db", Host: "node-b", Address: "10.0.0.2", Port: 5432}, 8)
	return m
}

func TestTargets(t *testing.T) {
	web := []Group{
		{Targets: []string{"10.0.0.1:20001", "10.0.0.1:20002"}, Labels: map[string]string{
			LabelService: "web", LabelHost: "node-a", LabelTags: ",http,v2,",
			"__meta_berth_meta_version": "2", "__meta_berth_meta_team_name": "x"}},
		{Targets: []string{"10.0.0.2:20001"}, Labels: map[string]string{LabelService: "web", LabelHost: "node-b", LabelTags: ",http,"}},
	}
	db := Group{Targets: []string{"10.0.0.2:5432"}, Labels: map[string]string{LabelService: "db", LabelHost: "node-b", LabelTags: ",,"}}
	controllers := []Group{
		{Targets: []string{"10.0.0.1:8500"}, Labels: map[string]string{LabelService: "berth", LabelHost: "node-a"}},
		{Targets: []string{"10.0.0.2:8500"}, Labels: map[string]string{LabelService: "berth", LabelHost: "node-b", "__scheme__": "https"}},
	}
	tests := []struct {
		name   string
		filter Filter
		want   []Group
	}{
		{"everything: passing endpoints by host, then Up controllers", Filter{}, append(append([]Group{db}, web...), controllers...)},
		{"one service", Filter{Services: []string{"web"}}, web},
		{"controllers only", Filter{Services: []string{"berth"}}, controllers},
		{"by tag", Filter{Tags: []string{"v2"}}, web[:1]},
		{"two tags, one missing", Filter{Tags: []string{"v2", "nope"}}, []Group{}},
		{"unknown service", Filter{Services: []string{"nope"}}, []Group{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Targets(testCatalog(), tt.filter)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, testCatalog())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", Path+"?service=db&tag=", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got []Group
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Targets[0] != "10.0.0.2:5432" {
		t.Errorf("got %+v", got)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", Path+"?service=nope", nil))
	if body := rec.Body.String(); body != "[]\n" {
		t.Errorf("no match: body %q, want []", body)
	}
}
