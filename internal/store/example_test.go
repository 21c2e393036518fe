package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/store/embedded"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "berth-etcd-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// An embedded single-member etcd; a real deployment would use store.New with the
	// cluster's endpoints instead. (Fixed ports keep the example short.)
	etcd, err := embedded.Start(ctx, embedded.Config{
		DataDir:      dir,
		ListenClient: "http://127.0.0.1:23790",
		ListenPeer:   "http://127.0.0.1:23800",
		Fast:         true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer etcd.Close()

	s, err := store.New(ctx, store.Config{Endpoints: etcd.Endpoints()})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Create two objects in one transaction: ExpectRev 0 means "must not exist yet".
	key := store.Prefix + "objects/unit/todo"
	if _, err := s.Txn(ctx, []store.Op{
		{Key: key, Value: []byte(`{"image":"todo:1"}`)},
		{Key: store.Prefix + "objects/unit/db", Value: []byte(`{"image":"sqlite:1"}`)},
	}); err != nil {
		log.Fatal(err)
	}

	// Update with compare-and-swap on the revision that was read.
	kv, err := s.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Txn(ctx, []store.Op{{Key: key, Value: []byte(`{"image":"todo:2"}`), ExpectRev: kv.ModRevision}}); err != nil {
		log.Fatal(err)
	}

	kvs, _, err := s.List(ctx, store.Prefix+"objects/unit/")
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Printf("%s %s version %d\n", kv.Key, kv.Value, kv.Version)
	}
	// Output:
	// /berth/v1/objects/unit/db {"image":"sqlite:1"} version 1
	// /berth/v1/objects/unit/todo {"image":"todo:2"} version 2
}
