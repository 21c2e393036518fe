package convert_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/convert"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// inputs are the files of a test case that are converted; the others are
// what they refer to (env files, configs).
func inputs(t *testing.T, dir string) []convert.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []convert.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, "want") {
			continue
		}
		if !strings.HasSuffix(n, ".service") && !strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, "compose") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, convert.File{Name: filepath.Join(dir, n), Data: b})
	}
	return files
}

// hostIn reads the files a test case names relative to its directory.
func hostIn(dir string) convert.Host {
	abs := func(name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(dir, name)
	}
	return convert.Host{
		ReadFile: func(name string) ([]byte, error) { return os.ReadFile(abs(name)) },
		Stat:     func(name string) (os.FileInfo, error) { return os.Stat(abs(name)) },
	}
}

// TestGolden converts each directory of testdata/ and compares the
// manifests and the findings with want.yaml and want.txt (go test
// -update rewrites them). Every manifest must decode and validate as
// applyctl apply checks it.
func TestGolden(t *testing.T) {
	cases, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.IsDir() || c.Name() == "fuzz" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", c.Name())
			absDir, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"DB_PORT": "12345"}
			res, err := convert.Convert(context.Background(), inputs(t, dir), convert.Options{Env: env, WorkingDir: absDir, Host: hostIn(dir)})
			if err != nil {
				t.Fatal(err)
			}
			manifest, err := convert.Manifest(res.Objects, false)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(string(manifest), absDir, "/testdata/"+c.Name())
			var findings strings.Builder
			for _, f := range res.Findings {
				findings.WriteString(f.String() + "\n")
			}
			golden(t, filepath.Join(dir, "want.yaml"), got)
			golden(t, filepath.Join(dir, "want.txt"), findings.String())

			docs, errs := v1.Decode("converted", manifest)
			errs = append(errs, v1.Prepare(docs, nil)...)
			for _, e := range errs {
				t.Errorf("the manifest does not apply: %v", e)
			}
			if len(docs) != len(res.Objects) {
				t.Errorf("%d objects converted, %d documents decoded", len(res.Objects), len(docs))
			}
			list, err := convert.Manifest(res.Objects, true)
			if err != nil {
				t.Fatal(err)
			}
			docs, errs = v1.Decode("converted.json", list)
			errs = append(errs, v1.Prepare(docs, nil)...)
			for _, e := range errs {
				t.Errorf("the JSON list does not apply: %v", e)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
