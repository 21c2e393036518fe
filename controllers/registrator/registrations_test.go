package registrator

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"berth.dev/berth/internal/catalog"
)

func TestRegistrationsKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := registrations{dir: dir, log: slog.New(slog.DiscardHandler)}
	if got := s.load(); len(got) != 0 {
		t.Errorf("before anything was saved: %+v", got)
	}
	agent := map[string]catalog.Endpoint{
		"b": {ID: "b", Service: "api", Port: 2, Checks: []catalog.Check{{ID: "b-ttl", Type: catalog.CheckTTL}}},
		"a": {ID: "a", Service: "api", Port: 1},
	}
	s.save(agent)
	if got := s.load(); !reflect.DeepEqual(got, agent) {
		t.Errorf("loaded %+v, want %+v", got, agent)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent-services.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := s.load(); len(got) != 0 {
		t.Errorf("an unreadable file: %+v, want none", got)
	}
	mem := registrations{log: slog.New(slog.DiscardHandler)}
	mem.save(agent)
	if got := mem.load(); len(got) != 0 {
		t.Errorf("without a data directory: %+v, want none", got)
	}
}
