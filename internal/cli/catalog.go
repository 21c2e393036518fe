package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/store"
)

// The catalog commands (get services, get endpoints, describe service) read
// two prefixes: the Service objects (objects/service/) and the endpoints
// the hosts registered (catalog/<host>/<service>/<id>, a catalog.Endpoint each).
// A service is whatever either of them names: a Service object without
// endpoints, or endpoints registered under a name no Service object has
// (Registrator's SERVICE_NAME, the agent API).

// kindEndpoint is what get lists for "endpoints": not a kind of object, the
// endpoints of the catalog.
const kindEndpoint = "Endpoint"

// serviceInfo is one service as the catalog commands show it.
type serviceInfo struct {
	name string
	// object is the stored Service, nil for a service only registration
	// knows.
	object *v1.Service
	// endpoints are the service's endpoints, sorted by id, then host.
	endpoints []catalog.Endpoint
}

// services builds the services of the catalog from the stored Service
// objects and catalog endpoints, sorted by name. A Service object that does
// not decode is an error; an endpoint that does not decode, or whose host,
// service or id do not match its key (catalog.DecodeEndpoint), is skipped,
// as the controllers' catalog skips it.
func services(objects, endpoints []store.KV) ([]serviceInfo, error) {
	byName := map[string]*serviceInfo{}
	info := func(name string) *serviceInfo {
		s, ok := byName[name]
		if !ok {
			s = &serviceInfo{name: name}
			byName[name] = s
		}
		return s
	}
	for _, kv := range objects {
		var o v1.Service
		if err := json.Unmarshal(kv.Value, &o); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		o.Metadata.ResourceVersion = strconv.FormatInt(kv.ModRevision, 10)
		info(o.Metadata.Name).object = &o
	}
	for _, kv := range endpoints {
		e, err := catalog.DecodeEndpoint(kv)
		if err != nil {
			continue
		}
		s := info(e.Service)
		s.endpoints = append(s.endpoints, e)
	}
	out := make([]serviceInfo, 0, len(byName))
	for _, s := range byName {
		sort.Slice(s.endpoints, func(i, j int) bool {
			a, b := &s.endpoints[i], &s.endpoints[j]
			if a.ID != b.ID {
				return a.ID < b.ID
			}
			return a.Host < b.Host
		})
		if s.object != nil {
			st := s.status()
			s.object.Status = &st
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// status counts the service's endpoints by Endpoint.Status.
func (s *serviceInfo) status() v1.ServiceStatus {
	st := v1.ServiceStatus{Endpoints: len(s.endpoints)}
	for i := range s.endpoints {
		switch s.endpoints[i].Status() {
		case v1.CheckPassing:
			st.Passing++
		case v1.CheckWarning:
			st.Warning++
		case v1.CheckCritical:
			st.Critical++
		}
	}
	return st
}

// tags returns the union of the Service's tags and its endpoints', sorted.
func (s *serviceInfo) tags() []string {
	var tags []string
	if s.object != nil {
		tags = append(tags, s.object.Spec.Tags...)
	}
	for _, e := range s.endpoints {
		tags = append(tags, e.Tags...)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

func (s *serviceInfo) row(wide bool) []string {
	st := s.status()
	r := []string{s.name, strconv.Itoa(st.Endpoints), strconv.Itoa(st.Passing), strconv.Itoa(st.Warning), strconv.Itoa(st.Critical), dashList(s.tags())}
	if wide {
		selector, port := "-", "-"
		if s.object != nil {
			selector = labels(s.object.Spec.Selector)
			if !s.object.Spec.Port.IsZero() {
				port = s.object.Spec.Port.String()
			}
		}
		r = append(r, selector, port)
	}
	return r
}

// registeredService is what get services -o json|yaml prints for a service
// that has endpoints but no Service object: its name and status, no spec.
type registeredService struct {
	v1.TypeMeta `json:",inline"`
	Metadata    v1.ObjectMeta    `json:"metadata"`
	Status      v1.ServiceStatus `json:"status"`
}

// doc is what get services -o json|yaml prints for the service.
func (s *serviceInfo) doc() any {
	if s.object != nil {
		return s.object
	}
	return registeredService{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService},
		Metadata: v1.ObjectMeta{Name: s.name},
		Status:   s.status(),
	}
}

// endpointRow is one row of get endpoints.
func endpointRow(e *catalog.Endpoint, wide bool) []string {
	r := []string{e.ID, e.Service, dash(e.Host), dash(e.Address), endpointPort(e), string(e.Status()), checkSummary(e)}
	if wide {
		r = append(r, dashList(e.Tags), dash(e.Source), dash(shortID(e.Container)))
	}
	return r
}

// endpointPort is the port of an endpoint, with "/udp" for UDP.
func endpointPort(e *catalog.Endpoint) string {
	p := strconv.Itoa(e.Port)
	if e.Protocol == v1.ProtocolUDP {
		p += "/udp"
	}
	return p
}

// checkOutputWidth is how much of a check's output get endpoints shows.
const checkOutputWidth = 60

// checkSummary is the CHECK OUTPUT of get endpoints: the output of the
// first check that is not passing, else of the first check, on one line and
// cut to checkOutputWidth characters; "-" when there is none.
func checkSummary(e *catalog.Endpoint) string {
	if len(e.Checks) == 0 {
		return "-"
	}
	c := &e.Checks[0]
	for i := range e.Checks {
		if e.Checks[i].Status != v1.CheckPassing {
			c = &e.Checks[i]
			break
		}
	}
	out := strings.Join(strings.Fields(c.Output), " ")
	if utf8.RuneCountInString(out) > checkOutputWidth {
		out = string([]rune(out)[:checkOutputWidth-3]) + "..."
	}
	return dash(out)
}

// dashList joins s with commas, or "-" when it is empty.
func dashList(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// catalogItem is what get prints for one service or endpoint: its table
// rows and its document for -o json|yaml.
type catalogItem struct {
	key  string // the service name, or service/id/host for an endpoint
	rows [][]string
	doc  any
}

// catalogItems returns what get prints for kind (KindService or
// kindEndpoint), only about the service name when it is set, or a notFound
// error when nothing knows that name.
func catalogItems(svcs []serviceInfo, kind, name string, wide bool) ([]catalogItem, error) {
	if name != "" {
		i := slices.IndexFunc(svcs, func(s serviceInfo) bool { return s.name == name })
		if i < 0 {
			return nil, notFound(v1.KindService, name)
		}
		svcs = svcs[i : i+1]
	}
	var items []catalogItem
	for i := range svcs {
		s := &svcs[i]
		if kind == v1.KindService {
			items = append(items, catalogItem{key: s.name, rows: [][]string{s.row(wide)}, doc: s.doc()})
			continue
		}
		for j := range s.endpoints {
			e := &s.endpoints[j]
			items = append(items, catalogItem{key: s.name + "/" + e.ID + "/" + e.Host, rows: [][]string{endpointRow(e, wide)}, doc: e})
		}
	}
	return items, nil
}

// readCatalog reads the Service objects and the catalog endpoints: all of
// them, or those of one service when name is set.
func (a *app) readCatalog(ctx context.Context, st *store.Store, name string) ([]serviceInfo, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var objects, endpoints []store.KV
	var err error
	if name == "" {
		if objects, _, err = st.List(ctx, store.ObjectPrefix(v1.KindService)); err != nil {
			return nil, storeErr(err)
		}
		if endpoints, _, err = st.List(ctx, store.CatalogPrefix); err != nil {
			return nil, storeErr(err)
		}
	} else {
		kv, err := st.Get(ctx, store.ObjectKey(v1.KindService, name))
		switch {
		case err == nil:
			objects = []store.KV{kv}
		case !errors.Is(err, store.ErrNotFound):
			return nil, storeErr(err)
		}
		if endpoints, _, err = st.List(ctx, store.CatalogPrefix); err != nil {
			return nil, storeErr(err)
		}
		endpoints = endpointsOf(endpoints, name)
	}
	return services(objects, endpoints)
}

// endpointsOf keeps the catalog entries (catalog/<host>/<service>/<id>)
// of one service.
func endpointsOf(kvs []store.KV, service string) []store.KV {
	var out []store.KV
	for _, kv := range kvs {
		if _, s, _, ok := store.ParseCatalogKey(kv.Key); ok && s == service {
			out = append(out, kv)
		}
	}
	return out
}

// getCatalog is get services and get endpoints.
func (a *app) getCatalog(ctx context.Context, kind, name, output string, watch bool) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	wide := output == "wide"
	p := &printer{app: a, kind: kind, output: output, printed: map[string]string{}}
	if watch {
		return a.watchCatalog(ctx, st, kind, name, p)
	}
	svcs, err := a.readCatalog(ctx, st, name)
	if err != nil {
		return err
	}
	items, err := catalogItems(svcs, kind, name, wide)
	if err != nil {
		return err
	}
	switch {
	case output == "json" || output == "yaml":
		if kind == v1.KindService && name != "" {
			return p.encode(items[0].doc)
		}
		docs := make([]any, len(items))
		for i, it := range items {
			docs[i] = it.doc
		}
		return p.encode(listDoc{APIVersion: v1.APIVersion, Kind: "List", Items: docs})
	case len(items) == 0:
		fmt.Fprintln(a.err, "No resources found.")
		return nil
	}
	rows := [][]string{header(kind, wide)}
	for _, it := range items {
		rows = append(rows, it.rows...)
	}
	p.table.write(a.out, rows)
	return nil
}

// watchCatalog lists and then follows the Service objects and the catalog
// (mirror.go), printing every item whose rows or document changed, and an
// item that went away once more (an endpoint with STATUS "deleted"), until
// ctx ends.
func (a *app) watchCatalog(ctx context.Context, st *store.Store, kind, name string, p *printer) error {
	objPrefix := store.ObjectPrefix(v1.KindService)
	m, err := a.startMirror(ctx, st, objPrefix, store.CatalogPrefix)
	if err != nil {
		return err
	}
	defer m.stop()
	wide := p.output == "wide"
	last := map[string]catalogItem{}
	first := true
	err = m.until(ctx, func() (bool, error) {
		var objects []store.KV
		if name == "" {
			objects = m.under(objPrefix)
		} else if kv, ok := m.get(store.ObjectKey(v1.KindService, name)); ok {
			objects = []store.KV{kv}
		}
		endpoints := m.under(store.CatalogPrefix)
		if name != "" {
			endpoints = endpointsOf(endpoints, name)
		}
		svcs, err := services(objects, endpoints)
		if err != nil {
			return false, err
		}
		items, err := catalogItems(svcs, kind, name, wide)
		if err != nil && first {
			return false, err // a NAME nothing knows, when get -w starts
		}
		first = false
		return false, p.catalogItems(items, last)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// catalogItems prints, in key order, the items that changed since last
// and, once more, those last holds that are gone; it updates last. The rows
// of one call are written together, so that they are aligned.
func (p *printer) catalogItems(items []catalogItem, last map[string]catalogItem) error {
	now := map[string]catalogItem{}
	for _, it := range items {
		now[it.key] = it
	}
	keys := make([]string, 0, len(items)+len(last))
	for k := range now {
		keys = append(keys, k)
	}
	for k := range last {
		if _, ok := now[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	docs := p.output == "json" || p.output == "yaml"
	var rows [][]string
	for _, k := range keys {
		it, ok := now[k]
		if !ok {
			it = last[k]
			delete(last, k)
			delete(p.printed, k)
			if docs {
				if err := p.encode(it.doc); err != nil {
					return err
				}
				continue
			}
			rows = append(rows, p.deletedRows(it)...)
			continue
		}
		text := fmt.Sprint(it.rows)
		if docs {
			b, err := json.Marshal(it.doc)
			if err != nil {
				return err
			}
			text = string(b)
		}
		if p.printed[k] == text {
			continue
		}
		p.printed[k] = text
		last[k] = it
		if docs {
			if err := p.encode(it.doc); err != nil {
				return err
			}
			continue
		}
		rows = append(rows, it.rows...)
	}
	if len(rows) == 0 {
		return nil
	}
	return p.rows(rows)
}

// deletedRows are the rows of an item that went away: an endpoint's with
// STATUS "deleted", a service's as they were.
func (p *printer) deletedRows(it catalogItem) [][]string {
	if p.kind != kindEndpoint {
		return it.rows
	}
	rows := make([][]string, len(it.rows))
	for i, r := range it.rows {
		rows[i] = slices.Clone(r)
		rows[i][5] = "deleted" // STATUS
	}
	return rows
}
