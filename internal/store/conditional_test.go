package store_test

import (
	"errors"
	"testing"

	"berth.dev/berth/internal/store"
)

// testDeleteIfAbsent: a key is deleted only while the key it depends on
// does not exist, whatever happened to that key before.
func testDeleteIfAbsent(t *testing.T, b backend) {
	s, ctx, p := b.newStore(t), ctxT(t), testPrefix(t)
	put := func(k string) {
		t.Helper()
		if _, err := s.Put(ctx, p+k, []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	present := func(k string) bool {
		t.Helper()
		_, err := s.Get(ctx, p+k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	put("status")
	put("object")
	if ok, err := s.DeleteIfAbsent(ctx, p+"status", p+"object"); ok || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete while the object exists = %v, %v; want false and ErrConflict", ok, err)
	}
	if !present("status") {
		t.Fatal("the status was deleted while its object exists")
	}

	// Deleted then: the condition is on the key's existence now, not on
	// whether it ever existed.
	if _, err := s.Delete(ctx, p+"object"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.DeleteIfAbsent(ctx, p+"status", p+"object"); !ok || err != nil {
		t.Fatalf("delete once the object is gone = %v, %v; want true, nil", ok, err)
	}
	if present("status") {
		t.Fatal("the status is still there")
	}
	if ok, err := s.DeleteIfAbsent(ctx, p+"status", p+"object"); ok || err != nil {
		t.Fatalf("delete of a key already gone = %v, %v; want false, nil", ok, err)
	}
}
