package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Op is one write of a transaction.
type Op struct {
	Key    string
	Value  []byte // ignored for Delete
	Delete bool
	// ExpectRev is a compare-and-swap on the mod revision: ExpectRev>0 means the key
	// must exist with that ModRevision; ExpectRev==0 means the key must NOT exist
	// (create) unless Force is set. A Delete needs ExpectRev>0 or Force.
	ExpectRev int64
	Force     bool  // write unconditionally
	Lease     int64 // attach to a lease (0 none)
}

// ErrTxnTooLarge is wrapped by the error of a transaction etcd refused for its
// size: more operations than its --max-txn-ops, or more bytes than its
// --max-request-bytes. Nothing of it was written.
var ErrTxnTooLarge = errors.New("transaction too large for etcd")

// Txn writes all ops atomically, in one etcd transaction, and returns its
// revision. With no ops it returns the current revision.
//
// On a failed compare it returns an error wrapping ErrConflict that names
// the first key whose compare failed. When etcd refuses the transaction for
// its size, Txn writes nothing (a transaction is never split, so an apply is
// whole or refused) and returns an error wrapping ErrTxnTooLarge that says
// the server's limit (learnt by asking etcd with transactions that write
// nothing) and the etcd flag that raises it.
func (s *Store) Txn(ctx context.Context, ops []Op) (int64, error) {
	for _, op := range ops {
		if op.Delete && op.ExpectRev == 0 && !op.Force {
			return 0, fmt.Errorf("store: txn: delete %s needs ExpectRev or Force", op.Key)
		}
	}
	if len(ops) == 0 {
		return s.Revision(ctx)
	}
	rev, err := s.txnOnce(ctx, ops)
	if tooLarge(err) {
		return 0, s.tooLargeError(ctx, ops, err)
	}
	return rev, err
}

// tooLargeError explains why etcd refused ops for their size (err).
func (s *Store) tooLargeError(ctx context.Context, ops []Op, err error) error {
	const whole = "nothing was written. berth writes an apply whole or not at all:"
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		limit := "fewer"
		if n := s.maxTxnOps(ctx, len(ops)); n > 0 {
			limit = fmt.Sprintf("at most %d", n)
		}
		return fmt.Errorf("%w: %d operations, and this etcd accepts %s in one (its --max-txn-ops, 128 by default); %s start every etcd member with --max-txn-ops=%d (as berth's embedded etcd) or more",
			ErrTxnTooLarge, len(ops), limit, whole, EmbeddedMaxTxnOps)
	}
	size := 0
	for _, op := range ops {
		size += len(op.Key) + len(op.Value)
	}
	if strings.Contains(err.Error(), "trying to send") { // the client's own limit
		return fmt.Errorf("%w: %d operations of about %d bytes, more than berth sends in one request (%d bytes); nothing was written: apply fewer objects at a time",
			ErrTxnTooLarge, len(ops), size, maxSendBytes)
	}
	return fmt.Errorf("%w: %d operations of about %d bytes, more than this etcd accepts in one request (its --max-request-bytes, 1.5 MiB by default; %v); %s start every etcd member with --max-request-bytes=%d (as berth's embedded etcd) or more",
		ErrTxnTooLarge, len(ops), size, err, whole, EmbeddedMaxRequestBytes)
}

// maxTxnOps finds, by bisection below refused, the largest number of
// operations etcd accepts in one transaction, asking with transactions
// that write nothing (their compare always fails, and their operations are
// reads of Prefix, which every berth role may read). It returns 0 when it
// cannot tell.
func (s *Store) maxTxnOps(ctx context.Context, refused int) int {
	ok, bad := 0, refused
	for bad-ok > 1 {
		n := ok + (bad-ok)/2
		probe := make([]clientv3.Op, n)
		for i := range probe {
			probe[i] = clientv3.OpGet(Prefix, clientv3.WithCountOnly())
		}
		_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(Prefix), "<", 0)).Then(probe...).Commit()
		switch {
		case err == nil:
			ok = n
		case errors.Is(err, rpctypes.ErrTooManyOps):
			bad = n
		default:
			return 0
		}
	}
	return ok
}

// txnOnce writes ops as one etcd transaction.
func (s *Store) txnOnce(ctx context.Context, ops []Op) (int64, error) {
	var cmps []clientv3.Cmp
	var thens, elses []clientv3.Op
	var checked []Op
	for _, op := range ops {
		if !op.Force {
			if op.ExpectRev > 0 {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(op.Key), "=", op.ExpectRev))
			} else {
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(op.Key), "=", 0))
			}
			elses = append(elses, clientv3.OpGet(op.Key, clientv3.WithKeysOnly()))
			checked = append(checked, op)
		}
		switch {
		case op.Delete:
			thens = append(thens, clientv3.OpDelete(op.Key))
		case op.Lease != 0:
			thens = append(thens, clientv3.OpPut(op.Key, string(op.Value), clientv3.WithLease(clientv3.LeaseID(op.Lease))))
		default:
			thens = append(thens, clientv3.OpPut(op.Key, string(op.Value)))
		}
	}
	done := s.track("txn")
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
	done(err)
	if err != nil {
		if tooLarge(err) {
			return 0, err // Txn explains it
		}
		return 0, wrapErr(fmt.Sprintf("txn of %d ops (first %s)", len(ops), ops[0].Key), err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	for i, op := range checked {
		var modRev int64
		if i < len(resp.Responses) {
			if rr := resp.Responses[i].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
				modRev = rr.Kvs[0].ModRevision
			}
		}
		if modRev != op.ExpectRev {
			return 0, fmt.Errorf("store: %s: %w", op.Key, ErrConflict)
		}
	}
	// Unreachable unless etcd changed its semantics; still a conflict.
	return 0, fmt.Errorf("store: %s: %w", checked[0].Key, ErrConflict)
}

// tooLarge reports whether the server refused a transaction for its size.
func tooLarge(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return true
	}
	// gRPC's own message size limit; other ResourceExhausted errors (no space, too many
	// requests) are not about this request's size.
	return status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "larger than max")
}

// Limits of the embedded etcd, raised from etcd's defaults (128 operations in
// a transaction, 1.5 MiB in a request) so that an apply of up to 10000
// objects is one transaction; the error of a transaction another etcd
// refuses (ErrTxnTooLarge) suggests the same values.
const (
	EmbeddedMaxTxnOps       = 10000
	EmbeddedMaxRequestBytes = 32 << 20
)
