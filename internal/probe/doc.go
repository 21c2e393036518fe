// Package probe runs health checks once: an HTTP request, a TCP connect or
// a command inside a container. It is the one prober berth has: the
// registrator runs the checks of the service catalog with it (Consul's
// checks, a Service's, a Job's, SERVICE_CHECK_*), the units controller a
// container's own healthCheck.
//
// A Checker runs a Check and says what it found, as a Result: a status
// (passing, warning or critical, as Consul names them) and an output in
// Consul's words, at most MaxOutput (4 KiB) bytes:
//
//	p := probe.New(rt, probe.Consul)
//	res := p.Do(ctx, probe.Check{Type: probe.TypeHTTP, HTTP: "http://127.0.0.1:8080/healthz"})
//	// res.Status == v1.CheckPassing, res.Output == "HTTP GET http://127.0.0.1:8080/healthz: 200 OK Output: ok"
//
// Loop runs a check by a Schedule (at once, then every interval, each run
// bounded by a timeout) until its context ends; the interval is timed by
// the Schedule's Clock, which tests replace with a fake one they step:
//
//	go probe.Loop(ctx, probe.Schedule{Interval: 10 * time.Second, Timeout: 5 * time.Second},
//		func(ctx context.Context) probe.Result { return p.Do(ctx, check) },
//		func(r probe.Result) { record(r) })
//
// A Schedule with a StartInterval runs the check again sooner until it
// first passes (StartInterval, doubling up to the interval), so that what
// waits for a first pass does not wait a whole interval past the moment
// the target answers.
//
// # Rules
//
// The same answer means different things to the two users, so a Checker is
// made with the Rules it maps answers by:
//
//	answer              Consul      Container
//	HTTP 2xx            passing     passing
//	HTTP 3xx            critical    passing   (redirects are not followed)
//	HTTP 429            warning     critical
//	other HTTP status   critical    critical
//	exec exit 0         passing     passing
//	exec exit 1         warning     critical
//	other exit code     critical    critical
//	TCP connected       passing     passing
//	an error            critical    critical
//
// Consul's are those of a Consul agent's checks; Container's those of
// Docker's HEALTHCHECK and Kubernetes' probes, which know no warning.
//
// # What it does not do
//
// It keeps no state: thresholds (Consul's SuccessBeforePassing and
// FailuresBeforeCritical, a container's retries and startPeriod), TTL checks
// (told their status, never probed) and a container's Docker health status
// (read from the engine) belong to the callers, as does where a check
// runs: an exec check runs in the container it names, through the
// runtime.Runtime given to New (its context ends the exec, on Docker as on
// the fake engine), and an HTTP or TCP check from the host, to the address
// it names. HTTP keep-alives are off and redirects are not followed: each
// run is one fresh answer. TLS certificates are verified unless the Check
// says TLSSkipVerify.
package probe
