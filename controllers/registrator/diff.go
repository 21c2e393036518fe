package registrator

import (
	"encoding/json"
	"sort"

	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
)

// put is an endpoint to write.
type put struct {
	key      string
	value    string // the endpoint as JSON
	endpoint catalog.Endpoint
	// registered: the key was not written before (not a change of one
	// that was): an endpoint that comes, to report.
	registered bool
}

// deletion is an endpoint to remove.
type deletion struct {
	key         string
	service, id string // from the key
	// gone is the endpoint as it was written, nil when it was not written
	// on this lease (taken over from an earlier one) or does not decode.
	gone *catalog.Endpoint
}

// diff compares the endpoints a host wants with what it wrote (catalog key
// → value, a value of "" for a key it took over and must rewrite) and says
// what to write: the endpoints whose value changed or that are new, in
// want's order, and the keys no endpoint wants any more, sorted. It does
// no I/O.
func diff(host string, written map[string]string, want []catalog.Endpoint) ([]put, []deletion, error) {
	var puts []put
	next := map[string]string{} // key -> the value want puts there
	for _, e := range want {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, nil, err
		}
		key := store.CatalogKey(host, e.Service, e.ID)
		old, had := written[key]
		if v, ok := next[key]; ok {
			old, had = v, true // a second endpoint of the same key: the last wins
		}
		next[key] = string(b)
		if had && old == string(b) {
			continue
		}
		puts = append(puts, put{key: key, value: string(b), endpoint: e, registered: !had})
	}
	var dels []deletion
	for key, value := range written {
		if _, keep := next[key]; keep {
			continue
		}
		d := deletion{key: key}
		_, d.service, d.id, _ = store.ParseCatalogKey(key)
		var gone catalog.Endpoint
		if json.Unmarshal([]byte(value), &gone) == nil {
			d.gone = &gone
		}
		dels = append(dels, d)
	}
	sort.Slice(dels, func(i, j int) bool { return dels[i].key < dels[j].key })
	return puts, dels, nil
}
