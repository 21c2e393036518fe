package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// MaxOutput caps a Result's Output, as Consul's OutputMaxSize does (4 KiB):
// an HTTP body is read no further, a longer output is cut.
const MaxOutput = 4096

// Type says what a Check probes.
type Type string

// Check types. A TTL check probes nothing (it is told its status), and
// a container's own Docker health status is read, not probed: neither is
// a Type.
const (
	TypeHTTP Type = "http" // a request to a URL
	TypeTCP  Type = "tcp"  // a connection to an address
	TypeExec Type = "exec" // a command inside a container
)

// Check is one probe to run.
type Check struct {
	Type Type

	// HTTP is the full URL an http check asks, with Method (GET when
	// empty) and Header. TLSSkipVerify accepts any certificate.
	HTTP          string
	Method        string
	Header        map[string][]string
	TLSSkipVerify bool

	// TCP is the host:port a tcp check connects to.
	TCP string

	// Exec is the command an exec check runs inside Container (an ID or
	// a name the runtime knows).
	Exec      []string
	Container string
}

// Result is what one probe found.
type Result struct {
	Status v1.CheckStatus
	// Output says what was seen, in Consul's words ("HTTP GET url: 200 OK
	// Output: ...", "TCP connect addr: Success", an exec's output), at
	// most MaxOutput bytes.
	Output string
}

// Passing reports whether the probe passed.
func (r Result) Passing() bool { return r.Status == v1.CheckPassing }

// Rules say how an answer maps to a status.
type Rules int

const (
	// Consul's rules, for the checks of the service catalog: an HTTP
	// answer 2xx is passing, 429 Too Many Requests warning, anything else
	// critical; an exec's exit code 0 is passing, 1 warning, anything else
	// critical.
	Consul Rules = iota
	// Container's rules, for a container's own health check, as Docker's
	// HEALTHCHECK and Kubernetes' probes have them: an HTTP answer from 200
	// to 399 passes, an exec's exit code 0 passes; everything else is
	// critical. They never say warning.
	Container
)

// Checker runs checks. It is safe for concurrent use.
type Checker struct {
	rt       runtime.Runtime
	rules    Rules
	verify   *http.Client
	noVerify *http.Client
}

// New returns a Checker that runs exec checks through rt (nil: exec checks
// are critical) and maps answers by rules.
func New(rt runtime.Runtime, rules Rules) *Checker {
	client := func(skip bool) *http.Client {
		return &http.Client{
			// A check looks at one answer; it does not follow redirects elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{DisableKeepAlives: true,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: skip}}, //nolint:gosec // the check asked for it
		}
	}
	return &Checker{rt: rt, rules: rules, verify: client(false), noVerify: client(true)}
}

// Do runs c once, until it answers or ctx ends (the caller bounds it with
// the check's timeout), and says what it found. A check that cannot be run
// at all (a bad URL, no container, an unknown type) is critical and says
// why; Do never fails otherwise.
func (p *Checker) Do(ctx context.Context, c Check) Result {
	var r Result
	switch c.Type {
	case TypeHTTP:
		r = p.http(ctx, c)
	case TypeTCP:
		r = tcp(ctx, c)
	case TypeExec:
		r = p.exec(ctx, c)
	default:
		r = Result{v1.CheckCritical, fmt.Sprintf("unknown check type %q", c.Type)}
	}
	r.Output = Truncate(r.Output)
	return r
}

func (p *Checker) http(ctx context.Context, c Check) Result {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.HTTP, nil)
	if err != nil {
		return Result{v1.CheckCritical, err.Error()}
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	// The output is shown on open reads: a password in the URL is not.
	shown := req.URL.Redacted()
	client := p.verify
	if c.TLSSkipVerify {
		client = p.noVerify
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{v1.CheckCritical, fmt.Sprintf("HTTP %s %s: %v", method, shown, unwrap(err))}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	out := fmt.Sprintf("HTTP %s %s: %s Output: %s", method, shown, resp.Status, strings.TrimSpace(string(body)))
	return Result{p.rules.httpStatus(resp.StatusCode), out}
}

func (rules Rules) httpStatus(code int) v1.CheckStatus {
	switch {
	case code >= 200 && code < 300:
		return v1.CheckPassing
	case rules == Container && code >= 300 && code < 400:
		return v1.CheckPassing
	case rules == Consul && code == http.StatusTooManyRequests:
		return v1.CheckWarning
	}
	return v1.CheckCritical
}

func tcp(ctx context.Context, c Check) Result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.TCP)
	if err != nil {
		return Result{v1.CheckCritical, fmt.Sprintf("TCP connect %s: %v", c.TCP, unwrap(err))}
	}
	conn.Close()
	return Result{v1.CheckPassing, fmt.Sprintf("TCP connect %s: Success", c.TCP)}
}

func (p *Checker) exec(ctx context.Context, c Check) Result {
	switch {
	case c.Container == "":
		return Result{v1.CheckCritical, "an exec check needs a container to run in"}
	case len(c.Exec) == 0:
		return Result{v1.CheckCritical, "an exec check needs a command"}
	case p.rt == nil:
		return Result{v1.CheckCritical, "exec checks cannot run here: no container runtime"}
	}
	res, err := p.rt.Exec(ctx, c.Container, c.Exec)
	if err != nil {
		return Result{v1.CheckCritical, fmt.Sprintf("exec %s: %v", strings.Join(c.Exec, " "), err)}
	}
	out := strings.TrimSpace(string(res.Output))
	switch {
	case res.ExitCode == 0:
		return Result{v1.CheckPassing, out}
	case res.ExitCode == 1 && p.rules == Consul:
		return Result{v1.CheckWarning, out}
	}
	return Result{v1.CheckCritical, fmt.Sprintf("exit code %d: %s", res.ExitCode, out)}
}

// Truncate cuts s to MaxOutput bytes, as Do cuts an output: for what a
// check is told rather than finds (a TTL check's update).
func Truncate(s string) string {
	if len(s) > MaxOutput {
		return s[:MaxOutput]
	}
	return s
}

// unwrap drops the outer layer of err (the URL and method an *url.Error
// repeats, the "dial tcp" of a *net.OpError): the output names them once.
func unwrap(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if in := ue.Unwrap(); in != nil {
			return in
		}
	}
	return err
}
