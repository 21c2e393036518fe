package registrator

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
	"berth.dev/berth/internal/runtime"
)

func TestFloorCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		in     catalog.Check
		want   catalog.Check
		raised []string
	}{
		{"above the floors", catalog.Check{Type: catalog.CheckHTTP, Interval: 5 * time.Second, Timeout: 2 * time.Second},
			catalog.Check{Type: catalog.CheckHTTP, Interval: 5 * time.Second, Timeout: 2 * time.Second}, nil},
		{"unset: the defaults apply later", catalog.Check{Type: catalog.CheckTCP}, catalog.Check{Type: catalog.CheckTCP}, nil},
		{"exactly the floors", catalog.Check{Type: catalog.CheckExec, Interval: time.Second, Timeout: time.Second},
			catalog.Check{Type: catalog.CheckExec, Interval: time.Second, Timeout: time.Second}, nil},
		{"1ns interval", catalog.Check{Type: catalog.CheckExec, Interval: 1, Timeout: 5 * time.Second},
			catalog.Check{Type: catalog.CheckExec, Interval: time.Second, Timeout: 5 * time.Second},
			[]string{"interval 1ns raised to the minimum of 1s"}},
		{"short interval and timeout", catalog.Check{Type: catalog.CheckHTTP, Interval: time.Millisecond, Timeout: 500 * time.Millisecond},
			catalog.Check{Type: catalog.CheckHTTP, Interval: time.Second, Timeout: time.Second},
			[]string{"interval 1ms raised to the minimum of 1s", "timeout 500ms raised to the minimum of 1s"}},
		{"short TTL", catalog.Check{Type: catalog.CheckTTL, TTL: time.Microsecond},
			catalog.Check{Type: catalog.CheckTTL, TTL: time.Second}, []string{"ttl 1µs raised to the minimum of 1s"}},
		{"docker status runs nothing", catalog.Check{Type: catalog.CheckDocker, Interval: 1},
			catalog.Check{Type: catalog.CheckDocker, Interval: 1}, nil},
	} {
		c := tc.in
		raised := floorCheck(&c)
		if !reflect.DeepEqual(c, tc.want) || !reflect.DeepEqual(raised, tc.raised) {
			t.Errorf("%s: floorCheck = %+v %q, want %+v %q", tc.name, c, raised, tc.want, tc.raised)
		}
	}
}

// SERVICE_CHECK_INTERVAL=1ns on a Unit's container runs its script once a
// second, not back to back, shows the interval it runs at, and says so in
// a warning event on the Unit.
func TestCheckIntervalFloor(t *testing.T) {
	t.Parallel()
	e := newScriptEnv(t, false, "")
	id := e.run("tiny", []string{"SERVICE_NAME=tiny", "SERVICE_CHECK_SCRIPT=/testapp echo ok", "SERVICE_CHECK_INTERVAL=1ns",
		"SERVICE_CHECK_TIMEOUT=20ms"}, runtime.PortBinding{ContainerPort: 80, HostPort: 28090})
	e.eventually("three execs of the check", func() (bool, string) {
		n := len(e.execs.in(id))
		return n >= 3, fmt.Sprint(n, " execs")
	})
	calls := e.execs.in(id)
	for i := 1; i < 3; i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < v1.MinCheckInterval {
			t.Errorf("exec %d came %s after the one before, want at least %s (%d execs in all)", i+1, gap, v1.MinCheckInterval, len(calls))
		}
	}
	ep, ok := e.endpoint("tiny", "h1:tiny:80")
	if !ok || len(ep.Checks) != 1 || ep.Checks[0].Interval != time.Second || ep.Checks[0].Timeout != time.Second {
		t.Errorf("the catalog shows %+v, want the check at its effective interval and timeout, 1s", ep.Checks)
	}

	// A Unit's container (labelled by berth) gets the warning as an event.
	e.runLabelled("berth-unit-quick", map[string]string{v1.LabelHost: "h1", v1.LabelKind: v1.KindUnit, v1.LabelName: "quick"},
		[]string{"SERVICE_NAME=quick", "SERVICE_CHECK_TCP=true", "SERVICE_CHECK_INTERVAL=10ms"}, runtime.PortBinding{ContainerPort: 80, HostPort: 28091})
	e.eventually("a warning event on the Unit", func() (bool, string) {
		evs := e.events.with(ReasonCheckBelowMinimum)
		for _, ev := range evs {
			if strings.HasPrefix(ev, "Unit/quick Warning") && strings.Contains(ev, "interval 10ms raised to the minimum of 1s") {
				return true, ""
			}
		}
		return false, fmt.Sprint(evs)
	})
}
