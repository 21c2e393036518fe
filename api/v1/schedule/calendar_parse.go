package schedule

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of a calendar expression, as systemd sets them.
const (
	minYear = 1970
	maxYear = 2199
	// maxComponents bounds a comma-separated list of one field.
	maxComponents = 240
	usecPerSec    = 1_000_000
	allWeekdays   = 0x7f
)

// component is one item of a field's list: start, start..stop, start/repeat
// or start..stop/repeat. stop is -1 when there is none; repeat 0 when the
// item does not repeat. For seconds the values are microseconds.
type component struct {
	start, stop, repeat int
	pos                 int // offset of the item in the expression, for errors
}

// chain is the list of one field; nil means "*" (any value).
type chain []component

// calendar is a parsed systemd calendar expression.
type calendar struct {
	weekdays   int // bit 0 is Monday; 0 means any day
	year       chain
	month      chain
	day        chain
	hour       chain
	minute     chain
	usec       chain // seconds, in microseconds
	endOfMonth bool  // day counts back from the end of the month ("~")
	utc        bool
	zone       string         // the expression's own time zone, if it names one
	loc        *time.Location // where the wall-clock fields are read
}

// calendarParser reads one expression, keeping where it is for errors.
type calendarParser struct {
	expr string
	s    string // the rest to read
	base int    // offset of s in expr
}

func (p *calendarParser) pos() int { return p.base }

func (p *calendarParser) advance(n int) {
	p.s = p.s[n:]
	p.base += n
}

func (p *calendarParser) skipSpaces() {
	n := len(p.s) - len(strings.TrimLeft(p.s, " "))
	p.advance(n)
}

func (p *calendarParser) peek() byte {
	if p.s == "" {
		return 0
	}
	return p.s[0]
}

func (p *calendarParser) errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Expr: p.expr, Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

// shorthands are systemd's special expressions and what they stand for.
var shorthands = map[string]string{
	"minutely":      "*-*-* *:*:00",
	"hourly":        "*-*-* *:00:00",
	"daily":         "*-*-* 00:00:00",
	"monthly":       "*-*-01 00:00:00",
	"weekly":        "Mon *-*-* 00:00:00",
	"yearly":        "*-01-01 00:00:00",
	"annually":      "*-01-01 00:00:00",
	"anually":       "*-01-01 00:00:00",
	"quarterly":     "*-01,04,07,10-01 00:00:00",
	"semiannually":  "*-01,07-01 00:00:00",
	"semi-annually": "*-01,07-01 00:00:00",
	"biannually":    "*-01,07-01 00:00:00",
	"bi-annually":   "*-01,07-01 00:00:00",
}

// parseCalendar reads a systemd calendar expression (systemd.time(7)). loc
// is the zone of an expression that names none.
func parseCalendar(expr string, loc *time.Location) (*calendar, error) {
	p := &calendarParser{expr: expr, s: expr}
	c := &calendar{loc: loc}

	// A trailing time zone: " UTC" in any case, or the name of a zone.
	body := expr
	if len(body) > 4 && strings.EqualFold(body[len(body)-4:], " UTC") {
		c.utc = true
		body = body[:len(body)-4]
	} else if i := strings.LastIndexByte(body, ' '); i >= 0 && isZoneName(body[i+1:]) {
		name := body[i+1:]
		l, err := time.LoadLocation(name)
		switch {
		case err == nil:
			c.zone, c.loc = name, l
			body = body[:i]
		case strings.Contains(name, "/"):
			return nil, p.errorf(i+1, "unknown time zone %q: want a name of the tz database such as Europe/Berlin or UTC", name)
		}
	}
	if c.utc {
		c.loc = time.UTC
	}
	p.s = body
	if body == "" {
		return nil, p.errorf(0, "empty expression")
	}

	if long, ok := shorthands[strings.ToLower(body)]; ok {
		sub, err := parseCalendar(long, c.loc)
		if err != nil {
			panic("schedule: shorthand " + long + ": " + err.Error())
		}
		sub.utc, sub.zone, sub.loc = c.utc, c.zone, c.loc
		return sub, nil
	}

	if err := p.weekdays(c); err != nil {
		return nil, err
	}
	timeNext, err := p.date(c)
	if err != nil {
		return nil, err
	}
	if timeNext {
		if err := p.clock(c); err != nil {
			return nil, err
		}
	}
	if p.s != "" {
		return nil, p.errorf(p.pos(), "unexpected %q", p.s)
	}
	c.normalize()
	if err := c.valid(p); err != nil {
		return nil, err
	}
	return c, nil
}

// isZoneName says whether s may name a zone of the tz database: letters,
// digits and "/_-+", not a path out of it. time.LoadLocation decides.
func isZoneName(s string) bool {
	if s == "" || s == "Local" || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '/', r == '_', r == '-', r == '+':
		default:
			return false
		}
	}
	// A name begins with a letter (Europe/Berlin, UTC, EST5EDT); this keeps
	// dates and times such as "12:00" or "*-01-01" from being looked up.
	return (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')
}

var weekdayNames = []struct {
	name string
	nr   int
}{
	{"monday", 0}, {"mon", 0},
	{"tuesday", 1}, {"tue", 1},
	{"wednesday", 2}, {"wed", 2},
	{"thursday", 3}, {"thu", 3},
	{"friday", 4}, {"fri", 4},
	{"saturday", 5}, {"sat", 5},
	{"sunday", 6}, {"sun", 6},
}

var weekdayShort = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// weekdays reads an optional list of weekdays: "Mon", "Mon,Fri",
// "Mon..Fri" (or "Mon-Fri"), ending at a space or at the end.
func (p *calendarParser) weekdays(c *calendar) error {
	rangeFrom := -1
	for first := true; ; first = false {
		at := p.pos()
		nr, n := -1, 0
		lower := strings.ToLower(p.s)
		for _, d := range weekdayNames {
			if strings.HasPrefix(lower, d.name) {
				nr, n = d.nr, len(d.name)
				break
			}
		}
		if nr < 0 {
			if first {
				return nil // no weekdays: the date follows
			}
			return p.errorf(at, "expected a weekday (Mon..Sun)")
		}
		if n < len(p.s) && !strings.ContainsRune("-., ", rune(p.s[n])) {
			return p.errorf(at, "unknown weekday %q", strings.Fields(p.s)[0])
		}
		c.weekdays |= 1 << nr
		if rangeFrom >= 0 {
			if rangeFrom > nr {
				return p.errorf(at, "weekday range ends before it starts (a week runs Mon..Sun)")
			}
			for j := rangeFrom + 1; j < nr; j++ {
				c.weekdays |= 1 << j
			}
		}
		p.advance(n)
		switch p.peek() {
		case 0:
			return nil
		case ' ':
			p.skipSpaces()
			return nil
		case '.':
			if rangeFrom >= 0 || !strings.HasPrefix(p.s, "..") {
				return p.errorf(p.pos(), "expected \"..\" between two weekdays")
			}
			rangeFrom = nr
			p.advance(2)
		case '-':
			if rangeFrom >= 0 {
				return p.errorf(p.pos(), "a weekday range has two ends")
			}
			rangeFrom = nr
			p.advance(1)
		case ',':
			rangeFrom = -1
			p.advance(1)
		}
		if c := p.peek(); c == 0 || c == ' ' {
			p.skipSpaces()
			if rangeFrom >= 0 {
				return p.errorf(p.pos(), "weekday range without an end")
			}
			return nil
		}
	}
}

// date reads an optional date: YEAR-MONTH-DAY, MONTH-DAY, or @SECONDS.
// It returns whether a time of day may follow.
func (p *calendarParser) date(c *calendar) (bool, error) {
	if p.s == "" {
		return true, nil
	}
	if p.peek() == '@' {
		return false, p.timestamp(c)
	}
	save := *p
	first, err := p.chain("year or month", false)
	if err != nil {
		return false, err
	}
	if ch := p.peek(); ch == 0 || ch == ':' {
		*p = save // a time, not a date
		return true, nil
	}
	if err := p.dateSeparator(c); err != nil {
		return false, err
	}
	second, err := p.chain("month or day", false)
	if err != nil {
		return false, err
	}
	if ch := p.peek(); ch == 0 || ch == ' ' {
		p.skipSpaces()
		c.month, c.day = first, second
		return true, nil
	}
	if c.endOfMonth {
		return false, p.errorf(p.pos(), "\"~\" must stand between the month and the day")
	}
	if err := p.dateSeparator(c); err != nil {
		return false, err
	}
	third, err := p.chain("day", false)
	if err != nil {
		return false, err
	}
	if ch := p.peek(); ch != 0 && ch != ' ' {
		return false, p.errorf(p.pos(), "expected a space after the date")
	}
	p.skipSpaces()
	c.year, c.month, c.day = first, second, third
	return true, nil
}

// dateSeparator reads the "-" between parts of a date, or the "~" that
// counts the day from the end of the month.
func (p *calendarParser) dateSeparator(c *calendar) error {
	switch p.peek() {
	case '~':
		c.endOfMonth = true
	case '-':
	default:
		return p.errorf(p.pos(), "expected \"-\" or \"~\" in a date")
	}
	p.advance(1)
	return nil
}

// timestamp reads @SECONDS, a point in time since the epoch, in UTC.
func (p *calendarParser) timestamp(c *calendar) error {
	at := p.pos()
	p.advance(1)
	n := 0
	for n < len(p.s) && p.s[n] >= '0' && p.s[n] <= '9' {
		n++
	}
	if n == 0 || n > 12 {
		return p.errorf(at, "expected @ and seconds since 1970")
	}
	var secs int64
	for _, d := range p.s[:n] {
		secs = secs*10 + int64(d-'0')
	}
	p.advance(n)
	t := time.Unix(secs, 0).UTC()
	one := func(v int) chain { return chain{{start: v, stop: -1, pos: at}} }
	c.year, c.month, c.day = one(t.Year()), one(int(t.Month())), one(t.Day())
	c.hour, c.minute, c.usec = one(t.Hour()), one(t.Minute()), one(t.Second()*usecPerSec)
	c.utc, c.zone, c.loc = true, "", time.UTC
	return nil
}

// clock reads an optional time of day: HOUR:MINUTE[:SECOND]; none is 00:00:00.
func (p *calendarParser) clock(c *calendar) error {
	zero := func() chain { return chain{{start: 0, stop: -1, pos: p.pos()}} }
	if p.s == "" {
		c.hour, c.minute, c.usec = zero(), zero(), zero()
		return nil
	}
	h, err := p.chain("hour", false)
	if err != nil {
		return err
	}
	if p.peek() != ':' {
		return p.errorf(p.pos(), "expected \":\" after the hour")
	}
	p.advance(1)
	m, err := p.chain("minute", false)
	if err != nil {
		return err
	}
	c.hour, c.minute = h, m
	if p.s == "" {
		c.usec = zero()
		return nil
	}
	if p.peek() != ':' {
		return p.errorf(p.pos(), "expected \":\" after the minute")
	}
	p.advance(1)
	s, err := p.chain("second", true)
	if err != nil {
		return err
	}
	c.usec = s
	return nil
}

// chain reads "*" or a comma-separated list of components.
func (p *calendarParser) chain(field string, usec bool) (chain, error) {
	if p.peek() == '*' {
		at := p.pos()
		p.advance(1)
		if usec {
			return chain{{start: 0, stop: -1, repeat: usecPerSec, pos: at}}, nil
		}
		return nil, nil
	}
	var ch chain
	for {
		if len(ch) > maxComponents {
			return nil, p.errorf(p.pos(), "more than %d values in the %s", maxComponents, field)
		}
		comp, err := p.component(field, usec)
		if err != nil {
			return nil, err
		}
		ch = append(ch, comp)
		if p.peek() != ',' {
			return ch, nil
		}
		p.advance(1)
	}
}

// component reads START[..STOP][/REPEAT].
func (p *calendarParser) component(field string, usec bool) (component, error) {
	comp := component{stop: -1, pos: p.pos()}
	var err error
	if comp.start, err = p.decimal(field, usec); err != nil {
		return comp, err
	}
	if strings.HasPrefix(p.s, "..") {
		p.advance(2)
		if comp.stop, err = p.decimal(field, usec); err != nil {
			return comp, err
		}
		comp.repeat = 1
		if usec {
			comp.repeat = usecPerSec
		}
	}
	if p.peek() == '/' {
		p.advance(1)
		at := p.pos()
		if comp.repeat, err = p.decimal(field, usec); err != nil {
			return comp, err
		}
		if comp.repeat == 0 {
			return comp, p.errorf(at, "the %s repeats every 0", field)
		}
	}
	if ch := p.peek(); ch != 0 && !strings.ContainsRune(" ,-~:", rune(ch)) {
		return comp, p.errorf(p.pos(), "unexpected %q in the %s", rune(ch), field)
	}
	return comp, nil
}

// decimal reads a number; for seconds, with up to six decimals (a seventh
// rounds), in microseconds.
func (p *calendarParser) decimal(field string, usec bool) (int, error) {
	at := p.pos()
	n := 0
	for n < len(p.s) && p.s[n] >= '0' && p.s[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, p.errorf(at, "expected a number for the %s", field)
	}
	const limit = 1<<31 - 1
	v := 0
	for _, d := range p.s[:n] {
		v = v*10 + int(d-'0')
		if v > limit {
			return 0, p.errorf(at, "%s %s is out of range", field, p.s[:n])
		}
	}
	p.advance(n)
	if !usec {
		return v, nil
	}
	v *= usecPerSec
	if strings.HasPrefix(p.s, ".") && !strings.HasPrefix(p.s, "..") {
		p.advance(1)
		frac, digits := 0, 0
		for digits < 6 && digits < len(p.s) && p.s[digits] >= '0' && p.s[digits] <= '9' {
			frac = frac*10 + int(p.s[digits]-'0')
			digits++
		}
		if digits == 0 {
			return 0, p.errorf(p.pos(), "expected decimals after \".\" in the %s", field)
		}
		for i := digits; i < 6; i++ {
			frac *= 10
		}
		rest := p.s[digits:]
		if rest != "" && rest[0] >= '5' && rest[0] <= '9' {
			frac++
		}
		k := digits
		for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
			k++
		}
		p.advance(k)
		v += frac
	}
	if v > limit {
		return 0, p.errorf(at, "%s is out of range", field)
	}
	return v, nil
}

// normalize puts the expression in systemd's normal form: two-digit years
// in 1970..2069, ranges cut to a whole number of repeats, lists sorted
// without duplicates, all seven weekdays as none.
func (c *calendar) normalize() {
	if c.weekdays <= 0 || c.weekdays >= allWeekdays {
		c.weekdays = 0
	}
	if c.endOfMonth && c.day == nil {
		c.endOfMonth = false
	}
	for i := range c.year {
		for _, v := range []*int{&c.year[i].start, &c.year[i].stop} {
			switch {
			case *v >= 0 && *v < 70:
				*v += 2000
			case *v >= 70 && *v < 100:
				*v += 1900
			}
		}
	}
	for _, ch := range []*chain{&c.year, &c.month, &c.day, &c.hour, &c.minute, &c.usec} {
		normalizeChain(*ch)
		*ch = sortChain(*ch)
	}
}

func normalizeChain(ch chain) {
	for i := range ch {
		x := &ch[i]
		if x.stop > x.start && x.repeat > 0 {
			x.stop -= (x.stop - x.start) % x.repeat
		}
		// A repeat that cannot happen once, or a range of one value, is
		// the value alone.
		if (x.stop > x.start && x.repeat > 0 && x.start+x.repeat > x.stop) || x.start == x.stop {
			x.repeat, x.stop = 0, -1
		}
	}
}

func sortChain(ch chain) chain {
	if len(ch) <= 1 {
		return ch
	}
	key := func(a, b component) int {
		if a.start != b.start {
			return a.start - b.start
		}
		if a.stop != b.stop {
			return a.stop - b.stop
		}
		return a.repeat - b.repeat
	}
	slices.SortStableFunc(ch, key)
	return slices.CompactFunc(ch, func(a, b component) bool { return key(a, b) == 0 })
}

// valid checks every field against its range, as systemd does after
// normalizing: a repeat must fit once in the field, a range must not end
// before it starts, "~" counts at most 28 days back.
func (c *calendar) valid(p *calendarParser) error {
	type field struct {
		name     string
		ch       chain
		from, to int
		eom      bool
		usec     bool
	}
	for _, f := range []field{
		{"year", c.year, minYear, maxYear, false, false},
		{"month", c.month, 1, 12, false, false},
		{"day", c.day, 1, 31, c.endOfMonth, false},
		{"hour", c.hour, 0, 23, false, false},
		{"minute", c.minute, 0, 59, false, false},
		{"second", c.usec, 0, 60*usecPerSec - 1, false, true},
	} {
		to := f.to
		if f.eom {
			to -= 3
		}
		show := func(v int) string {
			if f.usec {
				return formatSeconds(v)
			}
			return fmt.Sprint(v)
		}
		rng := fmt.Sprintf("%s..%s", show(f.from), show(to))
		if f.usec {
			rng = "0..59.999999"
		}
		if f.eom {
			rng = fmt.Sprintf("~%d..~%d", f.from, to)
		}
		for _, x := range f.ch {
			switch {
			case x.start < f.from || x.start > to:
				return p.errorf(x.pos, "%s %s is out of range %s", f.name, show(x.start), rng)
			case x.repeat > to-f.from:
				return p.errorf(x.pos, "%s repeat /%s is longer than the %s's range %s", f.name, show(x.repeat), f.name, rng)
			case x.stop >= 0 && (x.stop < f.from || x.stop > to):
				return p.errorf(x.pos, "%s %s is out of range %s", f.name, show(x.stop), rng)
			case x.stop >= 0 && x.start+x.repeat > x.stop:
				return p.errorf(x.pos, "%s range %s..%s ends before it starts", f.name, show(x.start), show(x.stop))
			case x.stop < 0 && f.eom && x.start-x.repeat < f.from:
				return p.errorf(x.pos, "%s ~%d/%d repeats past the end of the month", f.name, x.start, x.repeat)
			case x.stop < 0 && !f.eom && x.start+x.repeat > to:
				return p.errorf(x.pos, "%s %s/%s never repeats within %s", f.name, show(x.start), show(x.repeat), rng)
			}
		}
	}
	return nil
}

func formatSeconds(usec int) string {
	s := fmt.Sprintf("%d", usec/usecPerSec)
	if usec%usecPerSec > 0 {
		s += fmt.Sprintf(".%06d", usec%usecPerSec)
	}
	return s
}

// String is the expression in systemd's normalized form, as
// `systemd-analyze calendar` prints it.
func (c *calendar) String() string {
	var b strings.Builder
	if c.weekdays > 0 {
		b.WriteString(formatWeekdays(c.weekdays))
		b.WriteByte(' ')
	}
	formatChain(&b, 4, c.year, false)
	b.WriteByte('-')
	formatChain(&b, 2, c.month, false)
	if c.endOfMonth {
		b.WriteByte('~')
	} else {
		b.WriteByte('-')
	}
	formatChain(&b, 2, c.day, false)
	b.WriteByte(' ')
	formatChain(&b, 2, c.hour, false)
	b.WriteByte(':')
	formatChain(&b, 2, c.minute, false)
	b.WriteByte(':')
	formatChain(&b, 2, c.usec, true)
	switch {
	case c.utc:
		b.WriteString(" UTC")
	case c.zone != "":
		b.WriteString(" " + c.zone)
	}
	return b.String()
}

func formatWeekdays(bits int) string {
	var parts []string
	for x := 0; x < 7; {
		if bits&(1<<x) == 0 {
			x++
			continue
		}
		y := x
		for y+1 < 7 && bits&(1<<(y+1)) != 0 {
			y++
		}
		switch {
		case y == x:
			parts = append(parts, weekdayShort[x])
		case y == x+1:
			parts = append(parts, weekdayShort[x], weekdayShort[y])
		default:
			parts = append(parts, weekdayShort[x]+".."+weekdayShort[y])
		}
		x = y + 1
	}
	return strings.Join(parts, ",")
}

func formatChain(b *strings.Builder, width int, ch chain, usec bool) {
	d := 1
	if usec {
		d = usecPerSec
	}
	if ch == nil || (usec && len(ch) == 1 && ch[0].start == 0 && ch[0].repeat == usecPerSec && ch[0].stop < 0) {
		b.WriteByte('*')
		return
	}
	for i, x := range ch {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%0*d", width, x.start/d)
		if x.start%d > 0 {
			fmt.Fprintf(b, ".%06d", x.start%d)
		}
		if x.stop > 0 {
			fmt.Fprintf(b, "..%0*d", width, x.stop/d)
			if x.stop%d > 0 {
				fmt.Fprintf(b, ".%06d", x.stop%d)
			}
		}
		if x.repeat > 0 && !(x.stop > 0 && x.repeat == d) {
			fmt.Fprintf(b, "/%d", x.repeat/d)
		}
		if x.repeat%d > 0 {
			fmt.Fprintf(b, ".%06d", x.repeat%d)
		}
	}
}
