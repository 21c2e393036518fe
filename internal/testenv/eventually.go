package testenv

import (
	"fmt"
	"testing"
	"time"
)

// Condition is what Eventually waits for: a func() bool; a func() (bool,
// string) whose string says what was seen; or a func() error that holds
// when it returns nil, its error saying what was seen.
type Condition interface {
	func() bool | func() (bool, string) | func() error
}

// Eventually polls cond until it holds and fails the test when timeout
// passes first, saying what was awaited and the last thing cond said of
// it. It polls every 10ms at first and less often as it waits, down to
// every 100ms, so a condition that is slow to check (a docker command, an
// HTTP request) is not hammered.
//
// A package that always passes one kind of condition may name it:
//
//	var eventually = testenv.Eventually[func() (bool, string)]
func Eventually[C Condition](t testing.TB, timeout time.Duration, what string, cond C) {
	t.Helper()
	check := asCheck(cond)
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last: %s", what, timeout, last)
			return
		}
		time.Sleep(wait) // the period of the poll, not a wait in place of the condition
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// asCheck turns any Condition into a func() (bool, string).
func asCheck[C Condition](cond C) func() (bool, string) {
	switch f := any(cond).(type) {
	case func() bool:
		return func() (bool, string) { return f(), "false" }
	case func() (bool, string):
		return f
	case func() error:
		return func() (bool, string) {
			err := f()
			return err == nil, fmt.Sprint(err)
		}
	}
	panic("unreachable: Condition has three types")
}
