package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	// Zones are read from the host's tz database and, where a host has
	// none, from the copy built in, so every host reads a schedule alike.
	_ "time/tzdata"
)

// Syntax is the language of an expression.
type Syntax string

// Values of Syntax.
const (
	Calendar Syntax = "calendar" // systemd's OnCalendar=
	Cron     Syntax = "cron"     // cron's five fields, or @daily and its kin
)

// ErrNeverFires is wrapped by the error of [Schedule.Fires] for an expression
// that has no elapse after the time asked about.
var ErrNeverFires = errors.New("the schedule never fires")

// SyntaxError is an expression that cannot be read.
type SyntaxError struct {
	Expr   string
	Offset int // byte offset in Expr where reading failed; -1 when unknown
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("invalid schedule %q: %s", e.Expr, e.Msg)
	}
	return fmt.Sprintf("invalid schedule %q at offset %d (%q): %s", e.Expr, e.Offset, rest(e.Expr, e.Offset), e.Msg)
}

func rest(s string, i int) string {
	if i > len(s) {
		i = len(s)
	}
	return s[i:]
}

// Schedule is a parsed expression. It is immutable and safe for concurrent
// use.
type Schedule struct {
	expr   string
	syntax Syntax
	cal    *calendar
	cron   cron.Schedule
	loc    *time.Location
}

// Parse reads expr, either a systemd calendar expression (see the package
// documentation) or a cron expression of five fields or a descriptor
// (@hourly, @daily, ...). loc is the zone of an expression that does not
// name one; nil is UTC.
func Parse(expr string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, &SyntaxError{Expr: expr, Offset: 0, Msg: "empty expression"}
	}
	if isCron(expr) {
		return parseCron(expr, loc)
	}
	c, err := parseCalendar(expr, loc)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) && len(strings.Fields(expr)) > 4 {
			se.Msg += " (a calendar expression has at most four parts; a cron expression has five fields: minute hour day-of-month month day-of-week)"
		}
		return nil, err
	}
	return &Schedule{expr: expr, syntax: Calendar, cal: c, loc: c.loc}, nil
}

// isCron says whether expr is written in cron's syntax: five fields (a
// calendar expression has at most four: weekdays, date, time and zone), a
// CRON_TZ= or TZ= prefix, or a descriptor such as @daily (a calendar's @
// is followed by digits).
func isCron(expr string) bool {
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return true
	}
	if strings.HasPrefix(expr, "@") {
		return len(expr) > 1 && (expr[1] < '0' || expr[1] > '9')
	}
	return len(strings.Fields(expr)) == 5
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseCron(expr string, loc *time.Location) (s *Schedule, err error) {
	body := expr
	if strings.HasPrefix(body, "CRON_TZ=") || strings.HasPrefix(body, "TZ=") {
		eq := strings.IndexByte(body, '=')
		sp := strings.IndexByte(body, ' ')
		if sp < 0 {
			return nil, &SyntaxError{Expr: expr, Offset: len(body), Msg: "expected the expression after the time zone"}
		}
		name := body[eq+1 : sp]
		l, lerr := loadZone(name)
		if lerr != nil {
			return nil, &SyntaxError{Expr: expr, Offset: eq + 1, Msg: lerr.Error()}
		}
		loc = l
		body = strings.TrimSpace(body[sp:])
	}
	if strings.HasPrefix(body, "@every") {
		return nil, &SyntaxError{Expr: expr, Offset: strings.Index(expr, "@every"), Msg: "@every is an interval, not a time of day: write it as a calendar (\"*:0/5\") or cron (\"*/5 * * * *\") expression"}
	}
	if strings.HasPrefix(body, "@") {
		switch body {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		default:
			return nil, &SyntaxError{Expr: expr, Offset: strings.IndexByte(expr, '@'), Msg: "unknown descriptor: want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"}
		}
	}
	defer func() {
		// The cron parser is a library's: keep a fault of its on odd input
		// from taking berth down.
		if r := recover(); r != nil {
			s, err = nil, &SyntaxError{Expr: expr, Offset: -1, Msg: fmt.Sprint("cron: ", r)}
		}
	}()
	cs, perr := cronParser.Parse(body)
	if perr != nil {
		return nil, &SyntaxError{Expr: expr, Offset: -1, Msg: "cron: " + perr.Error()}
	}
	spec, ok := cs.(*cron.SpecSchedule)
	if !ok {
		return nil, &SyntaxError{Expr: expr, Offset: -1, Msg: "cron: not a time-of-day schedule"}
	}
	spec.Location = loc
	return &Schedule{expr: expr, syntax: Cron, cron: spec, loc: loc}, nil
}

// loadZone loads a zone of the tz database by name, such as Europe/Berlin.
func loadZone(name string) (*time.Location, error) {
	if !isZoneName(name) {
		return nil, fmt.Errorf("unknown time zone %q: want a name of the tz database such as Europe/Berlin or UTC", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want a name of the tz database such as Europe/Berlin or UTC", name)
	}
	return l, nil
}

// LoadLocation loads a time zone by its name in the tz database, such as
// Europe/Berlin; "" is UTC. "Local" is refused: hosts of a cluster need
// not share one.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	return loadZone(name)
}

// Syntax says in which language the expression was written.
func (s *Schedule) Syntax() Syntax { return s.syntax }

// Location is the zone the expression is read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Expr is the expression as written (without surrounding spaces).
func (s *Schedule) Expr() string { return s.expr }

// String is the normalized form: for a calendar expression, what
// `systemd-analyze calendar` prints as "Normalized form"; for cron, the
// expression as written.
func (s *Schedule) String() string {
	if s.cal != nil {
		return s.cal.String()
	}
	return s.expr
}

// Next returns the first elapse strictly after t, in the schedule's zone,
// and false when there is none (the last year systemd computes is 2199).
// Calendar expressions are exact to the microsecond, cron to the second.
func (s *Schedule) Next(t time.Time) (time.Time, bool) {
	if s.cal != nil {
		return s.cal.next(t)
	}
	n := s.cron.Next(t)
	if n.IsZero() {
		return time.Time{}, false
	}
	return n, true
}

// Ticks returns the elapses in (after, until], at most max of them (the
// first ones).
func (s *Schedule) Ticks(after, until time.Time, max int) []time.Time {
	var out []time.Time
	for t := after; len(out) < max; {
		n, ok := s.Next(t)
		if !ok || n.After(until) {
			break
		}
		out = append(out, n)
		t = n
	}
	return out
}

// Latest returns the last elapse in (after, until], and false when there is
// none. It takes about fifty steps however many elapses the span holds, so
// it suits catching up after a long downtime.
func (s *Schedule) Latest(after, until time.Time) (time.Time, bool) {
	first, ok := s.Next(after)
	if !ok || first.After(until) {
		return time.Time{}, false
	}
	// Next(lo) <= until < Next(hi) holds throughout.
	lo, hi := after, until
	for hi.Sub(lo) > time.Microsecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if n, ok := s.Next(mid); ok && !n.After(until) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.Next(lo)
}

// Fires returns an error wrapping [ErrNeverFires] when the schedule has no
// elapse after now: a date in the past, or one that never comes
// ("*-02-30").
func (s *Schedule) Fires(now time.Time) error {
	if _, ok := s.Next(now); !ok {
		return fmt.Errorf("%w after %s: %q (normalized %q)", ErrNeverFires, now.UTC().Format(time.RFC3339), s.expr, s.String())
	}
	return nil
}
