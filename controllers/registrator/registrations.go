package registrator

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"berth.dev/berth/internal/catalog"
)

// registrations keeps the endpoints registered through the agent API in
// <dir>/agent-services.json, so that they outlive a restart of the
// controller, as a Consul agent's do. With no dir they live in memory
// only.
type registrations struct {
	dir string
	log *slog.Logger
}

func (s registrations) file() string {
	if s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, "agent-services.json")
}

// load returns the registrations saved before, by id: none when there is
// no file, or one that does not decode (logged: berth starts without
// them).
func (s registrations) load() map[string]catalog.Endpoint {
	out := map[string]catalog.Endpoint{}
	p := s.file()
	if p == "" {
		return out
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return out
	}
	var list []catalog.Endpoint
	if err := json.Unmarshal(b, &list); err != nil {
		s.log.Warn("agent registrations unreadable; starting without them", "file", p, "err", err)
		return out
	}
	for _, e := range list {
		out[e.ID] = e
	}
	return out
}

// save writes the registrations, sorted by id, replacing the file at once
// (write and rename). A failure is logged: the registrations stand until
// the controller restarts.
func (s registrations) save(agent map[string]catalog.Endpoint) {
	p := s.file()
	if p == "" {
		return
	}
	list := make([]catalog.Endpoint, 0, len(agent))
	for _, e := range agent {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, _ := json.MarshalIndent(list, "", "  ")
	tmp := p + ".tmp"
	err := os.MkdirAll(filepath.Dir(p), 0o755)
	if err == nil {
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		s.log.Warn("save agent registrations: they are lost when the controller restarts", "file", p, "err", err, "fix", "make --data-dir writable")
	}
}
