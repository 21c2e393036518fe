package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDataDirMade: a controller whose --data-dir does not exist yet, its
// parent neither, creates it (mode 0700) and starts on it.
func TestDataDirMade(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "never", "berth")
	stop := start(t, cfg)
	eventually(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := get("http://" + cfg.Listen + "/readyz")
		return code == 200, body
	})
	fi, err := os.Stat(cfg.DataDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v, want a directory with mode 0700", fi, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "etcd")); err != nil {
		t.Errorf("the embedded etcd's data is not in the data directory: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirMessages: a data directory that cannot be made stops the
// controller at start, before it listens, with a message naming the flag,
// the directory and what to do.
func TestDataDirMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, dataDir string
		want          []string
	}{
		{"under a file", filepath.Join(file, "berth"),
			[]string{"--data-dir " + filepath.Join(file, "berth") + ": cannot create it:", "not a directory",
				"create it (mkdir -p -m 0700 " + filepath.Join(file, "berth") + "), or set --data-dir to a directory the controller can create"}},
		{"a file", file, []string{"--data-dir " + file + ": is a file, not a directory: move it away, or set --data-dir to a directory"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.DataDir = tt.dataDir
			err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Run = %v, want an error saying %q", err, w)
				}
			}
			if code, _ := get("http://" + cfg.Listen + "/healthz"); code != 0 {
				t.Errorf("something answers on --listen after Run returned: %d", code)
			}
		})
	}
	var logs bytes.Buffer
	fresh := filepath.Join(dir, "fresh")
	if err := makeDataDir(fresh, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "created the data directory") || !strings.Contains(logs.String(), "dir="+fresh) {
		t.Errorf("no line saying %s was created:\n%s", fresh, logs.String())
	}
}
