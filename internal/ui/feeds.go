package ui

import (
	"log/slog"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// A feed is one of the prefixes the model follows: its typed cache's
// prefix, how a value under it is decoded (once, when its key changes),
// and how an entry changes the model.
type feed interface {
	prefix() string
	// newSource makes the feed's cache.
	newSource(st *store.Store, o store.CacheOptions) source
	// applyKV decodes kv as the feed's cache does and applies it to m
	// (kv absent: deleted), returning the rows it changes.
	applyKV(m *model, kv store.KV, present bool) []rowID
}

// A source is a running feed: its cache, which tells its handlers every
// key that changes.
type source interface {
	reconcile.Source
	// note applies the entry of key, as the cache holds it now, to m.
	note(m *model, key string) []rowID
	// prime applies every entry the cache holds to m.
	prime(m *model) []rowID
}

// typedFeed is a feed of values of type T. A value that does not decode
// is applied as absent: the page shows what it can read.
type typedFeed[T any] struct {
	pfx    string
	decode func(store.KV) (T, error)
	apply  func(m *model, key string, v T, present bool) []rowID
}

func (f typedFeed[T]) prefix() string { return f.pfx }

func (f typedFeed[T]) newSource(st *store.Store, o store.CacheOptions) source {
	return typedSource[T]{Typed: store.NewTyped(st, f.pfx, f.decode, o), apply: f.apply}
}

func (f typedFeed[T]) applyKV(m *model, kv store.KV, present bool) []rowID {
	var v T
	if present {
		var err error
		v, err = f.decode(kv)
		present = err == nil
	}
	return f.apply(m, kv.Key, v, present)
}

type typedSource[T any] struct {
	*store.Typed[T]
	apply func(m *model, key string, v T, present bool) []rowID
}

func (s typedSource[T]) note(m *model, key string) []rowID {
	e, ok := s.Get(key)
	return s.apply(m, key, e.Value, ok && e.Err == nil)
}

func (s typedSource[T]) prime(m *model) []rowID {
	var ids []rowID
	for _, e := range s.List() {
		ids = append(ids, s.apply(m, e.Key, e.Value, true)...)
	}
	return ids
}

// feeds are what the model follows: the objects it shows, the instances'
// statuses, the leader's GitSource statuses, the host records and alive
// keys, the Jobs' bindings and the events.
var feeds = []feed{
	typedFeed[v1.Object]{pfx: store.Prefix + "objects/", decode: decodeShown, apply: (*model).applyObject},
	typedFeed[v1.InstanceStatus]{pfx: store.StatusesPrefix, decode: decodeInstanceStatus, apply: (*model).applyStatus},
	typedFeed[*v1.GitSourceStatus]{pfx: store.StatusKey(v1.KindGitSource, "", v1.ReservedHostName),
		decode: store.DecodeJSON[*v1.GitSourceStatus], apply: (*model).applyGitStatus},
	typedFeed[*v1.Host]{pfx: store.HostsPrefix, decode: decodeHost, apply: (*model).applyHost},
	typedFeed[struct{}]{pfx: store.AlivePrefix, decode: func(store.KV) (struct{}, error) { return struct{}{}, nil }, apply: (*model).applyAlive},
	typedFeed[v1.JobBinding]{pfx: store.BindingKey(v1.KindJob, ""), decode: store.DecodeJSON[v1.JobBinding], apply: (*model).applyBinding},
	typedFeed[v1.Event]{pfx: store.AllEventsPrefix, decode: store.DecodeEvent, apply: (*model).applyEvent},
}

// quiet is the log of the dashboard's caches: what does not decode is
// logged by the loops that read it, not again each time a browser opens
// the page.
var quiet = store.CacheOptions{Log: slog.New(slog.DiscardHandler)}

// shown are the kinds of objects the page shows.
var shown = map[string]bool{rowUnit: true, rowJob: true, rowService: true, rowGitSource: true}

// decodeShown decodes an object of a kind the page shows, as stored (not
// defaulted: the detail shows what was applied), and ignores the other
// keys under objects/ (Timers, Jobs' version records).
func decodeShown(kv store.KV) (v1.Object, error) {
	kind, name, ok := strings.Cut(strings.TrimPrefix(kv.Key, store.Prefix+"objects/"), "/")
	if !ok || name == "" || strings.Contains(name, "/") || !shown[kind] {
		return nil, store.ErrIgnored
	}
	return store.DecodeObject(kind, kv)
}

// decodeInstanceStatus decodes what a host reports of a Unit or a Job,
// and ignores the other statuses.
func decodeInstanceStatus(kv store.KV) (v1.InstanceStatus, error) {
	if kind, _, host, ok := store.ParseStatusKey(kv.Key); ok && (host == v1.ReservedHostName || kind != rowUnit && kind != rowJob) {
		return v1.InstanceStatus{}, store.ErrIgnored
	}
	return store.DecodeStatus(kv)
}

// decodeHost decodes a host's record; one without a name is named by its
// key.
func decodeHost(kv store.KV) (*v1.Host, error) {
	o, err := store.DecodeObject(v1.KindHost, kv)
	if err != nil {
		return nil, err
	}
	h := o.(*v1.Host)
	if h.Metadata.Name == "" {
		h.Metadata.Name = strings.TrimPrefix(kv.Key, store.HostsPrefix)
	}
	return h, nil
}
