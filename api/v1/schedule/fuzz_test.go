package schedule

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no expression panics or hangs the parser or the search for
// elapses; an expression that parses has a normalized form that parses to
// itself and means the same, and its elapses are strictly increasing.
func FuzzParse(f *testing.F) {
	if file, err := os.Open("testdata/expressions.txt"); err == nil {
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			if _, expr, ok := strings.Cut(sc.Text(), "\t"); ok && !strings.HasPrefix(sc.Text(), "#") {
				f.Add(expr, int64(1796450400))
			}
		}
		file.Close()
	}
	for _, s := range []string{"*/5 * * * *", "CRON_TZ=Europe/Berlin 0 9 * * 1-5", "@daily", "TZ=", "@every 1s"} {
		f.Add(s, int64(1796450400))
	}
	f.Fuzz(func(t *testing.T, expr string, base int64) {
		s, err := Parse(expr, nil)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned both a schedule and %v", expr, err)
			}
			return
		}
		from := time.Unix(base%(1<<33), 0)
		ticks := s.Ticks(from, from.AddDate(3, 0, 0), 4)
		prev := from
		for _, n := range ticks {
			if !n.After(prev) {
				t.Fatalf("%q: elapse %s is not after %s", expr, n, prev)
			}
			prev = n
		}
		if s.Syntax() != Calendar {
			return
		}
		again, err := Parse(s.String(), nil)
		if err != nil {
			t.Fatalf("%q normalized to %q, which does not parse: %v", expr, s.String(), err)
		}
		if again.String() != s.String() {
			t.Fatalf("%q normalized to %q, then to %q", expr, s.String(), again.String())
		}
		for i, n := range again.Ticks(from, from.AddDate(3, 0, 0), 4) {
			if i >= len(ticks) || !n.Equal(ticks[i]) {
				t.Fatalf("%q and its normal form %q elapse apart: %v and %v", expr, s.String(), ticks, again.Ticks(from, from.AddDate(3, 0, 0), 4))
			}
		}
	})
}
