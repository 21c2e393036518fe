package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The schedule of the fault test: a pure function of a seed, so that the
// seed a failing run prints replays the same faults, in the same order,
// at the same offsets, against the same targets.

// faultKind is one kind of step of a fault schedule: a fault, or one of
// the test's own writes.
type faultKind string

// The kinds of step. A fault with a duration (For) is undone when it
// ends: the process started or continued again, the link brought up, the
// goal set back to start.
const (
	faultKillController   faultKind = "kill controller"   // SIGKILL, started again after For
	faultFreezeController faultKind = "freeze controller" // SIGSTOP, SIGCONT after For
	faultStopEtcd         faultKind = "stop etcd member"  // SIGTERM, started again after For
	faultKillEtcd         faultKind = "kill etcd member"  // SIGKILL, started again after For
	faultFreezeEtcd       faultKind = "freeze etcd member"
	faultCutHost          faultKind = "cut host" // its link down (controller and etcd member), up after For
	faultKillContainers   faultKind = "kill containers"
	faultStopUnit         faultKind = "stop unit" // goal stop on a Unit others require, start after For
	faultRollJob          faultKind = "roll out job"
)

// faultShape is what a schedule picks its targets among.
type faultShape struct {
	Hosts  int // controllers, and etcd members, one per host
	Units  int // Units whose containers may be killed
	Groups int // Units others require, which may be stopped
}

// faultStep is one step of a schedule. Target is a host (or etcd member)
// index for the process and link faults, a group for faultStopUnit, and
// for faultKillContainers a Unit index below Shape.Units or, from
// Shape.Units on, the Job's container on host Target-Shape.Units.
type faultStep struct {
	At     time.Duration
	Kind   faultKind
	Target int
	For    time.Duration
}

func (s faultStep) String() string {
	out := fmt.Sprintf("%7.2fs %s #%d", s.At.Seconds(), s.Kind, s.Target)
	if s.For > 0 {
		out += fmt.Sprintf(" for %.2fs", s.For.Seconds())
	}
	return out
}

// faultPlan is a schedule of faults over Length: every fault is undone
// by Length.
type faultPlan struct {
	Seed   uint64
	Length time.Duration
	Shape  faultShape
	Steps  []faultStep // by At
}

// Bounds of the schedule.
const (
	faultMinGap     = 500 * time.Millisecond // between two steps
	faultMaxGap     = 3 * time.Second
	faultRollEvery  = 20 * time.Second // at least, between two rollouts
	faultRollSpread = 15 * time.Second // added at random to faultRollEvery
	faultMaxHosts   = 2                // hosts disturbed at once: one always runs
	faultMaxStopped = 2                // Units stopped at once
)

// newFaultPlan draws a schedule of length from seed, with these rules:
//
//   - a step every faultMinGap to faultMaxGap;
//   - at most one fault on etcd's quorum at a time (a member stopped,
//     killed or frozen, or a host cut off, which cuts its member too), so
//     that etcd keeps a majority: the test is about berth's loops, not
//     about etcd without quorum;
//   - at most one fault on a host's controller at a time, and at most
//     faultMaxHosts hosts disturbed at once;
//   - at most faultMaxStopped Units stopped at once;
//   - a new version of the Job every faultRollEvery plus up to
//     faultRollSpread;
//   - a fault that cannot be placed becomes a kill of containers;
//   - every fault is undone by length.
func newFaultPlan(seed uint64, length time.Duration, shape faultShape) faultPlan {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := faultPlan{Seed: seed, Length: length, Shape: shape}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo)+1)) }
	// busy[resource] is when the fault holding it ends.
	busy := map[string]time.Duration{}
	free := func(res string, at time.Duration) bool { return busy[res] <= at }
	hostsBusy := func(at time.Duration) int {
		n := 0
		for h := range shape.Hosts {
			if !free(fmt.Sprint("host", h), at) {
				n++
			}
		}
		return n
	}
	stoppedBusy := func(at time.Duration) int {
		n := 0
		for g := range shape.Groups {
			if !free(fmt.Sprint("group", g), at) {
				n++
			}
		}
		return n
	}
	// A fault lasts from lo to hi, cut short to end by length.
	lasting := func(at, lo, hi time.Duration) (time.Duration, bool) {
		d := between(lo, hi)
		if at+d > length {
			d = length - at
		}
		return d, d >= lo/2 && d > 0
	}
	nextRoll := between(2*time.Second, 8*time.Second)
	for at := between(faultMinGap, faultMaxGap); at < length; at += between(faultMinGap, faultMaxGap) {
		if at >= nextRoll {
			p.Steps = append(p.Steps, faultStep{At: at, Kind: faultRollJob})
			nextRoll = at + faultRollEvery + between(0, faultRollSpread)
			continue
		}
		step := faultStep{At: at, Kind: faultKillContainers, Target: r.IntN(shape.Units + shape.Hosts)}
		host := r.IntN(shape.Hosts)
		hostRes := fmt.Sprint("host", host)
		hostOK := free(hostRes, at) && hostsBusy(at) < faultMaxHosts
		switch n := r.IntN(100); {
		case n < 35:
			// the kill of containers drawn above
		case n < 47:
			if d, ok := lasting(at, time.Second, 8*time.Second); ok && hostOK {
				step = faultStep{At: at, Kind: faultKillController, Target: host, For: d}
				busy[hostRes] = at + d
			}
		case n < 60:
			if d, ok := lasting(at, time.Second, 10*time.Second); ok && hostOK {
				step = faultStep{At: at, Kind: faultFreezeController, Target: host, For: d}
				busy[hostRes] = at + d
			}
		case n < 76:
			kind := []faultKind{faultStopEtcd, faultKillEtcd, faultFreezeEtcd}[r.IntN(3)]
			if d, ok := lasting(at, 2*time.Second, 10*time.Second); ok && free("etcd", at) {
				step = faultStep{At: at, Kind: kind, Target: host, For: d}
				busy["etcd"] = at + d
			}
		case n < 88:
			if d, ok := lasting(at, 2*time.Second, 12*time.Second); ok && hostOK && free("etcd", at) {
				step = faultStep{At: at, Kind: faultCutHost, Target: host, For: d}
				busy[hostRes], busy["etcd"] = at+d, at+d
			}
		default:
			g := r.IntN(shape.Groups)
			res := fmt.Sprint("group", g)
			if d, ok := lasting(at, 5*time.Second, 15*time.Second); ok && free(res, at) && stoppedBusy(at) < faultMaxStopped {
				step = faultStep{At: at, Kind: faultStopUnit, Target: g, For: d}
				busy[res] = at + d
			}
		}
		p.Steps = append(p.Steps, step)
	}
	return p
}

// counts says how many steps of each kind the plan has.
func (p faultPlan) counts() map[faultKind]int {
	m := map[faultKind]int{}
	for _, s := range p.Steps {
		m[s.Kind]++
	}
	return m
}

// summary is one line: the seed, the length and the steps of each kind.
func (p faultPlan) summary() string {
	m := p.counts()
	var kinds []string
	for k := range m {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", m[faultKind(k)], k))
	}
	return fmt.Sprintf("seed %d, %s of faults: %s", p.Seed, p.Length, strings.Join(parts, ", "))
}
