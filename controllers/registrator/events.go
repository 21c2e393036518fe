package registrator

import (
	"context"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// ownerEvent records an event about the Unit or Job that owns e, if any.
func (r *Registrator) ownerEvent(ctx context.Context, e catalog.Endpoint, reason, format string, args ...any) {
	if r.o.Events == nil || e.OwnerKind == "" || e.OwnerName == "" {
		return
	}
	r.o.Events.Event(ctx, e.OwnerKind, e.OwnerName, v1.EventNormal, reason, format, args...)
}

// warnEvent records a warning about the object that declared e: the Unit
// or Job that owns it, or the Service of a static endpoint. Endpoints of
// other containers and of the agent API have none: the log line is all.
func (r *Registrator) warnEvent(ctx context.Context, e catalog.Endpoint, reason, format string, args ...any) {
	if r.o.Events == nil {
		return
	}
	switch {
	case e.OwnerKind != "" && e.OwnerName != "":
		r.o.Events.Event(ctx, e.OwnerKind, e.OwnerName, v1.EventWarning, reason, format, args...)
	case e.Source == catalog.SourceStatic:
		r.o.Events.Event(ctx, v1.KindService, e.Service, v1.EventWarning, reason, format, args...)
	}
}
