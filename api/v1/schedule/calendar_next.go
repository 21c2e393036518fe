package schedule

import "time"

// maxSteps bounds one search for the next elapse, as systemd bounds it: an
// expression that needs more (none that parses, in practice) never elapses.
const maxSteps = 1000

// wall is a broken-down wall-clock time in the calendar's zone, as C's
// struct tm: fields may be out of range until normalized.
type wall struct {
	year, mon, mday, hour, min, sec int // mon 1..12
}

// walker finds elapses the way systemd does: it walks the wall-clock fields
// of the calendar's zone from the largest to the smallest, and turns a wall
// time into an instant as mktime(3) with tm_isdst=-1 does:
//
//   - a wall time that exists once is that instant;
//   - a wall time that exists twice (clocks set back) is read with the UTC
//     offset of the walk's previous step, so a walk that started before the
//     change takes the first of the two, and one that started within the
//     repeated hour stays in it;
//   - a wall time that does not exist (clocks set forward) is read with the
//     offset from before the change, which moves it forward by the gap:
//     02:30 on the day clocks go from 02:00 to 03:00 reads as 03:30, no
//     longer matches an expression of 02:30, and the walk goes on to the
//     next day. So a daily 02:30 is skipped that day, and a time in the
//     hour that repeats fires once, in its first pass.
type walker struct {
	loc  *time.Location
	utc  bool
	hint int // UTC offset of the previous step, in seconds
}

func (w *walker) offsetAt(unix int64) int {
	_, off := time.Unix(unix, 0).In(w.loc).Zone()
	return off
}

// mktime returns f normalized and the instant it stands for.
func (w *walker) mktime(f wall) (wall, int64) {
	local := time.Date(f.year, time.Month(f.mon), f.mday, f.hour, f.min, f.sec, 0, time.UTC).Unix()
	t := local
	if !w.utc {
		t = local - int64(w.hint)
		if o := w.offsetAt(t); o != w.hint {
			o2 := w.offsetAt(local - int64(o))
			switch {
			case o2 == o:
				t = local - int64(o)
			default: // in a gap: read with the smaller offset, from before it
				t = local - int64(min(o, w.hint, o2))
			}
		}
	}
	lt := time.Unix(t, 0).In(w.loc)
	_, w.hint = lt.Zone()
	return wallOf(lt), t
}

func wallOf(t time.Time) wall {
	return wall{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()}
}

// within normalizes f and says whether it was already normal (1), moved
// forward (0; f is then the normalized time, with the field below the one
// that moved set to its start) or would move backward or past the last year
// (-1).
func (w *walker) within(f *wall) int {
	if f.year > maxYear {
		return -1
	}
	n, _ := w.mktime(*f)
	cmp := 0
	switch {
	case n.year != f.year:
		cmp, n.mon = sign(n.year-f.year), 1
	case n.mon != f.mon:
		cmp, n.mday = sign(n.mon-f.mon), 1
	case n.mday != f.mday:
		cmp, n.hour = sign(n.mday-f.mday), 0
	case n.hour != f.hour:
		cmp, n.min = sign(n.hour-f.hour), 0
	case n.min != f.min:
		cmp, n.sec = sign(n.min-f.min), 0
	default:
		cmp = sign(n.sec - f.sec)
	}
	switch {
	case cmp < 0:
		return -1
	case cmp > 0:
		*f = n
		return 0
	}
	return 1
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// daysIn is the number of days of month mon (1..12, or beyond: normalized).
func daysIn(year, mon int) int {
	return time.Date(year, time.Month(mon)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// fromEnd is the day of f's month that is the n-th last (1 is the last
// day), or -1 when the month has no such day.
func fromEnd(f wall, n int) int {
	last := daysIn(f.year, f.mon)
	d := last + 1 - n
	if d < 1 || d > last {
		return -1
	}
	return d
}

// match sets *val to the earliest value of ch at or after it: it returns 0
// when *val matched already, 1 when it moved, -1 when nothing in ch is at or
// after it. A nil chain matches anything.
func match(ch chain, eom bool, f wall, val *int) int {
	if ch == nil {
		return 0
	}
	d, found := 0, false
	for _, x := range ch {
		start, stop := x.start, x.stop
		if eom {
			start, stop = fromEnd(f, x.start), fromEnd(f, x.stop)
			if stop > 0 {
				start, stop = stop, start
			}
		}
		if start >= *val {
			if !found || start < d {
				d, found = start, true
			}
		} else if x.repeat > 0 {
			k := start + x.repeat*((*val-start+x.repeat-1)/x.repeat)
			if (!found || k < d) && (stop < 0 || k <= stop) {
				d, found = k, true
			}
		}
	}
	if !found {
		return -1
	}
	r := 0
	if *val != d {
		r = 1
	}
	*val = d
	return r
}

func (c *calendar) matchesWeekday(w *walker, f wall) bool {
	if c.weekdays == 0 {
		return true
	}
	n, _ := w.mktime(f)
	wd := time.Date(n.year, time.Month(n.mon), n.mday, 0, 0, 0, 0, time.UTC).Weekday()
	return c.weekdays&(1<<((int(wd)+6)%7)) != 0
}

// next returns the first elapse strictly after the instant after.
func (c *calendar) next(after time.Time) (time.Time, bool) {
	if epoch := time.Unix(0, 0); after.Before(epoch) {
		after = epoch.Add(-time.Microsecond)
	}
	if after.Year() > maxYear {
		return time.Time{}, false
	}
	us := after.UnixMicro() + 1
	secs := us / usecPerSec
	usec := int(us % usecPerSec)
	w := &walker{loc: c.loc, utc: c.utc || c.loc == time.UTC}
	lt := time.Unix(secs, 0).In(c.loc)
	_, w.hint = lt.Zone()
	f, usec, ok := c.find(w, wallOf(lt), usec)
	if !ok {
		return time.Time{}, false
	}
	_, t := w.mktime(f)
	return time.Unix(t, int64(usec)*1000).In(c.loc), true
}

func (c *calendar) find(w *walker, f wall, usec int) (wall, int, bool) {
	zero := func(fs ...*int) {
		for _, p := range fs {
			*p = 0
		}
		usec = 0
	}
	for range maxSteps {
		f, _ = w.mktime(f)

		r := match(c.year, false, f, &f.year)
		if r > 0 {
			f.mon, f.mday = 1, 1
			zero(&f.hour, &f.min, &f.sec)
		}
		if r < 0 || w.within(&f) <= 0 {
			return f, 0, false
		}

		r = match(c.month, false, f, &f.mon)
		if r > 0 {
			f.mday = 1
			zero(&f.hour, &f.min, &f.sec)
		}
		if r >= 0 {
			r = w.within(&f)
		}
		if r < 0 {
			f.year++
			f.mon, f.mday = 1, 1
			zero(&f.hour, &f.min, &f.sec)
			continue
		}
		if r == 0 {
			continue
		}

		r = match(c.day, c.endOfMonth, f, &f.mday)
		if r > 0 {
			zero(&f.hour, &f.min, &f.sec)
		}
		if r >= 0 {
			r = w.within(&f)
		}
		if r < 0 {
			f.mon++
			f.mday = 1
			zero(&f.hour, &f.min, &f.sec)
			continue
		}
		if r == 0 {
			continue
		}

		if !c.matchesWeekday(w, f) {
			f.mday++
			zero(&f.hour, &f.min, &f.sec)
			continue
		}

		r = match(c.hour, false, f, &f.hour)
		if r > 0 {
			zero(&f.min, &f.sec)
		}
		if r >= 0 {
			r = w.within(&f)
		}
		if r < 0 {
			f.mday++
			zero(&f.hour, &f.min, &f.sec)
			continue
		}
		if r == 0 {
			continue
		}

		r = match(c.minute, false, f, &f.min)
		if r > 0 {
			zero(&f.sec)
		}
		if r >= 0 {
			r = w.within(&f)
		}
		if r < 0 {
			f.hour++
			zero(&f.min, &f.sec)
			continue
		}
		if r == 0 {
			continue
		}

		v := f.sec*usecPerSec + usec
		r = match(c.usec, false, f, &v)
		usec, f.sec = v%usecPerSec, v/usecPerSec
		if r >= 0 {
			r = w.within(&f)
		}
		if r < 0 {
			f.min++
			zero(&f.sec)
			continue
		}
		if r == 0 {
			continue
		}
		return f, usec, true
	}
	return f, 0, false
}
