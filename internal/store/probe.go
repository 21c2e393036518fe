package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// probeTimeout bounds the diagnosis of a failed connection.
const probeTimeout = time.Second

// diagnose explains why endpoints could not be used: gRPC only reports a deadline when
// a TLS handshake fails, so each endpoint is dialled again, by hand, to find the cause
// (connection refused, unknown certificate authority, client certificate required).
// It returns one "endpoint: cause" per endpoint that failed, in order.
func diagnose(endpoints []string, tlsCfg *tls.Config) []string {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	causes := make([]string, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			if err := probe(ctx, ep, tlsCfg); err != nil {
				causes[i] = ep + ": " + err.Error()
			}
		})
	}
	wg.Wait()
	var out []string
	for _, c := range causes {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// probe dials endpoint and, for https, completes a TLS handshake and waits briefly
// for the server's reaction to our client certificate (TLS 1.3 servers reject it
// after the handshake).
func probe(ctx context.Context, endpoint string, tlsCfg *tls.Config) error {
	scheme, host := "http", endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		scheme, host = u.Scheme, u.Host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if scheme != "https" {
		// TCP works; etcd did not answer gRPC in plain text.
		return errors.New("etcd did not answer over plain http (does it serve https?)")
	}
	cfg := &tls.Config{}
	if tlsCfg != nil {
		cfg = tlsCfg.Clone()
	}
	if cfg.ServerName == "" {
		if h, _, err := net.SplitHostPort(host); err == nil {
			cfg.ServerName = h
		}
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	tc.SetReadDeadline(time.Now().Add(probeTimeout / 3))
	if _, err := tc.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		if len(cfg.Certificates) == 0 {
			return fmt.Errorf("%w (the server requires a client certificate: none was given)", err)
		}
		return fmt.Errorf("%w (the server rejected the client certificate)", err)
	}
	return nil
}

// joinCauses formats diagnose's output for an error message.
func joinCauses(endpoints []string, causes []string) string {
	if len(endpoints) == 1 && len(causes) == 1 {
		return strings.TrimPrefix(causes[0], endpoints[0]+": ")
	}
	return strings.Join(causes, "; ")
}
