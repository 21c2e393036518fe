package cli

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func (a *app) logsCommand() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs unit NAME [-f] [--tail N] [--since D] [--timestamps] [--host H] | logs timer NAME [--run N] ...",
		Short: "Print the logs of a Unit's container, read from the controller of the host that runs it",
		Long: `logs prints the output of a Unit's container. It finds the hosts that run
the Unit from their status, and reads the logs through the HTTP API of each
host's controller (the address its Host record carries).

When the Unit runs on several hosts and --host is not given, every line is
prefixed with "[<host>] " and the hosts' output is merged as it comes.
-f follows the output until interrupted.

A controller that serves its API over HTTPS (its Host record says so) is
trusted with --api-cacert, else with the system's CAs; one that asks for a
token gets the one in --api-token-file.

Each request names the host it is meant for, and only that host's
controller answers it: a host whose record gives an address that reaches
another controller from here (a loopback address of another machine) is
reported unreachable, never shown with another host's logs.

logs timer NAME prints the output of a Timer's run: the last one, or run N
with --run N, from each host it ran on (status timer NAME lists them). A
run's container, and so its logs, is kept while the run is in the Timer's
history (successfulRunsHistory, failedRunsHistory).`,
		Example: `  applyctl logs unit todo
  applyctl logs unit todo -f --tail 20
  applyctl logs unit todo --since 10m --timestamps --host host-a
  applyctl logs timer backup --run 12`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, names, err := kindAndNames(args)
			if err != nil {
				return err
			}
			if kind != v1.KindUnit && kind != v1.KindTimer {
				return usagef("logs is for units and timers, not %ss", strings.ToLower(kind))
			}
			if len(names) != 1 {
				return usagef("logs needs one NAME: logs unit NAME, or logs timer NAME")
			}
			if o.run < 0 || (o.run != 0 && kind != v1.KindTimer) {
				return usagef("--run N is the number of one of a timer's runs: logs timer NAME --run N")
			}
			o.kind = strings.ToLower(kind)
			if o.tail < -1 {
				return usagef("--tail %d: want a number of lines (0 or more), or -1 for all", o.tail)
			}
			if o.since != "" {
				if _, err := parseSince(o.since); err != nil {
					return usageError{err}
				}
			}
			return a.logs(cmd.Context(), names[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "follow the output until interrupted")
	f.IntVar(&o.tail, "tail", -1, "number of lines to show from the end (-1: all)")
	f.StringVar(&o.since, "since", "", "only output since this long ago (10m) or this RFC 3339 time")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix every line with its RFC 3339 time")
	f.StringVar(&o.host, "host", "", "only the instance on this host")
	f.Int64Var(&o.run, "run", 0, "timers: the run to show (default: the last one)")
	return cmd
}

// logsOptions are the flags of logs, passed on to the controller.
type logsOptions struct {
	kind       string // "unit" (default) or "timer"
	run        int64  // a Timer's run; 0: its last
	follow     bool
	tail       int // -1: all
	since      string
	timestamps bool
	host       string
}

// parseSince checks --since: a duration (10m) or an RFC 3339 time.
func parseSince(s string) (string, error) {
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return s, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return s, nil
	}
	return "", fmt.Errorf("--since %s: want a duration such as 10m or an RFC 3339 time", s)
}

// query is the query string of the controller's /v1/logs endpoint.
func (o logsOptions) query() string {
	q := url.Values{}
	if o.follow {
		q.Set("follow", "true")
	}
	if o.tail >= 0 {
		q.Set("tail", strconv.Itoa(o.tail))
	}
	if o.since != "" {
		q.Set("since", o.since)
	}
	if o.timestamps {
		q.Set("timestamps", "true")
	}
	if o.run > 0 {
		q.Set("run", strconv.FormatInt(o.run, 10))
	}
	return q.Encode()
}

// logSource is where the logs of one instance are read.
type logSource struct {
	host   string
	scheme string // "http" or "https", as the host record says
	addr   string // the controller's HTTP address, host:port
}

func (a *app) logs(ctx context.Context, name string, o logsOptions) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var srcs []logSource
	if o.kind == "timer" {
		srcs, o.run, err = a.timerLogSources(ctx, st, name, o.run, o.host)
	} else {
		srcs, err = a.logSources(ctx, st, name, o.host)
	}
	if err != nil {
		return err
	}
	c, err := a.controllerClient()
	if err != nil {
		return err
	}
	if len(srcs) == 1 {
		return a.copyLogs(ctx, c, srcs[0], name, o, a.out, "")
	}
	// Several hosts: whole lines, prefixed, merged as they come.
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(srcs))
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.copyLogs(ctx, c, s, name, o, &lockedWriter{mu: &mu, w: a.out}, "["+s.host+"] ")
		}()
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	for _, err := range failed[:len(failed)-1] {
		fmt.Fprintf(a.err, "Error: %s\n", err)
	}
	return failed[len(failed)-1]
}

// logSources finds the hosts that run a Unit (only host, when set) and
// their controllers' HTTP addresses.
func (a *app) logSources(ctx context.Context, st *store.Store, name, host string) ([]logSource, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	if _, err := store.GetObject(ctx, st, v1.KindUnit, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(v1.KindUnit, name)
		}
		return nil, storeErr(err)
	}
	insts, err := store.ObjectStatuses(ctx, st, v1.KindUnit, name)
	if err != nil {
		return nil, storeErr(err)
	}
	var srcs []logSource
	for _, in := range insts {
		if host != "" && in.Host != host {
			continue
		}
		src, err := hostLogSource(ctx, st, in.Host, ref(v1.KindUnit, name))
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		if host != "" {
			return nil, fmt.Errorf("%s %q has no instance on host %s", strings.ToLower(v1.KindUnit), name, host)
		}
		return nil, fmt.Errorf("%s %q has no instance", strings.ToLower(v1.KindUnit), name)
	}
	return srcs, nil
}

// hostLogSource is where the logs of what host runs (what: "unit/web")
// are read: its controller's address, from its host record.
func hostLogSource(ctx context.Context, st *store.Store, host, what string) (logSource, error) {
	h, err := store.GetHost(ctx, st, host)
	if errors.Is(err, store.ErrNotFound) {
		return logSource{}, fmt.Errorf("host %s, which runs %s, has no host record", host, what)
	}
	if err != nil {
		return logSource{}, storeErr(err)
	}
	addr := dialAddress(h)
	if addr == "" {
		return logSource{}, fmt.Errorf("host %s has no HTTP address in its host record", host)
	}
	return logSource{host: host, scheme: apiScheme(h), addr: addr}, nil
}

// dialAddress is where to reach a host's controller: its HTTP address,
// with the host's first address (else loopback) when it listens on every
// address (":8500", "0.0.0.0:8500").
func dialAddress(h *v1.Host) string {
	addr := h.Status.HTTPAddress
	hostPart, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(hostPart); hostPart == "" || (ip != nil && ip.IsUnspecified()) {
		hostPart = "127.0.0.1"
		if len(h.Status.Addresses) > 0 {
			hostPart = h.Status.Addresses[0]
		}
		return net.JoinHostPort(hostPart, port)
	}
	return addr
}

// apiScheme is how a host's controller speaks its HTTP API.
func apiScheme(h *v1.Host) string {
	if h.Status.HTTPScheme == "https" {
		return "https"
	}
	return "http"
}

// controllerClient talks to controllers' HTTP APIs: connecting and the
// answer's headers are bounded by --request-timeout, a followed body is
// not. It sends the token of --api-token-file, when given, as
// Authorization: Bearer, and trusts the CA of --api-cacert (else the
// system's) for controllers that serve HTTPS.
type controllerClient struct {
	http      *http.Client
	token     string
	tokenFile string
}

// controllerClient reads --api-token-file and --api-cacert. Its errors
// name the file, never the token.
func (a *app) controllerClient() (*controllerClient, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.apiCACert != "" {
		b, err := os.ReadFile(a.apiCACert)
		if err != nil {
			return nil, fmt.Errorf("--api-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--api-cacert %s: no PEM certificate in it", a.apiCACert)
		}
		tlsConf.RootCAs = pool
	}
	c := &controllerClient{tokenFile: a.apiTokenFile, http: &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // controllers are reached directly
			DialContext:           (&net.Dialer{Timeout: a.requestTimeout}).DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   a.requestTimeout,
			ResponseHeaderTimeout: a.requestTimeout,
			DisableCompression:    true,
		},
		// The token goes to the address of the host record, nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if a.apiTokenFile != "" {
		b, err := os.ReadFile(a.apiTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--api-token-file: %w", err)
		}
		if c.token = strings.TrimSpace(string(b)); c.token == "" {
			return nil, fmt.Errorf("--api-token-file %s: the file is empty; it should hold the controllers' token", a.apiTokenFile)
		}
	}
	return c, nil
}

// loopbackAddr reports whether host:port names this machine's loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// openLogs starts a request for the logs of a Unit on one host and returns
// the body of a 200 answer.
func openLogs(ctx context.Context, c *controllerClient, s logSource, name string, o logsOptions) (io.ReadCloser, error) {
	u := url.URL{Scheme: cmp.Or(s.scheme, "http"), Host: s.addr, Path: "/v1/logs/" + cmp.Or(o.kind, "unit") + "/" + url.PathEscape(name), RawQuery: o.query()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		if u.Scheme != "https" && !loopbackAddr(s.addr) {
			return nil, fmt.Errorf("host %s serves its API over plain HTTP at %s: the token of --api-token-file is not sent in clear; give that controller --tls-cert and --tls-key", s.host, s.addr)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set(v1.HeaderHost, s.host)
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			return nil, fmt.Errorf("host %s (%s) did not answer: %w (give the CA of its certificate with --api-cacert)", s.host, s.addr, err)
		}
		return nil, fmt.Errorf("host %s (%s) did not answer: %w", s.host, s.addr, err)
	}
	// A controller names itself: another host's, reached through an
	// address this record shares with it, is not this host's.
	if other := resp.Header.Get(v1.HeaderHost); resp.StatusCode == http.StatusMisdirectedRequest || (other != "" && other != s.host) {
		resp.Body.Close()
		return nil, misdirected(s, other)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		msg := strings.TrimSpace(string(b))
		if resp.StatusCode == http.StatusForbidden {
			return nil, c.refused(s, msg)
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, fmt.Errorf("host %s (%s): %s", s.host, s.addr, msg)
	}
	return resp.Body, nil
}

// misdirected is the error of an answer from the controller of another
// host (other, "" when it did not say) at the address of s's host record.
func misdirected(s logSource, other string) error {
	who := "the controller of another host"
	if other != "" {
		who = "host " + other + "'s controller"
	}
	why := "(the records of two hosts give that address)"
	if loopbackAddr(s.addr) {
		why = "(a loopback address reaches this machine only: if host " + s.host +
			"'s controller runs on another machine, give it a --listen address this machine can reach)"
	}
	return fmt.Errorf("host %s is unreachable from here: its host record gives %s, where %s answers %s", s.host, s.addr, who, why)
}

// refused is the error of a 403 from a host's controller, saying which
// flag would help.
func (c *controllerClient) refused(s logSource, msg string) error {
	switch {
	case strings.Contains(msg, "no --api-token-file"):
		return fmt.Errorf("host %s refused: its controller has no --api-token-file, so it serves logs to its own loopback address only", s.host)
	case c.token == "":
		return fmt.Errorf("host %s refused: a token is required (--api-token-file)", s.host)
	}
	return fmt.Errorf("host %s refused the token of --api-token-file %s", s.host, c.tokenFile)
}

// copyLogs streams the logs of one instance to w, prefixing each line with
// prefix when it is set. It returns nil when ctx ends (an interrupted -f).
func (a *app) copyLogs(ctx context.Context, c *controllerClient, s logSource, name string, o logsOptions, w io.Writer, prefix string) error {
	body, err := openLogs(ctx, c, s, name, o)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer body.Close()
	if prefix == "" {
		_, err = io.Copy(w, body)
	} else {
		err = prefixLines(w, body, prefix)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("host %s (%s): reading the logs: %w", s.host, s.addr, err)
	}
	return nil
}

// prefixLines copies r to w line by line, each line written whole with
// prefix before it.
func prefixLines(w io.Writer, r io.Reader, prefix string) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !strings.HasSuffix(line, "\n") {
				line += "\n"
			}
			if _, werr := io.WriteString(w, prefix+line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// lockedWriter serialises writes of several goroutines to one writer.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
