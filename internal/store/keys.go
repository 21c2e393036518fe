package store

import (
	"net/url"
	"strings"
)

// Keys of berth's objects, as DESIGN.md's etcd table names them. Every kind
// argument may be given as the v1 kind ("Unit") or in lower case ("unit");
// keys always hold it in lower case.

// ObjectKey is where the object itself is stored: objects/<kind>/<name>.
func ObjectKey(kind, name string) string {
	return ObjectPrefix(kind) + name
}

// ObjectPrefix holds every object of a kind: objects/<kind>/.
func ObjectPrefix(kind string) string {
	return Prefix + "objects/" + lower(kind) + "/"
}

// StatusKey is the status of one instance of an object on one host:
// status/<kind>/<name>/<host>, written by that host's controller only.
func StatusKey(kind, name, host string) string {
	return StatusPrefix(kind, name) + host
}

// StatusPrefix holds the statuses of every object of a kind
// (status/<kind>/), or of one object when a name is given
// (status/<kind>/<name>/).
func StatusPrefix(kind string, name ...string) string {
	p := Prefix + "status/" + lower(kind) + "/"
	if len(name) > 0 && name[0] != "" {
		p += name[0] + "/"
	}
	return p
}

// HostsPrefix holds every host record.
const HostsPrefix = Prefix + "hosts/"

// AlivePrefix holds the heartbeat key of every host that is up.
const AlivePrefix = Prefix + "alive/"

// HostKey is a host's record, kept while the host is down: hosts/<host>.
func HostKey(host string) string { return HostsPrefix + host }

// AliveKey is a host's heartbeat, on its lease: alive/<host>.
func AliveKey(host string) string { return AlivePrefix + host }

// BindingKey says which hosts run an object: bindings/<kind>/<name>.
func BindingKey(kind, name string) string {
	return Prefix + "bindings/" + lower(kind) + "/" + name
}

// EventPrefix holds the events of one object: events/<kind>/<name>/.
func EventPrefix(kind, name string) string {
	return Prefix + "events/" + lower(kind) + "/" + name + "/"
}

// ApplySetKey records what an apply set owns: applysets/<name>.
func ApplySetKey(name string) string { return Prefix + "applysets/" + name }

func lower(kind string) string { return strings.ToLower(kind) }

// lastSegment returns what follows the last '/' of key.
func lastSegment(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}

// CatalogPrefix holds every endpoint of every service: catalog/.
const CatalogPrefix = Prefix + "catalog/"

// CatalogKey is one endpoint of a service, on the lease of the host that
// registered it: catalog/<service>/<endpoint-id>, the id path-escaped.
func CatalogKey(service, id string) string {
	return CatalogPrefix + service + "/" + url.PathEscape(id)
}

// ParseCatalogKey returns the service and endpoint id of a catalog key.
func ParseCatalogKey(key string) (service, id string, ok bool) {
	rest, found := strings.CutPrefix(key, CatalogPrefix)
	if !found {
		return "", "", false
	}
	service, esc, found := strings.Cut(rest, "/")
	if !found {
		return "", "", false
	}
	id, err := url.PathUnescape(esc)
	if err != nil {
		return "", "", false
	}
	return service, id, true
}

// HistoryPrefix holds the history of one object on one host
// (history/<kind>/<name>/<host>/), or on every host when host is "".
func HistoryPrefix(kind, name, host string) string {
	p := Prefix + "history/" + lower(kind) + "/" + name + "/"
	if host != "" {
		p += host + "/"
	}
	return p
}
