package gc

import (
	"maps"
	"slices"
	"strings"

	"berth.dev/berth/internal/store"
)

// deletion is a key to delete while its owner is absent: the object's key,
// or a host's heartbeat.
type deletion struct {
	key, owner string
	why        string
	// forgets is the host whose record this deletion removes, "" for any
	// other key.
	forgets string
}

// garbage decides, from one read of keys (objects, bindings, events,
// statuses, history and Jobs' version records, as many of those as the
// caller read) and the hosts to forget, what to delete, in order: bindings
// and events of objects that are gone; statuses and history of objects
// that are gone or of hosts to forget; version records of Jobs that are
// gone; last the records of the hosts to forget. Keys it does not know
// are left alone. It does no I/O.
func garbage(keys []string, gone map[string]bool) []deletion {
	objects := map[string]bool{} // "unit/name"
	for _, k := range keys {
		if kind, name, ok := store.ParseObjectKey(k); ok {
			objects[kind+"/"+name] = true
		}
	}
	ofObject := func(key, kind, name string) deletion {
		return deletion{key: key, owner: store.ObjectKey(kind, name), why: "object " + kind + "/" + name + " deleted"}
	}
	var owned, onHosts, records []deletion
	for _, k := range keys {
		if kind, name, ok := parseObjectOwned(k); ok && !objects[kind+"/"+owner(name)] {
			owned = append(owned, ofObject(k, kind, owner(name)))
		}
		if kind, name, host, ok := parseHostOwned(k); ok {
			name = owner(name)
			switch {
			case gone[host]:
				onHosts = append(onHosts, deletion{key: k, owner: store.AliveKey(host), why: "host " + host + " gone"})
			case !objects[kind+"/"+name]:
				onHosts = append(onHosts, ofObject(k, kind, name))
			}
		}
		if name, _, ok := store.ParseJobVersionKey(k); ok && !objects["job/"+name] {
			records = append(records, ofObject(k, "job", name))
		}
	}
	var hosts []deletion
	for _, h := range slices.Sorted(maps.Keys(gone)) {
		hosts = append(hosts, deletion{key: store.HostKey(h), owner: store.AliveKey(h), why: "host down for longer than --host-gc-after", forgets: h})
	}
	return slices.Concat(owned, onHosts, records, hosts)
}

// owner is the object a binding, status or history belongs to: a Timer's
// run is bound and reports under <timer>/<run>, owned by the Timer.
func owner(name string) string {
	o, _, _ := strings.Cut(name, "/")
	return o
}

// parseObjectOwned parses the keys an object owns cluster-wide: its
// binding (bindings/<kind>/<name>) and its events
// (events/<kind>/<name>/<id>).
func parseObjectOwned(key string) (kind, name string, ok bool) {
	if kind, name, ok = store.ParseBindingKey(key); ok {
		return kind, name, ok
	}
	return store.ParseEventKey(key)
}

// parseHostOwned parses the keys a host writes of an object: its status
// (status/<host>/<kind>/<name>) and its history
// (history/<host>/<kind>/<name>/<seq>).
func parseHostOwned(key string) (kind, name, host string, ok bool) {
	if kind, name, host, ok = store.ParseStatusKey(key); ok {
		return kind, name, host, ok
	}
	return store.ParseHistoryKey(key)
}
