package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

// TestTxnAboveTheServerLimit: against a real etcd started with low
// limits, a transaction the server refuses for its size writes nothing,
// not even part of itself, and says which etcd flag to raise and to what;
// one within the limits is one transaction.
func TestTxnAboveTheServerLimit(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t, testenv.WithFlags("--max-txn-ops=16", "--max-request-bytes=65536"))
	s := testenv.NewStore(t, p.StoreConfig())
	ctx := ctxT(t)
	pfx := testPrefix(t)
	creates := func(n int, size int, name string) []store.Op {
		ops := make([]store.Op, n)
		for i := range ops {
			ops[i] = store.Op{Key: fmt.Sprintf("%s%s-%02d", pfx, name, i), Value: []byte(strings.Repeat("x", size))}
		}
		return ops
	}
	// Within the limit: one transaction, one revision for every key.
	rev, err := s.Txn(ctx, creates(16, 10, "within"))
	if err != nil {
		t.Fatalf("Txn of 16 ops on an etcd of --max-txn-ops=16: %v", err)
	}
	kvs, _, err := s.List(ctx, pfx+"within-")
	if err != nil || len(kvs) != 16 {
		t.Fatalf("List = %d keys, %v; want 16", len(kvs), err)
	}
	for _, kv := range kvs {
		if kv.ModRevision != rev {
			t.Fatalf("%s written at revision %d, the transaction at %d: not one transaction", kv.Key, kv.ModRevision, rev)
		}
	}

	updates := make([]store.Op, 0, 40)
	for _, kv := range kvs {
		updates = append(updates, store.Op{Key: kv.Key, Value: []byte("v2"), ExpectRev: kv.ModRevision})
	}
	updates = append(updates, creates(24, 10, "above")...)
	for _, tc := range []struct {
		name string
		ops  []store.Op
		want []string
	}{
		{"too many operations", updates,
			[]string{"transaction too large for etcd: 40 operations", "this etcd accepts at most 16 in one (its --max-txn-ops", "nothing was written", "etcd member with --max-txn-ops=10000"}},
		{"too many bytes", creates(8, 16<<10, "big"),
			[]string{"transaction too large for etcd: 8 operations", "(its --max-request-bytes", "nothing was written", "--max-request-bytes=33554432"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := s.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Txn(ctx, tc.ops)
			if !errors.Is(err, store.ErrTxnTooLarge) {
				t.Fatalf("Txn of %d ops = %v, want ErrTxnTooLarge", len(tc.ops), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after, err := s.Revision(ctx); err != nil || after != before {
				t.Errorf("revision went from %d to %d (%v): something was written", before, after, err)
			}
			for _, op := range tc.ops {
				kv, err := s.Get(ctx, op.Key)
				if op.ExpectRev == 0 && !errors.Is(err, store.ErrNotFound) || op.ExpectRev > 0 && (err != nil || kv.ModRevision != op.ExpectRev) {
					t.Fatalf("%s was written (%v)", op.Key, err)
				}
			}
		})
	}
}

// TestTxnLimitOfTheEmbeddedEtcd: the embedded etcd takes 10000 operations
// in one transaction, as its documentation says.
func TestTxnLimitOfTheEmbeddedEtcd(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	pfx := testPrefix(t)
	ops := make([]store.Op, 10000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("%s%05d", pfx, i), Value: []byte("x")}
	}
	if _, err := s.Txn(context.Background(), ops); err != nil {
		t.Fatalf("Txn of 10000 ops: %v", err)
	}
	_, err := s.Txn(context.Background(), append(ops, store.Op{Key: pfx + "one-more", Value: []byte("x")}))
	if !errors.Is(err, store.ErrTxnTooLarge) || !strings.Contains(err.Error(), "at most 10000") {
		t.Fatalf("Txn of 10001 ops = %v, want ErrTxnTooLarge naming the limit of 10000", err)
	}
}
