package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// trail records what components did, in order.
type trail struct {
	mu     sync.Mutex
	events []string
}

func (t *trail) add(e string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
}

func (t *trail) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.events)
}

// has waits for e among the trail's events.
func (t *trail) has(e string) func() (bool, string) {
	return func() (bool, string) {
		l := t.list()
		return slices.Contains(l, e), strings.Join(l, ", ")
	}
}

// recorded returns a component of g that says when it starts and stops.
func (t *trail) recorded(name string, g group) component {
	return component{name: name, group: g, run: func(ctx context.Context) error {
		t.add("start " + name)
		<-ctx.Done()
		t.add("stop " + name)
		return nil
	}}
}

// termElector leads for each term the test sends, until the test closes
// that term's channel or the elector's context ends.
type termElector struct{ terms chan chan struct{} }

func (e *termElector) Run(ctx context.Context, lead func(context.Context)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case end := <-e.terms:
			lctx, cancel := context.WithCancel(ctx)
			go func() {
				defer cancel()
				select {
				case <-end:
				case <-lctx.Done():
				}
			}()
			lead(lctx)
			cancel()
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestManagerOrder: components start in the order added, each waiting for
// the one before it that says when it has started; they stop in
// shutdownOrder: the HTTP server, the cluster-wide loops, this host's
// components (the last started first), then etcd's.
func TestManagerOrder(t *testing.T) {
	t.Parallel()
	var tr trail
	m := newManager(discard())
	etcdUp := make(chan struct{})
	m.add(tr.recorded("http", groupAPI))
	m.add(component{name: "etcd", group: groupEtcd, started: etcdUp, run: func(ctx context.Context) error {
		tr.add("start etcd")
		close(etcdUp)
		<-ctx.Done()
		tr.add("stop etcd")
		return nil
	}})
	m.add(tr.recorded("client", groupEtcd))
	m.add(tr.recorded("catalog", groupHost))
	m.add(tr.recorded("scheduler", groupLeader))
	m.add(tr.recorded("heartbeat", groupHost))
	el := &termElector{terms: make(chan chan struct{})}
	var leading []bool
	m.lead(el, func(l bool) { leading = append(leading, l) })

	ctx, cancel := context.WithCancel(context.Background())
	if err := m.start(ctx); err != nil {
		t.Fatal(err)
	}
	el.terms <- make(chan struct{})
	eventually(t, 5*time.Second, "the scheduler starts once leading", tr.has("start scheduler"))
	cancel()
	if err := m.wait(ctx); err != nil {
		t.Fatalf("wait = %v, want nil once ctx ended", err)
	}
	m.stop()

	got := tr.list()
	start := slices.DeleteFunc(slices.Clone(got), func(e string) bool { return !strings.HasPrefix(e, "start ") })
	if i := slices.Index(start, "start etcd"); i < 0 || i > slices.Index(start, "start client") {
		t.Errorf("the client started before etcd said it had: %v", start)
	}
	stop := slices.DeleteFunc(slices.Clone(got), func(e string) bool { return !strings.HasPrefix(e, "stop ") })
	want := []string{"stop http", "stop scheduler", "stop heartbeat", "stop catalog", "stop client", "stop etcd"}
	if !slices.Equal(stop, want) {
		t.Errorf("shutdown order %v, want %v", stop, want)
	}
	if !slices.Equal(leading, []bool{true, false}) {
		t.Errorf("onLead was told %v, want [true false]", leading)
	}
}

// TestManagerStartError: a component that fails before it has started
// is start's error, and nothing added after it starts.
func TestManagerStartError(t *testing.T) {
	t.Parallel()
	var tr trail
	m := newManager(discard())
	defer m.stop()
	m.add(tr.recorded("http", groupAPI))
	refused := errors.New("--dns-listen: address already in use")
	m.add(component{name: "dns", group: groupHost, started: make(chan struct{}), run: func(context.Context) error {
		return refused
	}})
	m.add(tr.recorded("heartbeat", groupHost))
	if err := m.start(context.Background()); !errors.Is(err, refused) {
		t.Fatalf("start = %v, want %v", err, refused)
	}
	m.stop()
	if got, want := tr.list(), []string{"start http", "stop http"}; !slices.Equal(got, want) {
		t.Errorf("components ran %v, want %v", got, want)
	}
}

// TestManagerStartReturned: a component that returns before it has
// started, without an error, is an error of start all the same.
func TestManagerStartReturned(t *testing.T) {
	t.Parallel()
	m := newManager(discard())
	defer m.stop()
	m.add(component{name: "etcd client", group: groupEtcd, started: make(chan struct{}), run: func(context.Context) error {
		return nil
	}})
	if err := m.start(context.Background()); err == nil || err.Error() != "etcd client stopped before it started" {
		t.Fatalf("start = %v, want the component named as stopped before it started", err)
	}
}

// TestManagerStartCancelled: a context that ends while a component is
// starting (etcd unreachable) makes start return nil, and stop ends that
// component.
func TestManagerStartCancelled(t *testing.T) {
	t.Parallel()
	m := newManager(discard())
	stopped := make(chan struct{})
	m.add(component{name: "client", group: groupEtcd, started: make(chan struct{}), run: func(ctx context.Context) error {
		<-ctx.Done() // never connects
		close(stopped)
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.start(ctx); err != nil {
		t.Fatalf("start = %v, want nil", err)
	}
	m.stop()
	select {
	case <-stopped:
	default:
		t.Error("stop returned before the starting component did")
	}
}

// TestManagerComponentFails: a component's error while running is wait's
// error; the first one counts.
func TestManagerComponentFails(t *testing.T) {
	t.Parallel()
	var tr trail
	m := newManager(discard())
	defer m.stop()
	failed := errors.New("HTTP server: accept: too many open files")
	fail := make(chan struct{})
	m.add(tr.recorded("catalog", groupHost))
	m.add(component{name: "http", group: groupAPI, run: func(ctx context.Context) error {
		select {
		case <-fail:
			return failed
		case <-ctx.Done():
			return nil
		}
	}})
	if err := m.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(fail)
	if err := m.wait(context.Background()); !errors.Is(err, failed) {
		t.Fatalf("wait = %v, want %v", err, failed)
	}
	m.stop()
	if got, want := tr.list(), []string{"start catalog", "stop catalog"}; !slices.Equal(got, want) {
		t.Errorf("components ran %v, want %v", got, want)
	}
}

// TestManagerLeaderTerms: the components of groupLeader run for each
// term of leadership, from its start to its end, and not between terms.
func TestManagerLeaderTerms(t *testing.T) {
	t.Parallel()
	var tr trail
	m := newManager(discard())
	defer m.stop()
	m.add(tr.recorded("heartbeat", groupHost))
	m.add(tr.recorded("scheduler", groupLeader))
	m.add(tr.recorded("jobs", groupLeader))
	el := &termElector{terms: make(chan chan struct{})}
	var mu sync.Mutex
	leading := false
	m.lead(el, func(l bool) {
		mu.Lock()
		defer mu.Unlock()
		leading = l
	})
	if err := m.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	count := func(e string) int {
		n := 0
		for _, x := range tr.list() {
			if x == e {
				n++
			}
		}
		return n
	}
	for term := 1; term <= 2; term++ {
		end := make(chan struct{})
		el.terms <- end
		for _, c := range []string{"scheduler", "jobs"} {
			eventually(t, 5*time.Second, fmt.Sprintf("%s runs in term %d", c, term), func() (bool, string) {
				return count("start "+c) == term, strings.Join(tr.list(), ", ")
			})
		}
		close(end)
		for _, c := range []string{"scheduler", "jobs"} {
			eventually(t, 5*time.Second, fmt.Sprintf("%s stops at the end of term %d", c, term), func() (bool, string) {
				return count("stop "+c) == term, strings.Join(tr.list(), ", ")
			})
		}
		eventually(t, 5*time.Second, "berth_leader is told the term ended", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return !leading, "still leading"
		})
	}
	if n := count("stop heartbeat"); n != 0 {
		t.Errorf("this host's components stopped with leadership: %v", tr.list())
	}
}
