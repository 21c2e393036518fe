package e2e

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestFaultPlanIsSeeded: a seed replays its schedule step for step,
// another seed draws another one, and every schedule keeps the rules
// newFaultPlan states.
func TestFaultPlanIsSeeded(t *testing.T) {
	t.Parallel()
	shape := faultShape{Hosts: 3, Units: 20, Groups: 5}
	a, b := newFaultPlan(42, 2*time.Minute, shape), newFaultPlan(42, 2*time.Minute, shape)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 drew two schedules:\n%v\n%v", a.Steps, b.Steps)
	}
	if c := newFaultPlan(43, 2*time.Minute, shape); reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatalf("seeds 42 and 43 drew the same schedule: %v", a.Steps)
	}
	for seed := range uint64(200) {
		p := newFaultPlan(seed, 2*time.Minute, shape)
		if err := checkFaultPlan(p); err != nil {
			t.Fatalf("seed %d: %v\n%v", seed, err, p.Steps)
		}
	}
	t.Logf("seed 42: %s", a.summary())
}

// checkFaultPlan returns the first rule of newFaultPlan the plan breaks.
func checkFaultPlan(p faultPlan) error {
	type span struct {
		from, to time.Duration
		step     faultStep
	}
	var etcd []span
	hosts := map[int][]span{}
	var stopped []span
	var lastRoll time.Duration = -time.Hour
	kinds := map[faultKind]bool{}
	for i, s := range p.Steps {
		kinds[s.Kind] = true
		if i > 0 {
			if gap := s.At - p.Steps[i-1].At; gap < faultMinGap || gap > faultMaxGap {
				return fmt.Errorf("step %v comes %s after the one before", s, gap)
			}
		}
		if s.At+s.For > p.Length {
			return fmt.Errorf("step %v ends after the schedule's %s", s, p.Length)
		}
		sp := span{s.At, s.At + s.For, s}
		switch s.Kind {
		case faultRollJob:
			if s.At-lastRoll < faultRollEvery {
				return fmt.Errorf("step %v comes %s after the rollout before", s, s.At-lastRoll)
			}
			lastRoll = s.At
		case faultKillController, faultFreezeController:
			hosts[s.Target] = append(hosts[s.Target], sp)
		case faultStopEtcd, faultKillEtcd, faultFreezeEtcd:
			etcd = append(etcd, sp)
		case faultCutHost:
			hosts[s.Target] = append(hosts[s.Target], sp)
			etcd = append(etcd, sp)
		case faultStopUnit:
			stopped = append(stopped, sp)
		case faultKillContainers:
			if s.Target >= p.Shape.Units+p.Shape.Hosts {
				return fmt.Errorf("step %v kills the containers of no Unit or host", s)
			}
		}
	}
	overlap := func(a, b span) bool { return a.from < b.to && b.from < a.to }
	for i, a := range etcd {
		for _, b := range etcd[i+1:] {
			if overlap(a, b) {
				return fmt.Errorf("etcd faults %v and %v overlap", a.step, b.step)
			}
		}
	}
	var all []span
	for _, spans := range hosts {
		for i, a := range spans {
			for _, b := range spans[i+1:] {
				if overlap(a, b) {
					return fmt.Errorf("faults %v and %v on one host overlap", a.step, b.step)
				}
			}
		}
		all = append(all, spans...)
	}
	for _, a := range all {
		n := 0
		for _, b := range all {
			if b.from <= a.from && a.from < b.to {
				n++
			}
		}
		if n > faultMaxHosts {
			return fmt.Errorf("%d hosts disturbed at %s", n, a.from)
		}
	}
	for _, a := range stopped {
		n := 0
		for _, b := range stopped {
			if b.from <= a.from && a.from < b.to {
				n++
				if b.step.Target == a.step.Target && b != a {
					return fmt.Errorf("unit stops %v and %v overlap", a.step, b.step)
				}
			}
		}
		if n > faultMaxStopped {
			return fmt.Errorf("%d units stopped at %s", n, a.from)
		}
	}
	if len(p.Steps) == 0 || !kinds[faultRollJob] || !kinds[faultKillContainers] {
		return fmt.Errorf("a schedule of %s without a rollout or a kill of containers", p.Length)
	}
	return nil
}
