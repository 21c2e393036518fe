package promsd

import (
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// ControllerService is the service name the controllers' group carries.
const ControllerService = "berth"

// Path is where Register serves the targets.
const Path = "/v1/prometheus/targets"

// Label names of a target group.
const (
	LabelService    = "__meta_berth_service"
	LabelHost       = "__meta_berth_host"
	LabelTags       = "__meta_berth_tags"
	LabelMetaPrefix = "__meta_berth_meta_"
)

// Group is one target group of http_sd_configs.
type Group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Filter selects what Targets returns; empty fields select everything.
type Filter struct {
	Services []string // any of these services
	Tags     []string // every one of these tags
}

// Register serves GET Path on mux from cat.
func Register(mux *http.ServeMux, cat catalog.Reader) {
	mux.Handle("GET "+Path, Handler(cat))
}

// Handler answers with Targets(cat, filter from the query).
func Handler(cat catalog.Reader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		groups := Targets(cat, Filter{Services: nonEmpty(q["service"]), Tags: nonEmpty(q["tag"])})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Consul-Index", strconv.FormatInt(cat.Index(), 10))
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(groups)
	})
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Targets builds the target groups from the catalog: services in name
// order, then the controllers. It never returns nil, so the JSON is [] when
// nothing matches.
func Targets(cat catalog.Reader, f Filter) []Group {
	out := []Group{}
	services := cat.Services()
	names := make([]string, 0, len(services))
	for name := range services {
		if name != ControllerService && f.service(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		eps, _ := cat.Endpoints(name)
		out = append(out, serviceGroups(name, eps, f.Tags)...)
	}
	if f.service(ControllerService) && len(f.Tags) == 0 {
		out = append(out, controllerGroups(cat)...)
	}
	return out
}

func (f Filter) service(name string) bool {
	if len(f.Services) == 0 {
		return true
	}
	for _, s := range f.Services {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// serviceGroups groups the passing endpoints that carry every tag by host,
// tags and meta.
func serviceGroups(service string, eps []catalog.Endpoint, tags []string) []Group {
	byKey := map[string]*Group{}
	var keys []string
	for i := range eps {
		e := &eps[i]
		if e.Status() != v1.CheckPassing || !hasTags(e, tags) {
			continue
		}
		labels := map[string]string{LabelService: service, LabelHost: e.Host, LabelTags: joinTags(e.Tags)}
		for k, v := range e.Meta {
			labels[LabelMetaPrefix+sanitize(k)] = v
		}
		key := groupKey(labels)
		g, ok := byKey[key]
		if !ok {
			g = &Group{Labels: labels}
			byKey[key] = g
			keys = append(keys, key)
		}
		g.Targets = append(g.Targets, net.JoinHostPort(e.Address, strconv.Itoa(e.Port)))
	}
	sort.Strings(keys)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := byKey[k]
		sort.Strings(g.Targets)
		out = append(out, *g)
	}
	return out
}

// controllerGroups is one group per Up controller that has an HTTP address.
func controllerGroups(cat catalog.Reader) []Group {
	nodes, _ := cat.Nodes()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var out []Group
	for _, n := range nodes {
		if !n.Up || n.HTTPAddress == "" {
			continue
		}
		labels := map[string]string{LabelService: ControllerService, LabelHost: n.Name}
		if n.HTTPScheme == "https" {
			labels["__scheme__"] = "https" // Prometheus scrapes it over TLS
		}
		out = append(out, Group{Targets: []string{controllerTarget(n)}, Labels: labels})
	}
	return out
}

// controllerTarget is where a controller's --listen is reached: a wildcard
// host is replaced by the node's address.
func controllerTarget(n catalog.Node) string {
	host, port, err := net.SplitHostPort(n.HTTPAddress)
	if err != nil {
		return n.HTTPAddress
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if n.Address != "" {
			host = n.Address
		}
	}
	return net.JoinHostPort(host, port)
}

func hasTags(e *catalog.Endpoint, tags []string) bool {
	for _, t := range tags {
		if !e.HasTag(t) {
			return false
		}
	}
	return true
}

// joinTags joins tags as Prometheus' Consul SD does: ",a,b," (and "" for none,
// where Consul SD gives ",,").
func joinTags(tags []string) string {
	if len(tags) == 0 {
		return ",,"
	}
	return "," + strings.Join(tags, ",") + ","
}

// sanitize makes s a valid part of a label name.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

func groupKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	// The service and host first, so groups sort by host.
	b.WriteString(labels[LabelHost])
	for _, k := range keys {
		b.WriteString("\x00" + k + "\x00" + labels[k])
	}
	return b.String()
}
