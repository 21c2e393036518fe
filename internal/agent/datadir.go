package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// dataDirMode is the mode of a data directory the controller creates: it
// holds etcd's data and the agent's registrations, for root alone.
const dataDirMode = 0o700

// makeDataDir creates the data directory (--data-dir) and its missing
// parents when it does not exist, so that a host that never ran berth
// needs nothing made beforehand. It returns an error naming the flag, the
// directory and what to do when dir cannot be one.
func makeDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("--data-dir %s: is a file, not a directory: move it away, or set --data-dir to a directory", dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("--data-dir %s: %v: let the controller's user reach it, or set --data-dir to another directory", dir, err)
	}
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
		return fmt.Errorf("--data-dir %s: cannot create it: %v: create it (mkdir -p -m 0700 %s), or set --data-dir to a directory the controller can create", dir, err, dir)
	}
	log.Info("created the data directory", "dir", dir, "mode", fmt.Sprintf("%#o", dataDirMode))
	return nil
}
