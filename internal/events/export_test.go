package events

import "time"

// SetClock makes r read the time from now (tests of series and leases).
func SetClock(r *Recorder, now func() time.Time) { r.now = now }
