package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Prefix is the root of every key berth writes.
const Prefix = "/berth/v1/"

// DefaultDialTimeout bounds New when Config.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// ReconnectMaxDelay bounds the wait between two attempts to reconnect to an
// etcd member that went away: once it serves again, requests go through
// within about this long. gRPC's own default lets the wait grow to two
// minutes, so that a controller would stay cut off from an etcd that came
// back for up to two minutes after a long outage.
const ReconnectMaxDelay = 2 * time.Second

// maxSendBytes bounds a request the client sends: above any etcd's
// --max-request-bytes that berth suggests.
const maxSendBytes = 64 << 20

var (
	// ErrNotFound is returned (wrapped) when a key, lease or leader does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned (wrapped with the key) when a compare-and-swap lost.
	ErrConflict = errors.New("conflict: the object was changed by someone else")
	// ErrUnavailable is wrapped by errors where etcd could not be reached
	// (deadline exceeded, connection refused, no leader), so callers can report not-ready
	// and retry.
	ErrUnavailable = errors.New("etcd unavailable")
	// ErrPermissionDenied is wrapped by errors where etcd's authentication
	// refused a request: the user's roles do not allow it (SECURITY.md).
	ErrPermissionDenied = errors.New("permission denied by etcd's roles")
)

// Config says how to reach etcd.
type Config struct {
	Endpoints          []string // client URLs
	CACert, Cert, Key  string   // file paths; any set => TLS
	Username, Password string
	DialTimeout        time.Duration // default 5s
	// Observe, when set, is called after every request to etcd made through
	// the Store (not watches) with the operation (get, list, put, delete,
	// txn, grant, revoke, lease_ttl), how long it took and etcd's
	// error (nil when etcd answered, even when the key was absent or a
	// compare did not hold). It must be cheap and safe for concurrent use.
	Observe func(op string, took time.Duration, err error)
}

// KV is one key as etcd stores it.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Version        int64
	Lease          int64
}

// Store is a connection to etcd. It is safe for concurrent use; Close it when done.
type Store struct {
	cli       *clientv3.Client
	endpoints []string
	closed    atomic.Bool
	observe   func(op string, took time.Duration, err error)
}

// track times one request: call the function it returns with etcd's error.
func (s *Store) track(op string) func(error) {
	if s.observe == nil {
		return func(error) {}
	}
	start := time.Now()
	return func(err error) { s.observe(op, time.Since(start), err) }
}

// New connects to etcd and verifies the connection (a linearizable read of Prefix)
// within cfg.DialTimeout or ctx, whichever ends first. A wrong CA, a missing client
// certificate, a wrong password or an unreachable endpoint returns an error naming the
// endpoints and the cause; New never hangs.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("store: connect: no etcd endpoints")
	}
	eps := strings.Join(cfg.Endpoints, ",")
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect %s: %w", eps, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type result struct {
		cli *clientv3.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:            cfg.Endpoints,
			DialTimeout:          timeout,
			DialKeepAliveTime:    5 * time.Second,
			DialKeepAliveTimeout: 3 * time.Second,
			TLS:                  tlsCfg,
			Username:             cfg.Username,
			Password:             cfg.Password,
			MaxCallSendMsgSize:   maxSendBytes,
			MaxCallRecvMsgSize:   math.MaxInt32,
			Logger:               zap.NewNop(),
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
				MinConnectTimeout: timeout,
			})},
		})
		done <- result{cli, err}
	}()
	var cli *clientv3.Client
	select {
	case r := <-done:
		if r.err != nil {
			return nil, connectError(cfg.Endpoints, tlsCfg, r.err)
		}
		cli = r.cli
	case <-ctx.Done():
		go func() { // the client gives up at DialTimeout; release it then
			if r := <-done; r.cli != nil {
				r.cli.Close()
			}
		}()
		return nil, connectError(cfg.Endpoints, tlsCfg, ctx.Err())
	}
	if _, err := cli.Get(ctx, Prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, connectError(cfg.Endpoints, tlsCfg, err)
	}
	return &Store{cli: cli, endpoints: append([]string(nil), cfg.Endpoints...), observe: cfg.Observe}, nil
}

// Close closes the connection. Watches, keep-alives and elections of this Store end.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.cli.Close()
}

// Endpoints returns the client URLs this Store was configured with.
func (s *Store) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// Get returns the key, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	done := s.track("get")
	resp, err := s.cli.Get(ctx, key)
	done(err)
	if err != nil {
		return KV{}, wrapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("store: get %s: %w", key, ErrNotFound)
	}
	return fromKV(resp.Kvs[0]), nil
}

// List returns every key under prefix, sorted by key, and the revision of the read:
// watch from that revision+1 to see every later change.
func (s *Store) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	done := s.track("list")
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	done(err)
	if err != nil {
		return nil, 0, wrapErr("list "+prefix, err)
	}
	kvs := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		kvs[i] = fromKV(kv)
	}
	return kvs, resp.Header.Revision, nil
}

// ListKeys returns the keys under prefix, sorted, without their values.
func (s *Store) ListKeys(ctx context.Context, prefix string) ([]string, error) {
	done := s.track("list")
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	done(err)
	if err != nil {
		return nil, wrapErr("list keys "+prefix, err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys, nil
}

// Revision returns etcd's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	done := s.track("get")
	resp, err := s.cli.Get(ctx, Prefix, clientv3.WithCountOnly())
	done(err)
	if err != nil {
		return 0, wrapErr("revision", err)
	}
	return resp.Header.Revision, nil
}

// Put writes key unconditionally, attached to lease when lease is not 0, and returns
// the revision of the write.
func (s *Store) Put(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	var opts []clientv3.OpOption
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(lease)))
	}
	done := s.track("put")
	resp, err := s.cli.Put(ctx, key, string(value), opts...)
	done(err)
	if err != nil {
		return 0, wrapErr("put "+key, err)
	}
	return resp.Header.Revision, nil
}

// Delete deletes key unconditionally; it reports false when the key was absent.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	done := s.track("delete")
	resp, err := s.cli.Delete(ctx, key)
	done(err)
	if err != nil {
		return false, wrapErr("delete "+key, err)
	}
	return resp.Deleted > 0, nil
}

// DeleteIfAbsent deletes key only while the key absent does not exist:
// the condition is checked and the key deleted in one etcd transaction, so
// a key that absent's creation makes live again is never removed by a
// decision taken before it. It reports whether key was deleted (false,
// nil when key was already gone); when absent exists it deletes nothing
// and returns an error wrapping ErrConflict.
func (s *Store) DeleteIfAbsent(ctx context.Context, key, absent string) (bool, error) {
	done := s.track("txn")
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(absent), "=", 0)).
		Then(clientv3.OpDelete(key)).
		Commit()
	done(err)
	if err != nil {
		return false, wrapErr("delete "+key, err)
	}
	if !resp.Succeeded {
		return false, fmt.Errorf("store: delete %s: %s exists: %w", key, absent, ErrConflict)
	}
	if len(resp.Responses) == 0 {
		return false, nil
	}
	dr := resp.Responses[0].GetResponseDeleteRange()
	return dr != nil && dr.Deleted > 0, nil
}

// DeletePrefix deletes every key under prefix and returns how many it deleted.
// An empty prefix is refused.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, errors.New("store: delete prefix: empty prefix would delete everything")
	}
	done := s.track("delete")
	resp, err := s.cli.Delete(ctx, prefix, clientv3.WithPrefix())
	done(err)
	if err != nil {
		return 0, wrapErr("delete prefix "+prefix, err)
	}
	return resp.Deleted, nil
}

// compact discards history up to rev (for tests of compaction handling).
func (s *Store) compact(ctx context.Context, rev int64) error {
	_, err := s.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if err != nil {
		return wrapErr("compact", err)
	}
	return nil
}

func fromKV(kv *mvccpb.KeyValue) KV {
	return KV{
		Key:            string(kv.Key),
		Value:          kv.Value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Version:        kv.Version,
		Lease:          kv.Lease,
	}
}

// unavailableError marks an error as ErrUnavailable while keeping its message.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// deniedError marks an error as ErrPermissionDenied while keeping its message.
type deniedError struct{ err error }

func (e *deniedError) Error() string        { return e.err.Error() }
func (e *deniedError) Unwrap() error        { return e.err }
func (e *deniedError) Is(target error) bool { return target == ErrPermissionDenied }

// wrapErr prefixes err with "store: what" and marks connection problems
// ErrUnavailable and refusals of etcd's roles ErrPermissionDenied.
func wrapErr(what string, err error) error {
	w := fmt.Errorf("store: %s: %w", what, err)
	if isUnavailable(err) {
		return &unavailableError{w}
	}
	if errors.Is(err, rpctypes.ErrPermissionDenied) || status.Code(err) == codes.PermissionDenied {
		return &deniedError{w}
	}
	return w
}

func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, e := range []error{rpctypes.ErrNoLeader, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrLeaderChanged, rpctypes.ErrStopped, rpctypes.ErrNotCapable} {
		if errors.Is(err, e) {
			return true
		}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return strings.Contains(err.Error(), "connection refused")
}

// connectError names the endpoints and the root cause of a failed connection. gRPC
// reports a failed TLS handshake or a refused connection as a bare deadline; then the
// endpoints are probed by hand to find the cause a user needs to see.
func connectError(endpoints []string, tlsCfg *tls.Config, err error) error {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	unavailable := isUnavailable(err)
	if unavailable {
		if causes := diagnose(endpoints, tlsCfg); len(causes) > 0 {
			msg = joinCauses(endpoints, causes)
			// A certificate every endpoint refuses is a misconfiguration that
			// waiting will not fix: not unavailable, so callers stop retrying.
			unavailable = len(causes) < len(endpoints) || !allTLSFailures(causes)
		}
	}
	w := &connectErr{msg: fmt.Sprintf("store: connect %s: %s", strings.Join(endpoints, ","), msg), err: err}
	if unavailable {
		return &unavailableError{w}
	}
	return w
}

func allTLSFailures(causes []string) bool {
	for _, c := range causes {
		if !strings.Contains(c, "certificate") && !strings.Contains(c, "tls:") && !strings.Contains(c, "x509") {
			return false
		}
	}
	return true
}

// connectErr carries a readable message and keeps the original error for errors.Is.
type connectErr struct {
	msg string
	err error
}

func (e *connectErr) Error() string { return e.msg }
func (e *connectErr) Unwrap() error { return e.err }
