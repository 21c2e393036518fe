package v1

import (
	"net"
	"strings"
)

// validateDNS checks a template's dns (p is its field path) as Kubernetes
// checks a dnsConfig: nameservers are IP addresses, at most three; at most
// 32 search domains, of 2048 characters in all with the spaces between
// them, each a DNS subdomain (a trailing dot allowed); every option has a
// name. networkMode container:<x> takes the resolver of the container it
// joins, so dns cannot be set with it.
func validateDNS(e *errs, p string, d *DNSConfig, networkMode string) {
	if d == nil {
		return
	}
	if strings.HasPrefix(networkMode, "container:") {
		e.add(p, "cannot be set with networkMode %s: the container uses the resolver of the container whose network it joins", networkMode)
	}
	if len(d.Nameservers) > MaxDNSNameservers {
		e.add(p+".nameservers", "must not have more than %d nameservers, has %d", MaxDNSNameservers, len(d.Nameservers))
	}
	for i, ns := range d.Nameservers {
		if net.ParseIP(ns) == nil {
			e.add(idx(p+".nameservers", i), "%q is not an IP address", ns)
		}
	}
	if len(d.Searches) > MaxDNSSearches {
		e.add(p+".searches", "must not have more than %d search domains, has %d", MaxDNSSearches, len(d.Searches))
	}
	if n := len(strings.Join(d.Searches, " ")); n > MaxDNSSearchChars {
		e.add(p+".searches", "must not have more than %d characters (including spaces) in the search list, has %d", MaxDNSSearchChars, n)
	}
	for i, s := range d.Searches {
		if name := strings.TrimSuffix(s, "."); len(name) > 253 || !dnsSubdomainRe.MatchString(name) {
			e.add(idx(p+".searches", i), "%q is not a DNS subdomain (lower case letters, digits, '-' and '.', at most 253)", s)
		}
	}
	for i, o := range d.Options {
		op := idx(p+".options", i)
		switch {
		case o.Name == "":
			e.add(op+".name", "is required")
		case strings.ContainsFunc(o.Name, badOptionRune) || strings.Contains(o.Name, ":"):
			e.add(op+".name", "%q must not contain spaces, control characters or ':'", o.Name)
		}
		if strings.ContainsFunc(o.Value, badOptionRune) {
			e.add(op+".value", "%q must not contain spaces or control characters", o.Value)
		}
	}
}

// badOptionRune reports a rune that cannot be in a resolv.conf option.
func badOptionRune(r rune) bool { return r <= ' ' || r == 0x7f }
