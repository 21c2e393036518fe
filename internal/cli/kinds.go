package cli

import (
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// kindNames maps what users type to a kind.
var kindNames = map[string]string{
	"unit": v1.KindUnit, "units": v1.KindUnit, "u": v1.KindUnit,
	"job": v1.KindJob, "jobs": v1.KindJob,
	"service": v1.KindService, "services": v1.KindService, "svc": v1.KindService,
	"host": v1.KindHost, "hosts": v1.KindHost,
	"event": kindEvent, "events": kindEvent, "ev": kindEvent,
	"endpoint": kindEndpoint, "endpoints": kindEndpoint, "ep": kindEndpoint,
	"applyset": kindApplySet, "applysets": kindApplySet,
	"gitsource": v1.KindGitSource, "gitsources": v1.KindGitSource, "gs": v1.KindGitSource,
	"timer": v1.KindTimer, "timers": v1.KindTimer,
}

// kindApplySet is what get lists for "applysets": the records of apply
// sets (apply --prune --applyset), not objects.
const kindApplySet = "ApplySet"

// kindEvent is what get lists for "events": not a kind of object, the
// events recorded about objects.
const kindEvent = "Event"

// parseKind returns the kind a user typed ("units", "svc", "Unit"), or a
// usage error.
func parseKind(s string) (string, error) {
	if k, ok := kindNames[strings.ToLower(s)]; ok {
		return k, nil
	}
	return "", usagef("unknown kind %q: use units (u), jobs, services (svc), endpoints (ep), hosts, events (ev), applysets, gitsources (gs) or timers", s)
}

// kindAndNames reads "KIND [NAME...]" or "KIND/NAME" from the arguments.
func kindAndNames(args []string) (string, []string, error) {
	first := args[0]
	var names []string
	if k, n, ok := strings.Cut(first, "/"); ok {
		if n == "" || len(args) > 1 {
			return "", nil, usagef("use either KIND NAME or KIND/NAME, not %q", strings.Join(args, " "))
		}
		first, names = k, []string{n}
	} else {
		names = args[1:]
	}
	kind, err := parseKind(first)
	return kind, names, err
}

// ref names an object as users write it: unit/todo.
func ref(kind, name string) string { return strings.ToLower(kind) + "/" + name }
