package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// describeService prints a service: its Service object when there is one,
// its endpoints, every check of every endpoint with its full last output,
// and its events. A service that only registration knows (no Service
// object) is described from its endpoints.
func (a *app) describeService(ctx context.Context, st *store.Store, d *describer, name string, now time.Time) error {
	svcs, err := a.readCatalog(ctx, st, name)
	if err != nil {
		return err
	}
	if len(svcs) == 0 {
		return notFound(v1.KindService, name)
	}
	s := &svcs[0]
	if s.object != nil {
		if err := d.object(s.object, v1.KindService, now); err != nil {
			return err
		}
	} else {
		d.field("Name", s.name)
		d.field("Kind", v1.KindService)
		d.field("Source", "registration (no Service object)")
	}
	d.field("Tags", dashList(s.tags()))
	c := s.status()
	d.field("Status", fmt.Sprintf("%d endpoints: %d passing, %d warning, %d critical", c.Endpoints, c.Passing, c.Warning, c.Critical))

	rows := [][]string{{"ID", "HOST", "ADDRESS", "PORT", "STATUS", "TAGS"}}
	checks := 0
	for i := range s.endpoints {
		e := &s.endpoints[i]
		rows = append(rows, []string{e.ID, dash(e.Host), dash(e.Address), endpointPort(e), string(e.Status()), dashList(e.Tags)})
		checks += len(e.Checks)
	}
	d.table("Endpoints", rows)
	if checks == 0 {
		d.field("Checks", "<none>")
	} else {
		fmt.Fprintln(d.w, "Checks:")
		for _, e := range s.endpoints {
			for _, c := range e.Checks {
				name := c.Name
				if name == "" {
					name = dash(c.ID)
				}
				fmt.Fprintf(d.w, "  Check %s (%s) on %s: %s\n", name, dash(c.Type), e.ID, dash(string(c.Status)))
				if out := strings.TrimRight(c.Output, "\n"); out != "" {
					d.indent(out, "    ")
				}
			}
		}
	}
	return a.describeEvents(ctx, st, d, v1.KindService, name, now)
}
