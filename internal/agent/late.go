package agent

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// retryAfter is the Retry-After, in seconds, of a route whose component
// has not started: components start within a second or two of etcd
// answering.
const retryAfter = 1

// lateHandler holds routes on the mux from the start for a component that
// starts later, so that the API never answers 404 for a route it serves:
// until start is called, each request gets 503 Service Unavailable with
// Retry-After and a text body saying what is starting, as Consul answers
// its errors; from then on, the handler given to start. It is safe for
// concurrent use.
type lateHandler struct {
	starting string // "the service catalog is loading"
	h        atomic.Pointer[http.Handler]
}

func newLateHandler(starting string) *lateHandler {
	return &lateHandler{starting: starting}
}

// start hands every request to h from now on; calls after the first do
// nothing.
func (l *lateHandler) start(h http.Handler) { l.h.CompareAndSwap(nil, &h) }

// started reports whether start has been called.
func (l *lateHandler) started() bool { return l.h.Load() != nil }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := l.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	http.Error(w, "berth is starting: "+l.starting+"; retry in "+strconv.Itoa(retryAfter)+"s", http.StatusServiceUnavailable)
}
