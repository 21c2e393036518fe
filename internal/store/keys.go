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

// ObjectsPrefix holds every object of every kind, and Jobs' version
// records: objects/.
const ObjectsPrefix = Prefix + "objects/"

// ObjectPrefix holds every object of a kind: objects/<kind>/.
func ObjectPrefix(kind string) string {
	return ObjectsPrefix + lower(kind) + "/"
}

// ParseObjectKey returns the kind (lower case) and name of an object's
// key. A version record (objects/jobversion/<name>/<version>) is no
// object's key.
func ParseObjectKey(key string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(key, ObjectsPrefix)
	if !found {
		return "", "", false
	}
	kind, name, found = strings.Cut(rest, "/")
	if !found || kind == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return kind, name, true
}

// JobVersionsPrefix holds the version records of every Job:
// objects/jobversion/. They are under objects/, which only operators
// write (etcd's berth-operator and berth-gitops roles), but they are no
// objects: they are listed, applied and pruned with their Job, never on
// their own.
const JobVersionsPrefix = Prefix + "objects/jobversion/"

// JobVersionPrefix holds the version records of one Job:
// objects/jobversion/<name>/.
func JobVersionPrefix(name string) string { return JobVersionsPrefix + name + "/" }

// JobVersionKey is the record of one version of a Job (v1.JobVersion):
// objects/jobversion/<name>/<version>.
func JobVersionKey(name, version string) string { return JobVersionPrefix(name) + version }

// ParseJobVersionKey returns the Job and version of a version record's
// key.
func ParseJobVersionKey(key string) (name, version string, ok bool) {
	rest, found := strings.CutPrefix(key, JobVersionsPrefix)
	if !found {
		return "", "", false
	}
	name, version, found = strings.Cut(rest, "/")
	if !found || name == "" || version == "" || strings.Contains(version, "/") {
		return "", "", false
	}
	return name, version, true
}

// Keys a host writes begin with the host's name (status/<host>/...,
// history/<host>/..., catalog/<host>/...), so that etcd's roles, which
// grant key ranges, can let a controller write its own keys and no other
// host's (SECURITY.md).

// StatusesPrefix holds every status of every host.
const StatusesPrefix = Prefix + "status/"

// StatusKey is the status of one instance of an object on one host:
// status/<host>/<kind>/<name>, written by that host's controller only.
func StatusKey(kind, name, host string) string {
	return HostStatusPrefix(host) + lower(kind) + "/" + name
}

// HostStatusPrefix holds the statuses written by one host: status/<host>/.
func HostStatusPrefix(host string) string { return StatusesPrefix + host + "/" }

// ParseStatusKey returns the kind (lower case), object name and host of a
// status key.
func ParseStatusKey(key string) (kind, name, host string, ok bool) {
	rest, found := strings.CutPrefix(key, StatusesPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[0], true
}

// IsStatusOf reports whether key is a status of the object kind/name on
// any host; name "" matches every object of the kind.
func IsStatusOf(key, kind, name string) bool {
	k, n, _, ok := ParseStatusKey(key)
	return ok && k == lower(kind) && (name == "" || n == name)
}

// HostsPrefix holds every host record.
const HostsPrefix = Prefix + "hosts/"

// AlivePrefix holds the heartbeat key of every host that is up.
const AlivePrefix = Prefix + "alive/"

// HostKey is a host's record, kept while the host is down: hosts/<host>.
func HostKey(host string) string { return HostsPrefix + host }

// AliveKey is a host's heartbeat, on its lease: alive/<host>.
func AliveKey(host string) string { return AlivePrefix + host }

// ParseHostKey returns the host of a host record's key (hosts/<host>).
func ParseHostKey(key string) (host string, ok bool) { return hostUnder(HostsPrefix, key) }

// ParseAliveKey returns the host of a heartbeat's key (alive/<host>).
func ParseAliveKey(key string) (host string, ok bool) { return hostUnder(AlivePrefix, key) }

// hostUnder returns the host named by the one element of key under prefix.
func hostUnder(prefix, key string) (string, bool) {
	h, ok := strings.CutPrefix(key, prefix)
	if !ok || h == "" || strings.Contains(h, "/") {
		return "", false
	}
	return h, true
}

// BindingsPrefix holds the binding of every object: bindings/.
const BindingsPrefix = Prefix + "bindings/"

// BindingKey says which hosts run an object: bindings/<kind>/<name>.
func BindingKey(kind, name string) string {
	return BindingsPrefix + lower(kind) + "/" + name
}

// ParseBindingKey returns the kind (lower case) and name of a binding's
// key. A Timer's run is bound under bindings/timer/<timer>/<run>: its name
// is <timer>/<run>.
func ParseBindingKey(key string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(key, BindingsPrefix)
	if !found {
		return "", "", false
	}
	kind, name, found = strings.Cut(rest, "/")
	if !found || kind == "" || name == "" {
		return "", "", false
	}
	return kind, name, true
}

// EventPrefix holds the events of one object: events/<kind>/<name>/.
func EventPrefix(kind, name string) string {
	return AllEventsPrefix + lower(kind) + "/" + name + "/"
}

// ParseEventKey returns the kind (lower case) and name of the object of an
// event's key (events/<kind>/<name>/<id>).
func ParseEventKey(key string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(key, AllEventsPrefix)
	if !found {
		return "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
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
// registered it: catalog/<host>/<service>/<endpoint-id>, the id
// path-escaped.
func CatalogKey(host, service, id string) string {
	return CatalogHostPrefix(host) + service + "/" + url.PathEscape(id)
}

// CatalogHostPrefix holds the endpoints one host registered.
func CatalogHostPrefix(host string) string { return CatalogPrefix + host + "/" }

// ParseCatalogKey returns the host, service and endpoint id of a catalog
// key.
func ParseCatalogKey(key string) (host, service, id string, ok bool) {
	rest, found := strings.CutPrefix(key, CatalogPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", "", false
	}
	id, err := url.PathUnescape(parts[2])
	if err != nil {
		return "", "", "", false
	}
	return parts[0], parts[1], id, true
}

// HistoriesPrefix holds the history of every object on every host.
const HistoriesPrefix = Prefix + "history/"

// HistoryPrefix holds the history of one object on one host:
// history/<host>/<kind>/<name>/.
func HistoryPrefix(kind, name, host string) string {
	return HistoriesPrefix + host + "/" + lower(kind) + "/" + name + "/"
}

// ParseHistoryKey returns the kind (lower case), object name and host of
// a history key.
func ParseHistoryKey(key string) (kind, name, host string, ok bool) {
	rest, found := strings.CutPrefix(key, HistoriesPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[0], true
}
