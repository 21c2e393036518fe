package store_test

import (
	"context"
	"fmt"
	"testing"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
	"berth.dev/berth/internal/testenv"
)

// benchStore connects to an embedded etcd with default (not Fast) raft timing.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	ctx := context.Background()
	e, err := embedded.Start(ctx, embedded.Config{
		DataDir:      b.TempDir(),
		ListenClient: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(b)),
		ListenPeer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(b)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return testenv.NewStore(b, store.Config{Endpoints: e.Endpoints()})
}

func BenchmarkTxn(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("puts=%d", n), func(b *testing.B) {
			s, ctx := benchStore(b), context.Background()
			ops := make([]store.Op, n)
			value := make([]byte, 512)
			for i := range ops {
				ops[i] = store.Op{Key: fmt.Sprintf("%sbench/obj-%04d", store.Prefix, i), Value: value, Force: true}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Txn(ctx, ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/put")
		})
	}
}

// BenchmarkListKV1000 lists 1000 raw keys of 512 bytes (objects_test.go's
// BenchmarkList1000 measures the typed layer on top).
func BenchmarkListKV1000(b *testing.B) {
	s, ctx := benchStore(b), context.Background()
	ops := make([]store.Op, 1000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("%sbench/obj-%04d", store.Prefix, i), Value: make([]byte, 512)}
	}
	if _, err := s.Txn(ctx, ops); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		kvs, _, err := s.List(ctx, store.Prefix+"bench/")
		if err != nil || len(kvs) != 1000 {
			b.Fatalf("List = %d, %v", len(kvs), err)
		}
	}
}
