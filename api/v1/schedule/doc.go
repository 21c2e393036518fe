// Package schedule reads when a Timer fires: a systemd calendar expression,
// as OnCalendar= and `systemd-analyze calendar` read it, or a cron
// expression, and finds its elapses.
//
// # Calendar expressions
//
// systemd.time(7)'s syntax, "[WEEKDAYS] [YEAR-MONTH-DAY] [HOUR:MINUTE[:SECOND]]
// [ZONE]":
//
//	daily                      *-*-* 00:00:00
//	Mon..Fri *-*-* 09:00       weekdays at nine
//	*:0/15                     every quarter of an hour
//	*-*~01                     the last day of every month
//	Sat,Sun 10:00 Europe/Berlin
//	05:40:23.42/3.17           from 05:40:23.42, every 3.17 s within that minute
//	@1395716396                that one second, in UTC
//
// Weekdays are Mon..Sun (or their full names, in any case), in lists and
// ranges ("Mon,Wed..Fri"; "Mon-Fri" too). Each of year, month, day, hour,
// minute and second is "*" or a list of values, ranges ("12..14") and
// repeats ("0/15", "10..50/20"); seconds take up to six decimals. "~"
// before the day counts it from the end of the month. The shorthands are
// minutely, hourly, daily, weekly, monthly, quarterly, semiannually,
// yearly and their aliases. A trailing "UTC" or tz database name is the
// zone the expression is read in; without one, the zone given to [Parse].
// [Schedule.String] is the normalized form that systemd prints.
//
// Elapses are found as systemd finds them, to the microsecond, up to the
// year 2199. Where clocks change, as systemd does: a wall time that does
// not exist (02:30 when clocks go from 02:00 to 03:00) is skipped that day;
// a wall time that happens twice (clocks set back) fires once, at its first
// pass, and an hourly or quarter-hourly expression does not fire in the
// repeated hour.
//
// The tests hold berth to systemd: testdata/systemd.txt is what systemd 252's
// own code (`systemd-analyze calendar --iterations=12 --base-time=...`)
// made of every expression in testdata/expressions.txt — systemd.time(7)'s
// examples, DST changes in zones of both hemispheres, month ends, leap
// days, refusals — and testdata/gen-systemd.sh writes it again. Where berth
// differs: it trims spaces around an expression, and it does not take the
// local zone's abbreviations ("CET"): hosts of a cluster share no local
// zone, so a zone is named or UTC.
//
// # Cron expressions
//
// An expression of five fields (minute, hour, day of month, month, day of
// week), optionally after CRON_TZ=ZONE or TZ=ZONE, or a descriptor
// (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually), is
// read by github.com/robfig/cron/v3 and elapses to the second. @every is
// refused: it is an interval from when a process started, not a time.
//
// # Never firing
//
// An expression that parses may still never elapse ("*-02-30", a date in
// the past); [Schedule.Fires] says so, and a Timer is refused for it.
//
// Schedules are immutable and safe for concurrent use.
package schedule
