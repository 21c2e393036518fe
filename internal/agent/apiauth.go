package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/internal/ui"
)

// Reasons of berth_api_requests_denied_total.
const (
	deniedNoToken     = "no_token"
	deniedWrongToken  = "wrong_token"
	deniedNotLoopback = "not_loopback"
)

// apiAuth decides who may use the HTTP API.
//
// Protected requests are the writes (every method but GET and HEAD: the
// Consul agent's register, deregister and check updates) and the
// container logs (/v1/logs/...). With a token, every protected request
// must carry it, from any address, loopback included; reads must carry it
// too when readsNeedToken is set. Without a token, protected requests are
// served to loopback clients only, and reads to everyone. /healthz and
// /readyz are always open, and so are the dashboard's page, scripts and
// styles (ui.IsAsset), which hold no data; /readyz tells why it is not ready only to
// requests that may read (mayRead).
//
// The token is taken from the X-Consul-Token header, an Authorization:
// Bearer header or Consul's ?token= query parameter, in that order, and
// compared in constant time. A refused request gets 403 with a body in
// Consul's words ("Permission denied: ..."), which never repeats the token
// that was sent. A request that carries the right token is marked as such
// (carriesToken), for what only its holders may read. It is safe for
// concurrent use.
type apiAuth struct {
	tokenSum       *[sha256.Size]byte // of the token; nil: no --api-token-file
	readsNeedToken bool
	denied         *prometheus.CounterVec // by reason
	log            *slog.Logger
}

// newAPIAuth returns the API's access control for token (nil: none) and
// registers its counter on reg.
func newAPIAuth(token []byte, readsNeedToken bool, reg prometheus.Registerer, log *slog.Logger) *apiAuth {
	a := &apiAuth{
		readsNeedToken: readsNeedToken,
		log:            log,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_api_requests_denied_total",
			Help: "HTTP API requests refused with 403, by reason: no_token, wrong_token, or not_loopback (a write or logs from another address without --api-token-file).",
		}, []string{"reason"}),
	}
	if token != nil {
		sum := sha256.Sum256(token)
		a.tokenSum = &sum
	}
	for _, r := range []string{deniedNoToken, deniedWrongToken, deniedNotLoopback} {
		a.denied.WithLabelValues(r)
	}
	reg.MustRegister(a.denied)
	return a
}

// Handler wraps next with the access control.
func (a *apiAuth) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uncleanPath(r.URL) {
			// The check below and the router must see the same path: one
			// with an escaped '/', '.' or '..' segments, or '//' could be
			// judged one thing here and routed to another.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("malformed path: no escaped '/', no '.' or '..' segments, no empty segments\n"))
			return
		}
		p := r.URL.Path
		if p == "/healthz" || p == "/readyz" || (ui.IsAsset(p) && (r.Method == http.MethodGet || r.Method == http.MethodHead)) {
			next.ServeHTTP(w, r)
			return
		}
		protected := (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
			p == "/v1/logs" || strings.HasPrefix(p, "/v1/logs/")
		tok, r := requestToken(r)
		valid := tok != "" && a.tokenOK(tok)
		switch {
		case a.tokenSum != nil && (protected || a.readsNeedToken):
			if tok == "" {
				a.deny(w, r, deniedNoToken, "this API needs a token: send it as the X-Consul-Token header or as Authorization: Bearer")
				return
			}
			if !valid {
				a.deny(w, r, deniedWrongToken, "the token sent is not this controller's --api-token-file token")
				return
			}
		case a.tokenSum == nil && protected && !fromLoopback(r):
			a.deny(w, r, deniedNotLoopback, "writes and logs need a token from addresses other than loopback, and this controller has no --api-token-file")
			return
		}
		if valid {
			r = r.WithContext(context.WithValue(r.Context(), tokenCarried{}, true))
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOK reports whether tok is the token, comparing in constant time.
func (a *apiAuth) tokenOK(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return a.tokenSum != nil && subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// mayRead reports whether r may read the API: always when reads are open,
// otherwise when it carries the token. /readyz tells why it is not ready
// only to those.
func (a *apiAuth) mayRead(r *http.Request) bool {
	if a.tokenSum == nil || !a.readsNeedToken {
		return true
	}
	tok, _ := requestToken(r)
	return tok != "" && a.tokenOK(tok)
}

// mayWrite reports whether r may write through the API, by the rules of
// Handler: with a token, when it carries it; without one, from loopback.
// The dashboard offers its actions to those requests only.
func (a *apiAuth) mayWrite(r *http.Request) bool {
	if a.tokenSum != nil {
		return carriesToken(r)
	}
	return fromLoopback(r)
}

// tokenCarried marks, in a request's context, a request that carried the
// --api-token-file token.
type tokenCarried struct{}

// carriesToken reports whether r, as apiAuth passed it on, carried the
// API token: such a read may see the secrets of check definitions (their
// HTTP header values). Without --api-token-file no request carries it.
func carriesToken(r *http.Request) bool {
	v, _ := r.Context().Value(tokenCarried{}).(bool)
	return v
}

// uncleanPath reports whether u's path is not in its clean form, or holds
// an escaped '/'. A trailing '/' is allowed.
func uncleanPath(u *url.URL) bool {
	if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
		return true
	}
	p := u.Path
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return path.Clean("/"+p) != p
}

// deny answers 403 as Consul does, and counts it.
func (a *apiAuth) deny(w http.ResponseWriter, r *http.Request, reason, msg string) {
	a.denied.WithLabelValues(reason).Inc()
	a.log.Debug("API request denied", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte("Permission denied: " + msg + "\n"))
}

// requestToken returns the token r carries ("" for none) and r without
// its ?token= parameter, so that what follows never sees or logs it.
func requestToken(r *http.Request) (string, *http.Request) {
	tok := r.Header.Get("X-Consul-Token")
	if tok == "" {
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(rest)
		}
	}
	if q := r.URL.Query(); q.Has("token") {
		if tok == "" {
			tok = q.Get("token")
		}
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		r = r.WithContext(r.Context()) // a shallow copy, whose URL is replaced
		r.URL = &u
		r.RequestURI = u.RequestURI()
	}
	return tok, r
}

// fromLoopback reports whether r came from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(stripZone(host))
	return ip != nil && ip.IsLoopback()
}
