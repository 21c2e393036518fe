package consulapi

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// Limits on what a registration may carry, as Consul's where it has them.
const (
	maxNameLen     = 256
	maxMetaPairs   = 64
	maxMetaKeyLen  = 128
	maxMetaValLen  = 512
	maxOutputBytes = 4096
)

// checkName validates a service's name or id: they are parts of etcd keys
// (catalog/<host>/<service>/<id>) and of URL paths.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("missing %s", what)
	case len(s) > maxNameLen:
		return fmt.Errorf("%s is longer than %d bytes", what, maxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q is not UTF-8", what, s)
	case s == "." || s == "..":
		return fmt.Errorf("%s %q cannot be named in a URL path", what, s)
	}
	for _, r := range s {
		if r == '/' || r < ' ' || r == 0x7f {
			return fmt.Errorf("%s %q: '/' and control characters are not allowed", what, s)
		}
	}
	return nil
}

func checkMeta(m map[string]string) error {
	if len(m) > maxMetaPairs {
		return fmt.Errorf("Meta: more than %d pairs", maxMetaPairs)
	}
	for k, v := range m {
		switch {
		case k == "":
			return errors.New("Meta: empty key")
		case len(k) > maxMetaKeyLen:
			return fmt.Errorf("Meta: key %.32q… is longer than %d bytes", k, maxMetaKeyLen)
		case len(v) > maxMetaValLen:
			return fmt.Errorf("Meta[%q]: value is longer than %d bytes", k, maxMetaValLen)
		}
	}
	return nil
}

// parseStatus reads a check status as Consul's API spells it, accepting the
// pass/warn/fail of its older endpoints.
func parseStatus(s string) (v1.CheckStatus, error) {
	switch s {
	case "passing", "pass":
		return v1.CheckPassing, nil
	case "warning", "warn":
		return v1.CheckWarning, nil
	case "critical", "fail":
		return v1.CheckCritical, nil
	}
	return "", fmt.Errorf("invalid check status %q: want passing, warning or critical", s)
}

// toCheck turns a check as sent into a catalog.Check. id and name are the
// defaults when the check gives none; container is the endpoint's
// container, used by script checks that name none. It returns the
// container the check runs in ("" for non-script checks).
func toCheck(d checkDef, where, id, name, container string) (catalog.Check, string, error) {
	c := catalog.Check{
		ID: d.ID, Name: d.Name, Notes: d.Notes,
		Interval: d.Interval, Timeout: d.Timeout, TTL: d.TTL,
		SuccessBeforePassing: d.SuccessBeforePassing, FailuresBeforeCritical: d.FailuresBeforeCritical,
		DeregisterCriticalAfter: d.DeregisterAfter,
	}
	if c.ID == "" {
		c.ID = id
	}
	if c.Name == "" {
		c.Name = name
	}
	if c.ID == "" {
		return c, "", fmt.Errorf("%smissing check ID or Name", where)
	}
	if len(c.ID) > maxNameLen || !utf8.ValidString(c.ID) {
		return c, "", fmt.Errorf("%sCheckID: not UTF-8, or longer than %d bytes", where, maxNameLen)
	}
	for _, seg := range strings.Split(c.ID, "/") {
		// The ID is the end of /v1/agent/check/update/{id}: it must
		// survive the cleaning of URL paths.
		if seg == "" || seg == "." || seg == ".." {
			return c, "", fmt.Errorf("%sCheckID %q: empty, '.' and '..' path segments cannot be named in a URL", where, c.ID)
		}
	}
	if len(c.Notes) > maxOutputBytes {
		return c, "", fmt.Errorf("%sNotes: longer than %d bytes", where, maxOutputBytes)
	}
	if d.SuccessBeforePassing < 0 || d.FailuresBeforeCritical < 0 {
		return c, "", fmt.Errorf("%sSuccessBeforePassing and FailuresBeforeCritical must not be negative", where)
	}

	var types []string
	if d.HTTP != "" {
		types = append(types, "HTTP")
	}
	if d.TCP != "" {
		types = append(types, "TCP")
	}
	if len(d.Args) > 0 {
		types = append(types, "ScriptArgs")
	}
	if d.TTL > 0 {
		types = append(types, "TTL")
	}
	switch {
	case len(types) == 0 && d.Container != "":
		return c, "", fmt.Errorf("%sDockerContainerID needs Args: the command to run in the container", where)
	case len(types) == 0:
		return c, "", fmt.Errorf("%scheck %q has no type: give HTTP, TCP, TTL, or ScriptArgs with DockerContainerID", where, c.ID)
	case len(types) > 1:
		return c, "", fmt.Errorf("%scheck %q has several types (%v): give one", where, c.ID, types)
	}

	run := ""
	switch types[0] {
	case "HTTP":
		u, err := url.Parse(d.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, "", fmt.Errorf("%sHTTP: %q is not an http(s) URL", where, d.HTTP)
		}
		c.Type, c.HTTP, c.Method, c.Header = catalog.CheckHTTP, d.HTTP, d.Method, d.Header
	case "TCP":
		if _, _, err := net.SplitHostPort(d.TCP); err != nil {
			return c, "", fmt.Errorf("%sTCP: %q: want host:port", where, d.TCP)
		}
		c.Type, c.TCP = catalog.CheckTCP, d.TCP
	case "ScriptArgs":
		run = d.Container
		if run == "" {
			run = container
		}
		if run == "" {
			return c, "", fmt.Errorf("%sScriptArgs: berth runs scripts inside a container, never on the host: give DockerContainerID", where)
		}
		c.Type, c.Exec = catalog.CheckExec, d.Args
	case "TTL":
		c.Type = catalog.CheckTTL
	}
	if c.Type != catalog.CheckTTL && c.Interval <= 0 {
		return c, "", fmt.Errorf("%sInterval must be > 0 for %s checks", where, types[0])
	}

	c.Status = v1.CheckCritical // Consul's default: no traffic before a check passes
	if d.Status != "" {
		st, err := parseStatus(d.Status)
		if err != nil || d.Status != string(st) {
			return c, "", fmt.Errorf("%sStatus: invalid check status %q: want passing, warning or critical", where, d.Status)
		}
		c.Status = st
	}
	return c, run, nil
}

// toEndpoint turns a registration into the endpoint this host registers.
// old is the endpoint of the same ID this host has already (nil if none);
// replaceChecks drops its checks the registration does not list. nodeAddr
// is this host's address, the default of Address.
func toEndpoint(d serviceDef, host, nodeAddr string, old *catalog.Endpoint, replaceChecks bool) (catalog.Endpoint, error) {
	if d.ID == "" {
		d.ID = d.Name
	}
	if err := checkName("service Name", d.Name); err != nil {
		return catalog.Endpoint{}, err
	}
	if err := checkName("service ID", d.ID); err != nil {
		return catalog.Endpoint{}, err
	}
	if d.Kind != "" {
		return catalog.Endpoint{}, fmt.Errorf("Kind %q: berth registers typical services only, not Connect proxies or gateways", d.Kind)
	}
	if d.Port < 0 || d.Port > 65535 {
		return catalog.Endpoint{}, fmt.Errorf("Port %d: want 0 to 65535", d.Port)
	}
	if err := checkMeta(d.Meta); err != nil {
		return catalog.Endpoint{}, err
	}
	w := catalog.Weights{Passing: 1, Warning: 1}
	if d.Weights != nil {
		if d.Weights.Passing < 1 || d.Weights.Warning < 0 {
			return catalog.Endpoint{}, fmt.Errorf("invalid Weights {Passing:%d Warning:%d}: Passing must be greater than 0, Warning not negative",
				d.Weights.Passing, d.Weights.Warning)
		}
		w = catalog.Weights{Passing: d.Weights.Passing, Warning: d.Weights.Warning}
	}
	e := catalog.Endpoint{
		ID: d.ID, Service: d.Name, Host: host, Address: d.Address, Port: d.Port,
		Protocol: v1.ProtocolTCP, Tags: d.Tags, Meta: d.Meta, Source: catalog.SourceAgent, Weights: w,
	}
	if e.Address == "" {
		e.Address = nodeAddr
	}
	if old != nil {
		e.Container = old.Container
	}

	seen := map[string]bool{}
	for i, cd := range d.Checks {
		id := "service:" + e.ID
		if len(d.Checks) > 1 {
			id = fmt.Sprintf("service:%s:%d", e.ID, i+1)
		}
		where := "Check."
		if len(d.Checks) > 1 {
			where = fmt.Sprintf("Checks[%d].", i)
		}
		c, run, err := toCheck(cd, where, id, fmt.Sprintf("Service '%s' check", e.Service), e.Container)
		if err != nil {
			return catalog.Endpoint{}, err
		}
		if seen[c.ID] {
			return catalog.Endpoint{}, fmt.Errorf("%scheck ID %q is given twice", where, c.ID)
		}
		seen[c.ID] = true
		if run != "" {
			if e.Container != "" && run != e.Container {
				return catalog.Endpoint{}, fmt.Errorf("%sDockerContainerID %q: the service's checks already run in %q; an endpoint has one container", where, run, e.Container)
			}
			e.Container = run
		}
		if prev := findCheck(old, c.ID); prev != nil && cd.Status == "" && prev.Type == c.Type {
			// A re-registration does not reset what the check has seen.
			c.Status, c.Output, c.CriticalSince = prev.Status, prev.Output, prev.CriticalSince
		}
		e.Checks = append(e.Checks, c)
	}
	if old != nil && !replaceChecks {
		for _, c := range old.Checks {
			if !seen[c.ID] {
				e.Checks = append(e.Checks, c)
			}
		}
	}
	return e, nil
}

func findCheck(e *catalog.Endpoint, id string) *catalog.Check {
	if e == nil {
		return nil
	}
	for i := range e.Checks {
		if e.Checks[i].ID == id {
			return &e.Checks[i]
		}
	}
	return nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
