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

// Txn writes all ops atomically and returns the revision of the write.
//
// When the server refuses the transaction as too large (too many operations, or too
// many bytes), Txn splits it into the largest chunks the server accepts (found by
// bisection and remembered for later calls) and writes them in order: each chunk is
// still all-or-nothing and every op is still compared, so no update is lost, but a
// conflict in a later chunk leaves the earlier chunks written. On a failed compare Txn
// returns an error wrapping ErrConflict that names the first key whose compare failed,
// and the revision of the last chunk written (0 if none). With no ops it returns the
// current revision.
func (s *Store) Txn(ctx context.Context, ops []Op) (int64, error) {
	for _, op := range ops {
		if op.Delete && op.ExpectRev == 0 && !op.Force {
			return 0, fmt.Errorf("store: txn: delete %s needs ExpectRev or Force", op.Key)
		}
	}
	if len(ops) == 0 {
		return s.Revision(ctx)
	}
	chunk := len(ops)
	if m := int(s.maxOps.Load()); m > 0 && m < chunk {
		chunk = m
	}
	good, bad := 0, len(ops)+1 // largest size accepted, smallest size refused
	opsLimited := false        // the server refused a chunk for its number of operations
	var rev int64
	for i := 0; i < len(ops); {
		n := min(chunk, len(ops)-i)
		r, err := s.txnOnce(ctx, ops[i:i+n])
		if tooLarge(err) {
			if n == 1 {
				return rev, wrapErr("txn "+ops[i].Key, err)
			}
			bad = n
			if good == 0 {
				chunk = n / 2
			} else {
				chunk = (good + bad) / 2
			}
			opsLimited = opsLimited || errors.Is(err, rpctypes.ErrTooManyOps)
			if opsLimited && good > 0 && bad-good <= 1 {
				s.maxOps.Store(int64(good))
			}
			continue
		}
		if err != nil {
			return rev, err
		}
		rev = r
		i += n
		if n == chunk {
			good = max(good, n)
			if bad-good > 1 && bad <= len(ops) {
				chunk = (good + bad) / 2
			} else if opsLimited && bad-good <= 1 {
				s.maxOps.Store(int64(good))
			}
		}
	}
	return rev, nil
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
			return 0, err
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
