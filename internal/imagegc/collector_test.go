package imagegc

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	img := func(id string) runtime.Image { return runtime.Image{ID: id} }
	entries := map[string]Entry{
		"sha256:used":   {PulledAt: t0.Add(-3 * time.Hour)},
		"sha256:old":    {PulledAt: t0.Add(-3 * time.Hour), LastUsed: t0.Add(-time.Hour)},
		"sha256:recent": {PulledAt: t0.Add(-3 * time.Hour), LastUsed: t0.Add(-59 * time.Minute)},
		"sha256:fresh":  {PulledAt: t0.Add(-time.Minute)},
		"sha256:gone":   {PulledAt: t0.Add(-3 * time.Hour)},
	}
	images := []runtime.Image{img("sha256:used"), img("sha256:old"), img("sha256:recent"), img("sha256:fresh"), img("sha256:local")}
	d := decide(entries, images, map[string]bool{"sha256:used": true}, t0, time.Hour)
	var removed []string
	for _, i := range d.remove {
		removed = append(removed, i.ID)
	}
	if !slices.Equal(removed, []string{"sha256:old"}) {
		t.Errorf("remove = %v, want only the one out of use for an hour", removed)
	}
	if !slices.Equal(d.gone, []string{"sha256:gone"}) {
		t.Errorf("gone = %v", d.gone)
	}
	if len(d.set) != 1 || !d.set["sha256:used"].LastUsed.Equal(t0) {
		t.Errorf("set = %v, want the used one seen now", d.set)
	}
}

// gcEnv is a collector over a fake engine whose registry has images, and
// a clock the test moves.
type gcEnv struct {
	t     *testing.T
	rt    *fake.Runtime
	rec   *Record
	c     *Collector
	now   time.Time
	inUse []string
	reg   *prometheus.Registry
	path  string
}

func newGCEnv(t *testing.T) *gcEnv {
	e := &gcEnv{t: t, rt: fake.New(), now: t0, reg: prometheus.NewRegistry(), path: filepath.Join(t.TempDir(), "images.json")}
	var err error
	if e.rec, err = Open(e.path); err != nil {
		t.Fatal(err)
	}
	e.c = New(Options{Runtime: e.rt, Record: e.rec, After: time.Hour, Registerer: e.reg,
		InUse: func() []string { return e.inUse }, Now: func() time.Time { return e.now }})
	return e
}

// pull pulls ref as berth does, and records it.
func (e *gcEnv) pull(ref string) string {
	e.t.Helper()
	ctx := context.Background()
	if err := e.rt.Pull(ctx, ref, runtime.PullOptions{}); err != nil {
		e.t.Fatal(err)
	}
	img, err := e.rt.InspectImage(ctx, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rec.Pulled(ref, img.ID, e.now); err != nil {
		e.t.Fatal(err)
	}
	return img.ID
}

func (e *gcEnv) collect() {
	e.t.Helper()
	if err := e.c.Collect(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *gcEnv) has(ref string) bool {
	ok, err := e.rt.ImageExists(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func TestCollect(t *testing.T) {
	e := newGCEnv(t)
	ctx := context.Background()
	for _, ref := range []string{"r.test/app:1", "r.test/app:2", "r.test/used:1", "r.test/wanted:1", "r.test/shared:1"} {
		e.rt.AddRegistryImage(ref)
	}
	e.pull("r.test/app:1")
	e.pull("r.test/app:2")
	usedID := e.pull("r.test/used:1")
	e.pull("r.test/wanted:1")
	sharedID := e.pull("r.test/shared:1")
	e.rt.AddImage("local/built:1") // never pulled by berth
	// A container berth does not manage uses one; an instance placed
	// here wants another; an operator tagged a third for their own use.
	if _, err := e.rt.Create(ctx, runtime.ContainerSpec{Name: "someone-elses", Image: "r.test/used:1"}); err != nil {
		t.Fatal(err)
	}
	e.inUse = []string{"r.test/app:2", "r.test/wanted:1"}
	tagShared(t, e.rt, sharedID)

	e.now = t0.Add(59 * time.Minute)
	e.collect()
	if !e.has("r.test/app:1") {
		t.Fatalf("an image out of use for 59m was removed (--image-gc-after 1h)")
	}
	e.now = t0.Add(61 * time.Minute)
	e.collect()
	for ref, want := range map[string]bool{"r.test/app:1": false, "r.test/app:2": true, "r.test/used:1": true,
		"r.test/wanted:1": true, "local/built:1": true, "r.test/shared:1": false, "ops/shared:mine": true} {
		if got := e.has(ref); got != want {
			t.Errorf("after an hour: %s present = %v, want %v", ref, got, want)
		}
	}
	if got := testutil.ToFloat64(e.c.removed); got != 1 {
		t.Errorf("berth_images_removed_total = %v, want 1", got)
	}
	entries := e.rec.Entries()
	if _, ok := entries[sharedID]; ok {
		t.Errorf("the image tagged for another use is still in the record")
	}
	if !entries[usedID].LastUsed.Equal(e.now) {
		t.Errorf("used image's LastUsed = %v, want %v", entries[usedID].LastUsed, e.now)
	}
	// The record survives a restart.
	again, err := Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Entries(); len(got) != len(entries) {
		t.Errorf("reopened record has %d entries, want %d", len(got), len(entries))
	}
	// Out of use at last: wanted no more, and the container gone.
	e.inUse = nil
	cs, _ := e.rt.List(ctx, runtime.ListOptions{All: true})
	for _, c := range cs {
		if err := e.rt.Remove(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(30 * time.Minute)
	e.collect()
	if !e.has("r.test/used:1") {
		t.Errorf("removed 30m after its last use")
	}
	e.now = e.now.Add(31 * time.Minute)
	e.collect()
	for _, ref := range []string{"r.test/app:2", "r.test/used:1", "r.test/wanted:1"} {
		if e.has(ref) {
			t.Errorf("%s still present an hour after its last use", ref)
		}
	}
	if !e.has("local/built:1") {
		t.Errorf("a locally built image was removed")
	}
	if n := len(e.rec.Entries()); n != 0 {
		t.Errorf("record keeps %d entries", n)
	}
	if got := testutil.ToFloat64(e.c.bytes.WithLabelValues("other")); got <= 0 {
		t.Errorf("berth_images_bytes{owner=other} = %v", got)
	}
}

// tagShared gives the image id a tag of an operator's own.
func tagShared(t *testing.T, rt *fake.Runtime, id string) {
	t.Helper()
	if err := rt.Tag(id, "ops/shared:mine"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "images.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || len(r.Entries()) != 0 {
		t.Errorf("Open(bad) = %v, %v", r.Entries(), err)
	}
}

// An image pulled while a pass runs, after the engine's images were
// listed, is kept in the record.
func TestCollectKeepsWhatIsPulledMeanwhile(t *testing.T) {
	e := newGCEnv(t)
	e.rt.AddRegistryImage("r.test/late:1")
	var id string
	e.c.o.InUse = func() []string {
		if id == "" {
			id = e.pull("r.test/late:1") // between the listing and the decision
		}
		return nil
	}
	e.collect()
	if _, ok := e.rec.Entries()[id]; !ok {
		t.Fatalf("the image pulled during the pass was forgotten")
	}
}
