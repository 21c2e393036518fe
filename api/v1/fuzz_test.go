package v1

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary manifests to the decoder and the validator:
// nothing may panic, and every decoded document must survive defaulting,
// validation and a copy. The seed corpus is testdata/*.yaml and
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _ := Decode("fuzz.yaml", data)
		errs := Prepare(docs, nil)
		for _, e := range errs {
			_ = e.Error()
		}
		for _, d := range docs {
			_ = d.Object.DeepCopyObject()
			_ = SpecOf(d.Object)
			if j, ok := d.Object.(*Job); ok {
				_ = j.ID()
			}
		}
	})
}
