package controller

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

// report returns whether every check passes, and one line per check.
func (r *readiness) report() (bool, string) {
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
		if err := r.checks[n]; err != nil {
			ok = false
			fmt.Fprintf(&b, "[-] %s: %v\n", n, err)
		} else {
			fmt.Fprintf(&b, "[+] %s ok\n", n)
		}
	}
	return ok, b.String()
}

func (r *readiness) serveHTTP(w http.ResponseWriter, req *http.Request) {
	ok, body := r.report()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, body, "readyz check failed\n")
		return
	}
	fmt.Fprint(w, body, "ok\n")
}
