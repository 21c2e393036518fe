package schedule

import (
	"testing"
	"time"
)

// BenchmarkNext: one elapse of typical expressions (figures in
// BENCHMARKS.md).
func BenchmarkNext(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	for _, expr := range []string{"*:0/5", "Mon..Fri *-*-* 02:00:00", "*-02-29 12:00", "*-*~01 23:00", "*/5 * * * *"} {
		s, err := Parse(expr, berlin)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			for b.Loop() {
				if _, ok := s.Next(from); !ok {
					b.Fatal("never")
				}
			}
		})
	}
}

// BenchmarkLatest: the last elapse of a year of per-second ticks, as a
// persistent Timer's catch-up after a year down asks.
func BenchmarkLatest(b *testing.B) {
	s, err := Parse("*:*:*", nil)
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2025, 12, 5, 6, 0, 0, 0, time.UTC)
	until := from.AddDate(1, 0, 0)
	for b.Loop() {
		if _, ok := s.Latest(from, until); !ok {
			b.Fatal("none")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("Mon..Fri *-*-* 02:00:00 Europe/Berlin", nil); err != nil {
			b.Fatal(err)
		}
	}
}
