package registrator

import (
	"encoding/json"
	"reflect"
	"testing"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	ep := func(svc, id string, port int) catalog.Endpoint {
		return catalog.Endpoint{ID: id, Service: svc, Host: "h1", Address: "10.0.0.1", Port: port, Source: catalog.SourceContainer}
	}
	val := func(e catalog.Endpoint) string { b, _ := json.Marshal(e); return string(b) }
	key := func(e catalog.Endpoint) string { return store.CatalogKey("h1", e.Service, e.ID) }
	a, b, c := ep("web", "h1:web:80", 31000), ep("web", "h1:web2:80", 31001), ep("db", "h1:db:5432", 31002)
	a2 := a
	a2.Port = 31010
	for _, tc := range []struct {
		name    string
		written map[string]string
		want    []catalog.Endpoint
		puts    []put
		dels    []deletion
	}{
		{name: "nothing yet: each endpoint registered, in want's order",
			want: []catalog.Endpoint{b, a},
			puts: []put{{key(b), val(b), b, true}, {key(a), val(a), a, true}}},
		{name: "as written: nothing to do",
			written: map[string]string{key(a): val(a), key(b): val(b)},
			want:    []catalog.Endpoint{a, b}},
		{name: "a changed endpoint is rewritten, not registered again",
			written: map[string]string{key(a): val(a), key(b): val(b)},
			want:    []catalog.Endpoint{a2, b},
			puts:    []put{{key(a), val(a2), a2, false}}},
		{name: "one no longer wanted is deleted, with what it was",
			written: map[string]string{key(a): val(a), key(b): val(b)},
			want:    []catalog.Endpoint{b},
			dels:    []deletion{{key(a), "web", "h1:web:80", &a}}},
		{name: "taken over from an earlier lease: rewritten if wanted, without a Registered; deleted if not, without a Deregistered",
			written: map[string]string{key(a): "", key(c): ""},
			want:    []catalog.Endpoint{a},
			puts:    []put{{key(a), val(a), a, false}},
			dels:    []deletion{{key(c), "db", "h1:db:5432", nil}}},
		{name: "deletions in key order",
			written: map[string]string{key(a): val(a), key(b): val(b), key(c): val(c)},
			dels:    []deletion{{key(c), "db", "h1:db:5432", &c}, {key(b), "web", "h1:web2:80", &b}, {key(a), "web", "h1:web:80", &a}}},
		{name: "two endpoints of one key: both put, the last wins",
			want: []catalog.Endpoint{a, a2},
			puts: []put{{key(a), val(a), a, true}, {key(a), val(a2), a2, false}}},
		{name: "two of one key, the last as written: the first is put, then the last again",
			written: map[string]string{key(a): val(a2)},
			want:    []catalog.Endpoint{a, a2},
			puts:    []put{{key(a), val(a), a, false}, {key(a), val(a2), a2, false}}},
	} {
		puts, dels, err := diff("h1", tc.written, tc.want)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(puts, tc.puts) || !reflect.DeepEqual(dels, tc.dels) {
			t.Errorf("%s:\nputs %+v\ndels %+v\nwant\nputs %+v\ndels %+v", tc.name, puts, dels, tc.puts, tc.dels)
		}
	}
}
