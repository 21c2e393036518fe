package registrator

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
)

// Defaults of Registrator's checks.
const (
	DefaultCheckInterval = 10 * time.Second
	DefaultCheckTimeout  = 10 * time.Second
)

// metadata reads a container's SERVICE_* settings: environment first,
// labels over it (Registrator's serviceMetaData).
func metadata(c *runtime.Container) map[string]string {
	out := map[string]string{}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "SERVICE_") {
			out[k] = v
		}
	}
	for k, v := range c.Labels {
		if strings.HasPrefix(k, "SERVICE_") {
			out[k] = v
		}
	}
	return out
}

// setting returns SERVICE_<port>_<key>, else SERVICE_<key>, and whether
// the per-port form was the one found.
func setting(meta map[string]string, port int, key string) (string, bool, bool) {
	if v, ok := meta[fmt.Sprintf("SERVICE_%d_%s", port, key)]; ok {
		return v, true, true
	}
	v, ok := meta["SERVICE_"+key]
	return v, ok, false
}

// imageBase is the service name Registrator derives from an image:
// "registry:5000/team/web:1.2" -> "web".
func imageBase(image string) string {
	name := image
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	name = path.Base(name)
	if i := strings.LastIndex(name, ":"); i >= 0 {
		name = name[:i]
	}
	return name
}

// splitTags splits SERVICE_TAGS on commas; "\," is a comma in a tag.
func splitTags(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			cur.WriteByte(',')
			i++
		case s[i] == ',':
			if t := strings.TrimSpace(cur.String()); t != "" {
				out = append(out, t)
			}
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

var reserved = map[string]bool{"NAME": true, "TAGS": true, "ID": true, "IGNORE": true}

// fromContainer applies Registrator's conventions to one container: one
// endpoint per published port that is not ignored.
func fromContainer(host, address string, c *runtime.Container) []catalog.Endpoint {
	meta := metadata(c)
	if v := meta["SERVICE_IGNORE"]; v != "" && v != "false" {
		return nil
	}
	ports := published(c)
	var out []catalog.Endpoint
	for _, p := range ports {
		if v, ok, _ := setting(meta, p.ContainerPort, "IGNORE"); ok && v != "" && v != "false" {
			if _, perPort := meta[fmt.Sprintf("SERVICE_%d_IGNORE", p.ContainerPort)]; perPort {
				continue
			}
		}
		name, hasName, perPort := setting(meta, p.ContainerPort, "NAME")
		if !hasName || name == "" {
			name = imageBase(c.Image)
		}
		if len(ports) > 1 && !perPort {
			name += "-" + strconv.Itoa(p.ContainerPort)
		}
		name = sanitize(name)
		if name == "" {
			continue
		}
		e := catalog.Endpoint{
			Service: name, Host: host, Address: address, Port: p.HostPort,
			Protocol: v1.Protocol(orTCP(p.Protocol)), Source: catalog.SourceContainer,
			Container: c.ID, Weights: catalog.Weights{Passing: 1, Warning: 1},
		}
		e.ID = fmt.Sprintf("%s:%s:%d", host, c.Name, p.ContainerPort)
		if p.Protocol == runtime.UDP {
			e.ID += ":udp"
		}
		if id, ok, _ := setting(meta, p.ContainerPort, "ID"); ok && id != "" {
			e.ID = id
		}
		if tags, ok, _ := setting(meta, p.ContainerPort, "TAGS"); ok {
			e.Tags = splitTags(tags)
		}
		e.Meta = extraMeta(meta, p.ContainerPort)
		if c.Labels[v1.LabelKind] != "" && c.Labels[v1.LabelHost] == host {
			e.OwnerKind, e.OwnerName = c.Labels[v1.LabelKind], c.Labels[v1.LabelName]
		}
		e.Checks = containerChecks(meta, &e, p.ContainerPort)
		out = append(out, e)
	}
	return out
}

// extraMeta turns every other SERVICE_<KEY> (and SERVICE_<port>_<KEY>) into
// a lower-cased meta key, the per-port form winning.
func extraMeta(meta map[string]string, port int) map[string]string {
	out := map[string]string{}
	prefix := fmt.Sprintf("SERVICE_%d_", port)
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys) // SERVICE_<port>_X sorts before SERVICE_X: set generic first, then per-port
	for _, perPort := range []bool{false, true} {
		for _, k := range keys {
			rest := strings.TrimPrefix(k, "SERVICE_")
			if strings.HasPrefix(k, prefix) != perPort {
				continue
			}
			if perPort {
				rest = strings.TrimPrefix(k, prefix)
			} else if first, _, _ := strings.Cut(rest, "_"); isNumber(first) {
				continue // another port's setting
			}
			if reserved[rest] || strings.HasPrefix(rest, "CHECK_") {
				continue
			}
			out[strings.ToLower(rest)] = meta[k]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// containerChecks reads SERVICE_CHECK_* into checks of the endpoint.
func containerChecks(meta map[string]string, e *catalog.Endpoint, port int) []catalog.Check {
	get := func(k string) string { v, _, _ := setting(meta, port, "CHECK_"+k); return v }
	interval := parseDur(get("INTERVAL"), DefaultCheckInterval)
	timeout := parseDur(get("TIMEOUT"), DefaultCheckTimeout)
	initial := v1.CheckStatus(strings.ToLower(get("INITIAL_STATUS")))
	if initial != v1.CheckPassing && initial != v1.CheckWarning {
		initial = v1.CheckCritical
	}
	addr := e.Address + ":" + strconv.Itoa(e.Port)
	var out []catalog.Check
	add := func(c catalog.Check) {
		c.ID = fmt.Sprintf("service:%s", e.ID)
		if len(out) > 0 {
			c.ID = fmt.Sprintf("service:%s:%d", e.ID, len(out)+1)
		}
		c.Name = fmt.Sprintf("Service '%s' check", e.Service)
		c.Status = initial
		if c.Interval == 0 && c.Type != catalog.CheckTTL {
			c.Interval = interval
		}
		if c.Timeout == 0 && c.Type != catalog.CheckTTL {
			c.Timeout = timeout
		}
		out = append(out, c)
	}
	if p := get("HTTP"); p != "" {
		add(catalog.Check{Type: catalog.CheckHTTP, HTTP: "http://" + addr + ensureSlash(p), Method: orDefault(get("HTTP_METHOD"), "GET")})
	}
	if p := get("HTTPS"); p != "" {
		add(catalog.Check{Type: catalog.CheckHTTP, HTTP: "https://" + addr + ensureSlash(p), Method: orDefault(get("HTTP_METHOD"), "GET")})
	}
	if v := get("TCP"); v != "" && v != "false" {
		add(catalog.Check{Type: catalog.CheckTCP, TCP: addr})
	}
	if s := get("SCRIPT"); s != "" {
		s = strings.NewReplacer("$SERVICE_IP", e.Address, "$SERVICE_PORT", strconv.Itoa(e.Port)).Replace(s)
		add(catalog.Check{Type: catalog.CheckExec, Exec: strings.Fields(s)})
	}
	if s := get("CMD"); s != "" {
		add(catalog.Check{Type: catalog.CheckExec, Exec: strings.Fields(s)})
	}
	if t := get("TTL"); t != "" {
		add(catalog.Check{Type: catalog.CheckTTL, TTL: parseDur(t, 30*time.Second)})
	}
	return out
}

// published returns a container's published ports, one per container port
// and protocol (IPv4 and IPv6 bindings of a port are one).
func published(c *runtime.Container) []runtime.PortBinding {
	seen := map[string]bool{}
	var out []runtime.PortBinding
	for _, p := range c.Ports {
		if p.HostPort == 0 {
			continue
		}
		k := fmt.Sprintf("%d/%s", p.ContainerPort, orTCP(p.Protocol))
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerPort != out[j].ContainerPort {
			return out[i].ContainerPort < out[j].ContainerPort
		}
		return out[i].Protocol < out[j].Protocol
	})
	return out
}

// sanitize makes a service name DNS-friendly: lower case, letters, digits
// and '-'.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == '_' || r == '.' || r == ' ':
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func orTCP(p string) string {
	if p == "" {
		return runtime.TCP
	}
	return p
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func ensureSlash(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

func parseDur(s string, d time.Duration) time.Duration {
	if s == "" {
		return d
	}
	if v, err := time.ParseDuration(s); err == nil && v > 0 {
		return v
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return d
}
