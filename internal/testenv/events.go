package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync"

	v1 "berth.dev/berth/api/v1"
)

// Events records events as the controllers' event recorders would write
// them, for a test to read: each as "Kind/name Type Reason: message". It
// is safe for concurrent use.
type Events struct {
	mu   sync.Mutex
	said []string
}

// Event records one event.
func (e *Events) Event(_ context.Context, kind, name string, typ v1.EventType, reason, messageFmt string, args ...any) {
	line := fmt.Sprintf("%s/%s %s %s: %s", kind, name, typ, reason, fmt.Sprintf(messageFmt, args...))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.said = append(e.said, line)
}

// Said returns every event recorded so far, in order.
func (e *Events) Said() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.said...)
}

// Count returns how many events of an object have that reason: Count("Job/web",
// "InvalidObject").
func (e *Events) Count(object, reason string) int {
	n := 0
	for _, s := range e.Said() {
		if obj, rest, _ := strings.Cut(s, " "); obj == object {
			if _, r, _ := strings.Cut(rest, " "); strings.HasPrefix(r, reason+":") {
				n++
			}
		}
	}
	return n
}
