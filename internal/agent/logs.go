package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// LogsHandler serves GET /v1/logs/{kind}/{name}: the output of this host's
// container of a Unit, Job or Timer (kind "unit", "job" or "timer"; a
// Timer's run=N, else its latest run here), found by its labels
// (berth.dev/host=host, berth.dev/kind, berth.dev/name, and for a run
// berth.dev/version), as text/plain.
// applyctl logs and status read it.
//
// Query parameters: follow=true|1 keeps the response open and flushes new
// output as it comes until the client goes away (or the container stops);
// tail=N the last N lines (default all); since= an RFC 3339 time, or a Go
// duration such as 10m meaning that long ago; timestamps=true prefixes
// every line with its RFC 3339 time.
//
// A request may name the host it means to reach in the X-Berth-Host header
// (v1.HeaderHost), as applyctl does with the name of the Host record it
// took the address from: when that is not this host, it answers 421
// Misdirected Request, so a record of another machine that gives a
// loopback address never gets this host's logs. Every answer names this
// host in the same header.
//
// It answers 400 for a bad kind or parameter, 404 when this host has no
// container of that object, 503 when the engine cannot be reached, each
// with a one-line text body. It is safe for concurrent use.
func LogsHandler(rt runtime.Runtime, host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(v1.HeaderHost, host)
		if want := r.Header.Get(v1.HeaderHost); want != "" && want != host {
			textError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this is the controller of host %s, not of host %s", host, want))
			return
		}
		name := r.PathValue("name")
		k, selector, err := logsSelector(r, host)
		if err != nil {
			textError(w, http.StatusBadRequest, err.Error())
			return
		}
		opts, err := parseLogOptions(r.URL.Query(), time.Now())
		if err != nil {
			textError(w, http.StatusBadRequest, err.Error())
			return
		}
		ctx := r.Context()
		cs, err := rt.List(ctx, runtime.ListOptions{All: true, Labels: selector})
		if err != nil {
			textError(w, engineStatus(err), fmt.Sprintf("list containers of %s/%s: %v", strings.ToLower(k), name, err))
			return
		}
		c, ok := logContainer(cs)
		if !ok {
			textError(w, http.StatusNotFound, fmt.Sprintf("no container of %s/%s on host %s", strings.ToLower(k), name, host))
			return
		}
		rc, err := rt.Logs(ctx, c.ID, opts)
		if err != nil {
			textError(w, engineStatus(err), fmt.Sprintf("logs of %s/%s (container %s): %v", strings.ToLower(k), name, shortContainerID(c.ID), err))
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Berth-Container", c.ID)
		w.WriteHeader(http.StatusOK)
		if !opts.Follow {
			_, _ = io.Copy(w, rc)
			return
		}
		follow(w, rc)
	})
}

// logsSelector returns the kind a logs request names and the labels of
// the containers it asks for, or an error saying what is wrong with it.
func logsSelector(r *http.Request, host string) (string, map[string]string, error) {
	kind, name := r.PathValue("kind"), r.PathValue("name")
	var k string
	switch strings.ToLower(kind) {
	case "unit", "units":
		k = v1.KindUnit
	case "job", "jobs":
		k = v1.KindJob
	case "timer", "timers":
		k = v1.KindTimer
	default:
		return "", nil, fmt.Errorf("unsupported kind %q: use unit, job or timer", kind)
	}
	selector := map[string]string{v1.LabelHost: host, v1.LabelKind: k, v1.LabelName: name}
	if run := r.URL.Query().Get("run"); run != "" {
		if k != v1.KindTimer {
			return "", nil, errors.New("run= is for timers")
		}
		if n, err := strconv.ParseInt(run, 10, 64); err != nil || n < 1 {
			return "", nil, fmt.Errorf("run=%s: want the number of a run (1 or more)", run)
		}
		selector[v1.LabelVersion] = run
	}
	return k, selector, nil
}

// follow copies rc to w as it comes, flushing each piece, until rc ends
// (the container stopped, or the request's context ended) or the client
// goes away.
func follow(w http.ResponseWriter, rc io.Reader) {
	rcl := http.NewResponseController(w)
	_ = rcl.Flush() // the client sees the answer before any new output
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if rcl.Flush() != nil {
				return
			}
		}
		if rerr != nil {
			return // io.EOF: the container stopped; else ctx ended
		}
	}
}

// parseLogOptions reads the query of a logs request; now is what since=10m
// counts back from.
func parseLogOptions(q url.Values, now time.Time) (runtime.LogOptions, error) {
	opts := runtime.LogOptions{Tail: -1}
	var err error
	if opts.Follow, err = boolParam(q, "follow"); err != nil {
		return opts, err
	}
	if opts.Timestamps, err = boolParam(q, "timestamps"); err != nil {
		return opts, err
	}
	if v := q.Get("tail"); v != "" && v != "all" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("tail=%s: want a number of lines (0 or more) or all", v)
		}
		opts.Tail = n
	}
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			opts.Since = t
		} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			opts.Since = now.Add(-d)
		} else {
			return opts, fmt.Errorf("since=%s: want an RFC 3339 time (2026-11-26T07:52:29Z) or a duration such as 10m", v)
		}
	}
	return opts, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%s: want true or false", name, v)
	}
	return b, nil
}

// logContainer picks the container whose logs are shown among those of one
// object on this host: the running one, else the one created last (a Job
// may have one per version).
func logContainer(cs []runtime.Container) (runtime.Container, bool) {
	var best runtime.Container
	found := false
	for _, c := range cs {
		switch {
		case !found:
		case (c.State == runtime.StateRunning) != (best.State == runtime.StateRunning):
			if c.State != runtime.StateRunning {
				continue
			}
		case !c.Created.After(best.Created):
			continue
		}
		best, found = c, true
	}
	return best, found
}

// engineStatus is the HTTP status of an engine error.
func engineStatus(err error) int {
	switch {
	case errors.Is(err, runtime.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, runtime.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func textError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
