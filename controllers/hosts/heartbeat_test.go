package hosts

import (
	"slices"
	"testing"
	"time"
)

// The record's addresses are read from the kernel once every
// RecordRefresh: a record made sooner shows the same ones, with the
// advertised address first, and one made after it shows what is there
// then.
func TestRecordReadsAddressesEveryRecordRefresh(t *testing.T) {
	t.Parallel()
	reads := 0
	there := []string{"192.0.2.1", "192.0.2.9"}
	h := &Heartbeat{Name: "h1", AdvertiseAddress: "192.0.2.9", readAddresses: func() []string {
		reads++
		return slices.Clone(there)
	}}
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	check := func(at time.Duration, wantReads int, want ...string) {
		t.Helper()
		got := h.Record(start.Add(at)).Status.Addresses
		if !slices.Equal(got, want) || reads != wantReads {
			t.Errorf("record at +%s: addresses %v after %d reads; want %v after %d", at, got, reads, want, wantReads)
		}
	}
	check(0, 1, "192.0.2.9", "192.0.2.1")
	there = []string{"192.0.2.2"}
	check(RecordRefresh/3, 1, "192.0.2.9", "192.0.2.1")
	check(RecordRefresh-time.Millisecond, 1, "192.0.2.9", "192.0.2.1")
	check(RecordRefresh, 2, "192.0.2.9", "192.0.2.2")
	check(RecordRefresh+RecordRefresh/3, 2, "192.0.2.9", "192.0.2.2")
}
