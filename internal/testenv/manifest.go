package testenv

import (
	"os"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

// Manifest reads the manifest file at path and decodes and validates its
// documents as applyctl apply does, failing the test on any problem.
func Manifest(t testing.TB, path string) []*v1.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := v1.Decode(path, b)
	if len(errs) > 0 {
		t.Fatalf("decode: %v", errs)
	}
	if errs := v1.Prepare(docs, nil); len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	return docs
}
