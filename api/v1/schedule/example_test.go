package schedule_test

import (
	"fmt"
	"time"

	"berth.dev/berth/api/v1/schedule"
)

func Example() {
	s, err := schedule.Parse("Mon..Fri 09:00", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	from := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // a Friday
	for _, t := range s.Ticks(from, from.AddDate(0, 0, 7), 3) {
		fmt.Println(t.Format("Mon 2006-01-02 15:04 MST"))
	}
	last, _ := s.Latest(from, from.AddDate(0, 1, 0))
	fmt.Println("last in a month:", last.Format("Mon 2006-01-02"))

	_, err = schedule.Parse("*-*-* 25:00", nil)
	fmt.Println(err)
	// Output:
	// Mon..Fri *-*-* 09:00:00
	// Mon 2026-12-07 09:00 UTC
	// Tue 2026-12-08 09:00 UTC
	// Wed 2026-12-09 09:00 UTC
	// last in a month: Mon 2027-01-04
	// invalid schedule "*-*-* 25:00" at offset 6 ("25:00"): hour 25 is out of range 0..23
}
