package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, expr string, loc *time.Location) *Schedule {
	t.Helper()
	s, err := Parse(expr, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return s
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCron(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, expr string
		loc        *time.Location
		base       string
		want       []string
	}{
		{"every five minutes", "*/5 * * * *", nil, "2026-12-05T06:02:00Z", []string{"2026-12-05T06:05:00Z", "2026-12-05T06:10:00Z"}},
		{"weekdays at nine in the default zone", "0 9 * * 1-5", berlin, "2026-12-05T06:00:00Z", []string{"2026-12-07T08:00:00Z", "2026-12-08T08:00:00Z"}},
		{"CRON_TZ overrides the default zone", "CRON_TZ=America/New_York 30 2 * * *", berlin, "2026-12-05T00:00:00Z", []string{"2026-12-05T07:30:00Z", "2026-12-06T07:30:00Z"}},
		{"descriptor", "@daily", nil, "2026-12-05T06:00:00Z", []string{"2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z"}},
		{"strictly after the base", "0 * * * *", nil, "2026-12-05T06:00:00Z", []string{"2026-12-05T07:00:00Z"}},
		{"leap day", "0 0 29 2 *", nil, "2026-12-05T06:00:00Z", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.expr, tc.loc)
			if s.Syntax() != Cron {
				t.Fatalf("%q read as %s", tc.expr, s.Syntax())
			}
			got := s.Ticks(at(tc.base), at(tc.base).AddDate(10, 0, 0), len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("ticks %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(at(tc.want[i])) {
					t.Errorf("tick %d: %s, want %s", i, got[i].UTC(), tc.want[i])
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want string // in the error's text
	}{
		{"", "empty expression"},
		{"Feb 30", `at offset 0 ("Feb 30"): expected a number for the year or month`},
		{"*-*-* 24:00", "hour 24 is out of range 0..23"},
		{"*-13-01", "month 13 is out of range 1..12"},
		{"*:0/0", "repeats every 0"},
		{"Mond", `unknown weekday "Mond"`},
		{"Sun..Mon", "weekday range ends before it starts"},
		{"*:50/15", "never repeats"},
		{"*-*~29", "day 29 is out of range ~1..~28"},
		{"12:00 Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"*/2:00", `at offset 1 ("/2:00")`},
		{"61 * * * *", "cron: "},
		{"* * * * * *x", "a cron expression has five fields"},
		{"@every 5m", "@every is an interval"},
		{"@fortnightly", "unknown descriptor"},
		{"CRON_TZ=Nowhere/Else 0 9 * * *", `unknown time zone "Nowhere/Else"`},
		{"CRON_TZ=Europe/Berlin", "expected the expression after the time zone"},
		{"TZ=../../etc/passwd 0 9 * * *", "unknown time zone"},
	} {
		_, err := Parse(tc.expr, nil)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error with %q", tc.expr, tc.want)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): %T, want *SyntaxError", tc.expr, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %q, want it to say %q", tc.expr, err, tc.want)
		}
		if !strings.Contains(err.Error(), tc.expr) {
			t.Errorf("Parse(%q) = %q, want it to name the expression", tc.expr, err)
		}
	}
}

func TestFires(t *testing.T) {
	t.Parallel()
	now := at("2026-12-05T06:00:00Z")
	for expr, fires := range map[string]bool{
		"*-02-30":           false,
		"*-04-31 12:00":     false,
		"2003-03-05":        false,
		"2199-12-31":        true,
		"0 0 30 2 *":        false,
		"0 0 31 4,6,9,11 *": false,
		"daily":             true,
	} {
		err := mustParse(t, expr, nil).Fires(now)
		if fires && err != nil {
			t.Errorf("%q: %v", expr, err)
		}
		if !fires && !errors.Is(err, ErrNeverFires) {
			t.Errorf("%q: Fires = %v, want ErrNeverFires", expr, err)
		}
	}
}

func TestDefaultZone(t *testing.T) {
	t.Parallel()
	tokyo, err := LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	base := at("2026-12-05T00:00:00Z")
	for _, tc := range []struct {
		expr string
		want string
	}{
		{"daily", "2026-12-05T15:00:00Z"},               // midnight in Tokyo
		{"daily UTC", "2026-12-06T00:00:00Z"},           // the expression's zone wins
		{"daily Europe/Berlin", "2026-12-05T23:00:00Z"}, // likewise
	} {
		n, ok := mustParse(t, tc.expr, tokyo).Next(base)
		if !ok || !n.Equal(at(tc.want)) {
			t.Errorf("%q in Asia/Tokyo: next %s, want %s", tc.expr, n.UTC(), tc.want)
		}
	}
	if _, err := LoadLocation("Local"); err == nil {
		t.Error(`LoadLocation("Local") succeeded; hosts need not share a local zone`)
	}
}

func TestTicksAndLatest(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "*:0/15", nil)
	from, until := at("2026-12-05T06:00:00Z"), at("2026-12-05T07:00:00Z")
	ticks := s.Ticks(from, until, 100)
	want := []string{"2026-12-05T06:15:00Z", "2026-12-05T06:30:00Z", "2026-12-05T06:45:00Z", "2026-12-05T07:00:00Z"}
	if len(ticks) != len(want) {
		t.Fatalf("ticks in (06:00, 07:00] = %v, want %v", ticks, want)
	}
	for i := range want {
		if !ticks[i].Equal(at(want[i])) {
			t.Errorf("tick %d = %s, want %s", i, ticks[i], want[i])
		}
	}
	if got := s.Ticks(from, until, 2); len(got) != 2 {
		t.Errorf("Ticks with max 2 gave %d", len(got))
	}

	for _, tc := range []struct {
		expr, after, until, want string // want "" for none
	}{
		{"*:0/15", "2026-12-05T06:00:00Z", "2026-12-05T07:00:00Z", "2026-12-05T07:00:00Z"},
		{"*:0/15", "2026-12-05T06:00:00Z", "2026-12-05T06:59:59.999999Z", "2026-12-05T06:45:00Z"},
		{"*:0/15", "2026-12-05T06:00:00Z", "2026-12-05T06:14:00Z", ""},
		// a year of per-second ticks: found in a few dozen steps
		{"*:*:*", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00.5Z", "2027-01-01T00:00:00Z"},
		{"*-*-* 12:00:00.25", "2020-01-01T00:00:00Z", "2026-12-05T06:00:00Z", "2026-12-04T12:00:00.25Z"},
		{"0 3 * * 0", "2026-01-01T00:00:00Z", "2026-12-05T06:00:00Z", "2026-11-29T03:00:00Z"},
		{"2003-03-05", "2026-01-01T00:00:00Z", "2026-12-05T06:00:00Z", ""},
	} {
		got, ok := mustParse(t, tc.expr, nil).Latest(at(tc.after), at(tc.until))
		switch {
		case tc.want == "" && ok:
			t.Errorf("Latest(%q, %s, %s) = %s, want none", tc.expr, tc.after, tc.until, got)
		case tc.want != "" && (!ok || !got.Equal(at(tc.want))):
			t.Errorf("Latest(%q, %s, %s) = %s %v, want %s", tc.expr, tc.after, tc.until, got.UTC(), ok, tc.want)
		}
	}
}

// TestNextMicroseconds: an elapse is exact to the microsecond and strictly
// after the time asked about, even within the same second.
func TestNextMicroseconds(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "*-*-* *:*:00/0.25", nil)
	n, _ := s.Next(at("2026-12-05T06:00:00.1Z"))
	if !n.Equal(at("2026-12-05T06:00:00.25Z")) {
		t.Errorf("next after 06:00:00.1 = %s", n)
	}
	n, _ = s.Next(at("2026-12-05T06:00:00.25Z"))
	if !n.Equal(at("2026-12-05T06:00:00.5Z")) {
		t.Errorf("next after 06:00:00.25 = %s", n)
	}
}
