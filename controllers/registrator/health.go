package registrator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
)

// maxOutput caps a check's output, as Consul's OutputMaxSize does.
const maxOutput = 4096

// runner runs one check of one endpoint and keeps its verdict.
type runner struct {
	def       catalog.Check
	defKey    string // the definition it runs; a new one replaces the runner
	container string
	// resolve, when set, says before every run of an exec check which
	// container it may run in (the ID returned), or refuses it.
	resolve func(ctx context.Context, container string) (string, error)
	cancel  context.CancelFunc
	// ran counts each result in berth_health_checks_total.
	ran func(typ string, result v1.CheckStatus)

	mu            sync.Mutex
	status        v1.CheckStatus
	output        string
	successes     int
	failures      int
	criticalSince time.Time
	ttlDeadline   time.Time
}

func (r *runner) state() (v1.CheckStatus, string, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.output, r.criticalSince
}

// record applies one result with the thresholds, and reports whether the
// verdict or output changed.
func (r *runner) record(result v1.CheckStatus, output string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	before, beforeOut := r.status, r.output
	r.output = truncate(output)
	switch result {
	case v1.CheckPassing:
		r.successes++
		r.failures = 0
		if r.successes >= max(1, r.def.SuccessBeforePassing) {
			r.status = v1.CheckPassing
		}
	case v1.CheckWarning:
		r.successes, r.failures = 0, 0
		r.status = v1.CheckWarning
	default:
		r.failures++
		r.successes = 0
		if r.failures >= max(1, r.def.FailuresBeforeCritical) {
			r.status = v1.CheckCritical
		}
	}
	if r.status == v1.CheckCritical {
		if before != v1.CheckCritical || r.criticalSince.IsZero() {
			r.criticalSince = time.Now()
		}
	} else {
		r.criticalSince = time.Time{}
	}
	return before != r.status || beforeOut != r.output
}

func truncate(s string) string {
	if len(s) > maxOutput {
		return s[:maxOutput]
	}
	return s
}

// run probes until ctx ends; changed is called when the verdict or output
// moves.
func (r *runner) run(ctx context.Context, rt runtime.Runtime, changed func()) {
	if r.def.Type == catalog.CheckTTL {
		r.runTTL(ctx, changed)
		return
	}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = atLeast(r.def.Interval, DefaultCheckInterval, v1.MinCheckInterval)
		timeout := atLeast(r.def.Timeout, DefaultCheckTimeout, v1.MinCheckTimeout)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		result, out := r.probeOnce(pctx, rt)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.ran(r.def.Type, result)
		if r.record(result, out) {
			changed()
		}
	}
}

// probeOnce runs the check once, in the container resolve allows when it
// is set.
func (r *runner) probeOnce(ctx context.Context, rt runtime.Runtime) (v1.CheckStatus, string) {
	container := r.container
	if r.resolve != nil && r.def.Type == catalog.CheckExec {
		var err error
		if container, err = r.resolve(ctx, r.container); err != nil {
			return v1.CheckCritical, err.Error()
		}
	}
	return probe(ctx, rt, r.def, container)
}

// atLeast is d, or def when d is not set, and never less than floor: the
// runner holds berth's floors whatever the definition says.
func atLeast(d, def, floor time.Duration) time.Duration {
	if d <= 0 {
		d = def
	}
	return max(d, floor)
}

// ttl is the check's TTL, at least v1.MinCheckInterval.
func (r *runner) ttl() time.Duration { return max(r.def.TTL, v1.MinCheckInterval) }

// runTTL turns the check critical when no update came within its TTL.
func (r *runner) runTTL(ctx context.Context, changed func()) {
	for {
		r.mu.Lock()
		deadline := r.ttlDeadline
		r.mu.Unlock()
		if deadline.IsZero() {
			deadline = time.Now().Add(r.ttl())
			r.mu.Lock()
			r.ttlDeadline = deadline
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline)):
		}
		r.mu.Lock()
		expired := !r.ttlDeadline.After(time.Now())
		r.mu.Unlock()
		if expired {
			r.ran(r.def.Type, v1.CheckCritical)
			if r.record(v1.CheckCritical, fmt.Sprintf("TTL expired: no update within %s", r.ttl())) {
				changed()
			}
			r.mu.Lock()
			r.ttlDeadline = time.Now().Add(r.ttl())
			r.mu.Unlock()
		}
	}
}

// update sets a TTL check's status.
func (r *runner) update(status v1.CheckStatus, output string) bool {
	r.ran(r.def.Type, status)
	r.mu.Lock()
	r.ttlDeadline = time.Now().Add(r.ttl())
	r.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	before, beforeOut := r.status, r.output
	r.status, r.output = status, truncate(output)
	if status == v1.CheckCritical {
		if before != v1.CheckCritical {
			r.criticalSince = time.Now()
		}
	} else {
		r.criticalSince = time.Time{}
	}
	return before != r.status || beforeOut != r.output
}

var checkClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // Consul's checks do not verify either, unless told to
}

// probe runs one check once: http (2xx passing, 429 warning, else
// critical), tcp (connect), exec inside the container (0 passing, 1
// warning, else critical).
func probe(ctx context.Context, rt runtime.Runtime, c catalog.Check, container string) (v1.CheckStatus, string) {
	switch c.Type {
	case catalog.CheckHTTP:
		method := c.Method
		if method == "" {
			method = http.MethodGet
		}
		req, err := http.NewRequestWithContext(ctx, method, c.HTTP, nil)
		if err != nil {
			return v1.CheckCritical, err.Error()
		}
		for k, vs := range c.Header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		// The output is shown on open reads: a password in the URL is not.
		shown := req.URL.Redacted()
		resp, err := checkClient.Do(req)
		if err != nil {
			return v1.CheckCritical, fmt.Sprintf("HTTP %s %s: %v", method, shown, unwrap(err))
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
		out := fmt.Sprintf("HTTP %s %s: %s Output: %s", method, shown, resp.Status, strings.TrimSpace(string(body)))
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return v1.CheckPassing, out
		case resp.StatusCode == http.StatusTooManyRequests:
			return v1.CheckWarning, out
		}
		return v1.CheckCritical, out
	case catalog.CheckTCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return v1.CheckCritical, fmt.Sprintf("TCP connect %s: %v", c.TCP, unwrap(err))
		}
		conn.Close()
		return v1.CheckPassing, fmt.Sprintf("TCP connect %s: Success", c.TCP)
	case catalog.CheckExec:
		if container == "" {
			return v1.CheckCritical, "an exec check needs a container to run in"
		}
		res, err := rt.Exec(ctx, container, c.Exec)
		if err != nil {
			return v1.CheckCritical, fmt.Sprintf("exec %s: %v", strings.Join(c.Exec, " "), err)
		}
		out := strings.TrimSpace(string(res.Output))
		switch res.ExitCode {
		case 0:
			return v1.CheckPassing, out
		case 1:
			return v1.CheckWarning, out
		}
		return v1.CheckCritical, fmt.Sprintf("exit code %d: %s", res.ExitCode, out)
	}
	return v1.CheckCritical, "unknown check type " + c.Type
}

func unwrap(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if in := ue.Unwrap(); in != nil {
			return in
		}
	}
	return err
}
