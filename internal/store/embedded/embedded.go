// Package embedded runs a single-member etcd inside the controller's process,
// for a machine without an etcd cluster. It is apart from package store so
// that a client of etcd, such as applyctl, does not carry an etcd server:
// applyctl's binary is 3.5 MB smaller and starts about 6 ms sooner.
package embedded

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"berth.dev/berth/internal/store"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config configures an embedded single-member etcd.
type Config struct {
	Name         string       // member name, default "berth"
	DataDir      string       // required
	ListenClient string       // e.g. "http://127.0.0.1:2379" (the default), "https://10.0.0.1:2379" with TLS
	ListenPeer   string       // e.g. "http://127.0.0.1:2380" (the default)
	Fast         bool         // tests: heartbeat 10ms, election 100ms (ready in ~35ms)
	Logger       *slog.Logger // receives etcd's error logs; nil discards them
	// TLS serves the https:// listen URLs; required when one is https.
	TLS TLS
}

// TLS is the embedded etcd's TLS, for its clients and its peer
// listener alike, as etcd's --cert-file, --key-file, --trusted-ca-file and
// --client-cert-auth (and their --peer- forms) with one certificate, the
// way hack/certs.sh makes a member's.
type TLS struct {
	CertFile, KeyFile string // the server's certificate and key (PEM)
	// ClientCAFile, when set, makes etcd ask every client (and peer) for a
	// certificate signed by this CA, and refuse those without one.
	ClientCAFile string
}

// Where an embedded etcd listens when Config does not say.
const (
	DefaultListenClient = "http://127.0.0.1:2379"
	DefaultListenPeer   = "http://127.0.0.1:2380"
)

// startTimeout bounds Start when its context has no deadline.
const startTimeout = 60 * time.Second

// Etcd is a running in-process etcd.
type Etcd struct {
	etcd      *embed.Etcd
	endpoints []string
	// closing turns etcd's complaints about its listeners closing, which
	// Close causes, into debug logs.
	closing *atomic.Bool
}

// Start starts a single-member etcd and waits until it is ready, failing with
// a clear error when it cannot (a port in use, a bad data directory) or ctx ends (60s
// when ctx has no deadline). Restarting on the same DataDir keeps every key.
func Start(ctx context.Context, cfg Config) (*Etcd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("store: start embedded etcd: no data directory")
	}
	if cfg.Name == "" {
		cfg.Name = "berth"
	}
	if cfg.ListenClient == "" {
		cfg.ListenClient = DefaultListenClient
	}
	if cfg.ListenPeer == "" {
		cfg.ListenPeer = DefaultListenPeer
	}
	curl, err := url.Parse(cfg.ListenClient)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd: client URL: %w", err)
	}
	purl, err := url.Parse(cfg.ListenPeer)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd: peer URL: %w", err)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*purl}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	if err := embedTLS(ec, cfg.TLS, curl, purl); err != nil {
		return nil, fmt.Errorf("store: start embedded etcd: %w", err)
	}
	ec.MaxTxnOps = max(ec.MaxTxnOps, store.EmbeddedMaxTxnOps)
	ec.MaxRequestBytes = max(ec.MaxRequestBytes, store.EmbeddedMaxRequestBytes)
	if cfg.Fast {
		ec.TickMs = 10
		ec.ElectionMs = 100
	}
	ec.Logger = "zap"
	ec.LogLevel = "error"
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapLogger(cfg.Logger, closing))

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd on %s (data %s): %w", cfg.ListenClient, cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("store: start embedded etcd on %s: %w", cfg.ListenClient, err)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("store: start embedded etcd on %s: not ready: %w", cfg.ListenClient, ctx.Err())
	}
	return &Etcd{etcd: e, endpoints: []string{localURL(*curl)}, closing: closing}, nil
}

// embedTLS sets the TLS of the https:// URLs among client and peer; an
// https:// URL without a certificate is an error, as is a certificate
// that no URL serves.
func embedTLS(ec *embed.Config, t TLS, client, peer *url.URL) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("TLS: a certificate and its key go together")
	}
	if t.CertFile == "" {
		if t.ClientCAFile != "" {
			return errors.New("TLS: a client CA needs a server certificate")
		}
		for _, u := range []*url.URL{client, peer} {
			if u.Scheme == "https" {
				return fmt.Errorf("%s: https needs a server certificate and key", u)
			}
		}
		return nil
	}
	if client.Scheme != "https" && peer.Scheme != "https" {
		return fmt.Errorf("TLS: a server certificate, but neither %s nor %s is https", client, peer)
	}
	info := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.ClientCAFile,
		ClientCertAuth: t.ClientCAFile != "", MinVersion: tls.VersionTLS12}
	if client.Scheme == "https" {
		ec.ClientTLSInfo = info
	}
	if peer.Scheme == "https" {
		ec.PeerTLSInfo = info
	}
	return nil
}

// localURL is where this process reaches a listen URL: an unspecified
// address (0.0.0.0, ::) is dialled on loopback, which a member's
// certificate names (hack/certs.sh puts 127.0.0.1 in each).
func localURL(u url.URL) string {
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		lo := "127.0.0.1"
		if ip.To4() == nil {
			lo = "::1"
		}
		u.Host = net.JoinHostPort(lo, u.Port())
	}
	return u.String()
}

// Endpoints returns the client URLs of the embedded etcd.
func (e *Etcd) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close stops etcd cleanly; the data directory stays intact.
func (e *Etcd) Close() error {
	e.closing.Store(true)
	e.etcd.Close()
	return nil
}

// zapLogger returns a zap logger that forwards etcd's errors to lg, or discards
// everything when lg is nil.
func zapLogger(lg *slog.Logger, closing *atomic.Bool) *zap.Logger {
	if lg == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{lg: lg.With("component", "etcd"), closing: closing})
}

// slogCore is a zapcore.Core writing error-level entries to a slog.Logger.
type slogCore struct {
	lg      *slog.Logger
	attrs   []any
	closing *atomic.Bool
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{lg: c.lg, attrs: append(append([]any(nil), c.attrs...), fieldAttrs(fields)...), closing: c.closing}
}

func (c *slogCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *slogCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	args := append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	if c.closing != nil && c.closing.Load() {
		c.lg.Debug(ent.Message, args...)
		return nil
	}
	c.lg.Error(ent.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func fieldAttrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		args = append(args, k, v)
	}
	return args
}
