package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// keyedEvent is an event with the key it is stored under.
type keyedEvent struct {
	key string
	ev  v1.Event
}

// listEvents reads every event, oldest first, and the revision of the read.
func (a *app) listEvents(ctx context.Context, st *store.Store) ([]keyedEvent, int64, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	kvs, rev, err := st.List(ctx, store.AllEventsPrefix)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	out := make([]keyedEvent, 0, len(kvs))
	for _, kv := range kvs {
		if ev, err := store.DecodeEvent(kv); err == nil {
			out = append(out, keyedEvent{kv.Key, ev})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ev.LastTimestamp.Before(out[j].ev.LastTimestamp) })
	return out, rev, nil
}

// eventHeader returns the columns of get events.
func eventHeader(wide bool) []string {
	h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "HOST", "MESSAGE"}
	if wide {
		h = append(h, "FIRST SEEN", "COUNT")
	}
	return h
}

func eventRow(e v1.Event, wide bool, now time.Time) []string {
	r := []string{age(e.LastTimestamp, now), dash(string(e.Type)), dash(e.Reason), ref(e.Object.Kind, e.Object.Name),
		dash(e.Host), dash(e.Message)}
	if wide {
		r = append(r, age(e.FirstTimestamp, now), strconv.Itoa(e.Count))
	}
	return r
}

// getEvents lists every event and, with watch, follows new and repeated
// ones until ctx ends.
func (a *app) getEvents(ctx context.Context, output string, watch bool) error {
	st, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, rev, err := a.listEvents(ctx, st)
	if err != nil {
		return err
	}
	p := &printer{app: a, kind: kindEvent, output: output, printed: map[string]string{}}
	switch {
	case watch:
		for _, e := range evs {
			if err := p.event(e); err != nil {
				return err
			}
		}
		return a.watchEvents(ctx, st, rev, p)
	case output == "json" || output == "yaml":
		items := make([]v1.Event, len(evs))
		for i, e := range evs {
			items[i] = e.ev
		}
		return p.encode(struct {
			APIVersion string     `json:"apiVersion"`
			Kind       string     `json:"kind"`
			Items      []v1.Event `json:"items"`
		}{v1.APIVersion, "List", items})
	case len(evs) == 0:
		fmt.Fprintln(a.err, "No events found.")
		return nil
	}
	wide := output == "wide"
	rows := [][]string{eventHeader(wide)}
	now := a.now()
	for _, e := range evs {
		rows = append(rows, eventRow(e.ev, wide, now))
	}
	p.table.write(a.out, rows)
	return nil
}

// event prints one event unless it was printed as it is.
func (p *printer) event(e keyedEvent) error {
	if p.output == "json" || p.output == "yaml" {
		key := fmt.Sprintf("%d/%s", e.ev.Count, e.ev.LastTimestamp)
		if p.printed[e.key] == key {
			return nil
		}
		p.printed[e.key] = key
		return p.encode(e.ev)
	}
	wide := p.output == "wide"
	row := eventRow(e.ev, wide, p.now())
	key := fmt.Sprintf("%d/%s", e.ev.Count, e.ev.LastTimestamp)
	if p.printed[e.key] == key {
		return nil
	}
	p.printed[e.key] = key
	rows := [][]string{row}
	if !p.header {
		p.header = true
		rows = append([][]string{eventHeader(wide)}, rows...)
	}
	p.table.write(p.out, rows)
	return nil
}

// watchEvents prints the events recorded or repeated after rev until ctx
// ends; after a compaction it lists again and prints what it missed.
func (a *app) watchEvents(ctx context.Context, st *store.Store, rev int64, p *printer) error {
	for {
		compacted, err := a.followEvents(ctx, st, rev+1, p)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return storeErr(err)
		}
		if !compacted {
			return errors.New("watch ended")
		}
		var evs []keyedEvent
		if evs, rev, err = a.listEvents(ctx, st); err != nil {
			return err
		}
		for _, e := range evs {
			if err := p.event(e); err != nil {
				return err
			}
		}
	}
}

func (a *app) followEvents(ctx context.Context, st *store.Store, fromRev int64, p *printer) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for b := range st.Watch(ctx, store.AllEventsPrefix, fromRev) {
		if b.Compacted {
			return true, nil
		}
		if b.Err != nil {
			return false, b.Err
		}
		for _, e := range b.Events {
			if e.Type != store.EventPut {
				continue // expired: it stays on screen as it was
			}
			ev, err := store.DecodeEvent(e.KV)
			if err != nil {
				continue
			}
			if err := p.event(keyedEvent{e.KV.Key, ev}); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
