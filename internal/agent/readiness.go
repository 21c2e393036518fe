package agent

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// readiness gathers the named conditions /readyz reports. A check that was
// never set counts as not ready: nothing is ready before it has been seen to be.
type readiness struct {
	mu     sync.Mutex
	checks map[string]error
}

var errNotYet = fmt.Errorf("not checked yet")

func newReadiness(names ...string) *readiness {
	r := &readiness{checks: map[string]error{}}
	for _, n := range names {
		r.checks[n] = errNotYet
	}
	return r
}

// set records the result of a named check; nil is ready.
func (r *readiness) set(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = err
}

// report returns whether every check passes, and one line per check: with
// the reason a check fails when detail is set, "not ready" otherwise.
func (r *readiness) report(detail bool) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.checks))
	for n := range r.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	ok := true
	var b strings.Builder
	for _, n := range names {
		switch err := r.checks[n]; {
		case err == nil:
			fmt.Fprintf(&b, "[+] %s ok\n", n)
		case detail:
			ok = false
			fmt.Fprintf(&b, "[-] %s: %v\n", n, err)
		default:
			ok = false
			fmt.Fprintf(&b, "[-] %s: not ready\n", n)
		}
	}
	return ok, b.String()
}

// handler answers /readyz: 200 when every check passes, 503 otherwise,
// with a line per check. Why a check fails (an etcd or Docker error) is
// told only to the requests that detail allows; the others get the same
// status and lines without it.
func (r *readiness) handler(detail func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ok, body := r.report(detail(req))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, body, "readyz check failed\n")
			return
		}
		fmt.Fprint(w, body, "ok\n")
	})
}
