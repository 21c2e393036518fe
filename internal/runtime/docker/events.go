package docker

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"berth.dev/berth/internal/runtime"
)

// Events implements runtime.Runtime.
func (c *Client) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event, 64)
	errc := make(chan error, 1)
	res := c.api.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", string(events.ContainerEventType))})
	go func() {
		defer close(out)
		defer close(errc)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-res.Err:
				if err == nil {
					err = io.EOF
				}
				if ctx.Err() == nil {
					errc <- wrap("events", "", err)
				}
				return
			case m := <-res.Messages:
				if m.Type != events.ContainerEventType {
					continue
				}
				select {
				case out <- fromMessage(m):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errc
}

// Attributes of an event that are not the container's labels.
var eventAttributes = map[string]bool{"name": true, "image": true, "exitCode": true, "signal": true, "execID": true}

func fromMessage(m events.Message) runtime.Event {
	action, detail, _ := strings.Cut(string(m.Action), ":")
	ev := runtime.Event{
		ID:     m.Actor.ID,
		Name:   m.Actor.Attributes["name"],
		Action: runtime.EventAction(action),
		Labels: map[string]string{},
	}
	for k, v := range m.Actor.Attributes {
		if !eventAttributes[k] {
			ev.Labels[k] = v
		}
	}
	if ev.Action == runtime.ActionDie {
		ev.ExitCode, _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
	}
	if ev.Action == runtime.ActionHealthStatus {
		ev.Health = health(container.HealthStatus(strings.TrimSpace(detail)))
	}
	switch {
	case m.TimeNano != 0:
		ev.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		ev.Time = time.Unix(m.Time, 0)
	}
	return ev
}
