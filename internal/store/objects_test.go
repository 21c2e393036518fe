package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func testUnit(name, image string) *v1.Unit {
	u := &v1.Unit{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
		Metadata: v1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:     v1.UnitSpec{Container: v1.ContainerTemplate{Image: image}},
	}
	v1.Default(u)
	return u
}

func applyOne(t *testing.T, s *store.Store, o v1.Object) store.ApplyResult {
	t.Helper()
	res, err := store.Apply(context.Background(), s, []v1.Object{o}, store.ApplyOptions{})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res) != 1 {
		t.Fatalf("Apply returned %d results, want 1", len(res))
	}
	return res[0]
}

func getUnit(t *testing.T, s *store.Store, name string) *v1.Unit {
	t.Helper()
	o, err := store.GetObject(context.Background(), s, "unit", name)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	return o.(*v1.Unit)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{store.ObjectKey("unit", "todo"), "/berth/v1/objects/unit/todo"},
		{store.ObjectKey(v1.KindUnit, "todo"), "/berth/v1/objects/unit/todo"},
		{store.ObjectPrefix("job"), "/berth/v1/objects/job/"},
		{store.StatusKey("unit", "todo", "host-a"), "/berth/v1/status/host-a/unit/todo"},
		{store.HostStatusPrefix("host-a"), "/berth/v1/status/host-a/"},
		{store.HistoryPrefix("Job", "web", "host-a"), "/berth/v1/history/host-a/job/web/"},
		{store.CatalogKey("host-a", "web", "host-a:web:80"), "/berth/v1/catalog/host-a/web/host-a:web:80"},
		{store.HostKey("host-a"), "/berth/v1/hosts/host-a"},
		{store.AliveKey("host-a"), "/berth/v1/alive/host-a"},
		{store.BindingKey("Unit", "todo"), "/berth/v1/bindings/unit/todo"},
		{store.EventPrefix("unit", "todo"), "/berth/v1/events/unit/todo/"},
		{store.ApplySetKey("app"), "/berth/v1/applysets/app"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	kind, name, host, ok := store.ParseStatusKey(store.StatusKey(v1.KindJob, "web", "host-a"))
	if !ok || kind != "job" || name != "web" || host != "host-a" {
		t.Errorf("ParseStatusKey = %q %q %q %v", kind, name, host, ok)
	}
	kind, name, host, ok = store.ParseHistoryKey(store.HistoryPrefix(v1.KindJob, "web", "host-a") + "7")
	if !ok || kind != "job" || name != "web" || host != "host-a" {
		t.Errorf("ParseHistoryKey = %q %q %q %v", kind, name, host, ok)
	}
	host, svc, id, ok := store.ParseCatalogKey(store.CatalogKey("host-a", "web", "a/b c"))
	if !ok || host != "host-a" || svc != "web" || id != "a/b c" {
		t.Errorf("ParseCatalogKey = %q %q %q %v", host, svc, id, ok)
	}
	for _, bad := range []string{"/berth/v1/status/host-a/unit", "/berth/v1/status//unit/x", "/berth/v1/objects/unit/x"} {
		if _, _, _, ok := store.ParseStatusKey(bad); ok {
			t.Errorf("ParseStatusKey(%q) ok", bad)
		}
	}
	for _, tc := range []struct {
		parse      func(string) (string, string, bool)
		key        string
		kind, name string
		ok         bool
	}{
		{store.ParseObjectKey, store.ObjectKey(v1.KindJob, "web"), "job", "web", true},
		{store.ParseObjectKey, store.JobVersionKey("web", "1"), "", "", false},
		{store.ParseObjectKey, store.ObjectsPrefix + "unit/", "", "", false},
		{store.ParseBindingKey, store.BindingKey(v1.KindUnit, "web"), "unit", "web", true},
		{store.ParseBindingKey, store.ObjectKey(v1.KindUnit, "web"), "", "", false},
		{store.ParseBindingKey, store.BindingKey(v1.KindTimer, v1.TimerRunName("nightly", 1)), "timer", "nightly/1", true},
		{store.ParseEventKey, store.EventPrefix(v1.KindUnit, "web") + "17a2-h", "unit", "web", true},
		{store.ParseEventKey, store.EventPrefix(v1.KindUnit, "web"), "", "", false},
	} {
		kind, name, ok := tc.parse(tc.key)
		if kind != tc.kind || name != tc.name || ok != tc.ok {
			t.Errorf("parse %q = %q %q %v, want %q %q %v", tc.key, kind, name, ok, tc.kind, tc.name, tc.ok)
		}
	}
	for _, tc := range []struct {
		parse func(string) (string, bool)
		key   string
		host  string
	}{
		{store.ParseHostKey, store.HostKey("host-a"), "host-a"},
		{store.ParseHostKey, store.AliveKey("host-a"), ""},
		{store.ParseHostKey, store.HostsPrefix, ""},
		{store.ParseHostKey, store.HostKey("host-a") + "/x", ""},
		{store.ParseAliveKey, store.AliveKey("host-a"), "host-a"},
		{store.ParseAliveKey, store.HostKey("host-a"), ""},
	} {
		if host, ok := tc.parse(tc.key); host != tc.host || ok != (tc.host != "") {
			t.Errorf("parse %q = %q %v, want %q", tc.key, host, ok, tc.host)
		}
	}
	if !store.IsStatusOf(store.StatusKey("Unit", "todo", "h"), v1.KindUnit, "todo") || store.IsStatusOf(store.StatusKey("Unit", "todo2", "h"), v1.KindUnit, "todo") {
		t.Error("IsStatusOf matches the wrong object")
	}
}

func TestApplyActions(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()

	r := applyOne(t, s, testUnit("todo", "todo:1"))
	if r.Action != store.Created || r.Kind != v1.KindUnit || r.Name != "todo" {
		t.Fatalf("first apply: %+v, want created unit todo", r)
	}
	first := getUnit(t, s, "todo")
	if first.Metadata.UID == "" || first.Metadata.Generation != 1 || first.Metadata.CreationTimestamp.IsZero() {
		t.Fatalf("created metadata: %+v", first.Metadata)
	}
	if first.Metadata.ResourceVersion != r.Object.GetObjectMeta().ResourceVersion {
		t.Errorf("resourceVersion %q, result says %q", first.Metadata.ResourceVersion, r.Object.GetObjectMeta().ResourceVersion)
	}

	rev0, _ := s.Revision(ctx)
	if r := applyOne(t, s, testUnit("todo", "todo:1")); r.Action != store.Unchanged {
		t.Fatalf("same apply: %s, want unchanged", r.Action)
	}
	if rev1, _ := s.Revision(ctx); rev1 != rev0 {
		t.Errorf("an unchanged apply wrote: revision %d -> %d", rev0, rev1)
	}

	// A label change configures the object without raising its generation.
	u := testUnit("todo", "todo:1")
	u.Metadata.Labels["tier"] = "web"
	if r := applyOne(t, s, u); r.Action != store.Configured {
		t.Fatalf("label change: %s, want configured", r.Action)
	}
	got := getUnit(t, s, "todo")
	if got.Metadata.Generation != 1 || got.Metadata.Labels["tier"] != "web" {
		t.Fatalf("after label change: generation %d labels %v, want 1 with tier=web", got.Metadata.Generation, got.Metadata.Labels)
	}

	// An annotation change too.
	u.Metadata.Annotations = map[string]string{"note": "x"}
	if r := applyOne(t, s, u); r.Action != store.Configured {
		t.Fatalf("annotation change: %s, want configured", r.Action)
	}

	// A spec change raises it; uid and creationTimestamp stay.
	u.Spec.Container.Image = "todo:2"
	if r := applyOne(t, s, u); r.Action != store.Configured {
		t.Fatalf("spec change: %s, want configured", r.Action)
	}
	got = getUnit(t, s, "todo")
	if got.Metadata.Generation != 2 {
		t.Errorf("generation %d after a spec change, want 2", got.Metadata.Generation)
	}
	if got.Metadata.UID != first.Metadata.UID || !got.Metadata.CreationTimestamp.Equal(first.Metadata.CreationTimestamp) {
		t.Errorf("uid/creationTimestamp changed: %+v, first %+v", got.Metadata, first.Metadata)
	}
	if got.Spec.Container.Image != "todo:2" {
		t.Errorf("image %q, want todo:2", got.Spec.Container.Image)
	}
}

func TestApplyDoesNotStoreStatusOrChangeInput(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	u := testUnit("todo", "todo:1")
	u.Status = &v1.ObjectStatus{Instances: []v1.InstanceStatus{{Host: "h", State: v1.StateRunning}}}
	u.Metadata.ResourceVersion = "999"
	applyOne(t, s, u)
	if u.Metadata.UID != "" || u.Metadata.Generation != 0 || u.Status == nil {
		t.Errorf("Apply changed its input: %+v", u.Metadata)
	}
	kv, err := s.Get(context.Background(), store.ObjectKey("unit", "todo"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(kv.Value, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["status"]; ok {
		t.Errorf("status stored: %s", kv.Value)
	}
	if _, ok := raw["metadata"].(map[string]any)["resourceVersion"]; ok {
		t.Errorf("resourceVersion stored: %s", kv.Value)
	}
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	applyOne(t, s, testUnit("a", "a:1"))
	rev0, _ := s.Revision(ctx)
	changed := testUnit("a", "a:2")
	res, err := store.Apply(ctx, s, []v1.Object{changed, testUnit("b", "b:1")}, store.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != store.Configured || res[1].Action != store.Created {
		t.Errorf("dry run actions %s, %s; want configured, created", res[0].Action, res[1].Action)
	}
	if g := res[0].Object.GetObjectMeta().Generation; g != 2 {
		t.Errorf("dry run generation %d, want 2", g)
	}
	if rev1, _ := s.Revision(ctx); rev1 != rev0 {
		t.Errorf("dry run wrote: revision %d -> %d", rev0, rev1)
	}
	if _, err := store.GetObject(ctx, s, "unit", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dry run created b: %v", err)
	}
}

func TestApplyRefusesDuplicatesAndHosts(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	if _, err := store.Apply(ctx, s, []v1.Object{testUnit("a", "x"), testUnit("a", "y")}, store.ApplyOptions{}); err == nil {
		t.Error("two objects of the same name: no error")
	}
	h := v1.New(v1.KindHost)
	h.GetObjectMeta().Name = "h"
	if _, err := store.Apply(ctx, s, []v1.Object{h}, store.ApplyOptions{}); err == nil {
		t.Error("a Host was applied")
	}
}

// Two applies of one object race: the loser of the compare-and-swap reads
// again and applies on top of the winner, so both changes are counted.
func TestApplyConcurrentNoLostUpdate(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	applyOne(t, s, testUnit("todo", "todo:1"))
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := testUnit("todo", fmt.Sprintf("todo:r%d-%d", round, i))
				_, errs[i] = store.Apply(ctx, s, []v1.Object{u}, store.ApplyOptions{})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		got := getUnit(t, s, "todo")
		if want := int64(3 + 2*round); got.Metadata.Generation != want {
			t.Fatalf("round %d: generation %d, want %d (a lost update)", round, got.Metadata.Generation, want)
		}
	}
}

func TestApply1000IsOneRevision(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	objs := make([]v1.Object, 1000)
	for i := range objs {
		objs[i] = testUnit(fmt.Sprintf("u%04d", i), "img:1")
	}
	rev0, _ := s.Revision(ctx)
	res, err := store.Apply(ctx, s, objs, store.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev1, _ := s.Revision(ctx)
	if rev1 != rev0+1 {
		t.Errorf("apply of 1000 objects took revisions %d..%d, want one", rev0, rev1)
	}
	list, rev, err := store.ListObjects(ctx, s, "unit")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1000 || rev != rev1 {
		t.Fatalf("listed %d objects at %d, want 1000 at %d", len(list), rev, rev1)
	}
	for i, o := range list {
		if o.GetObjectMeta().ResourceVersion != strconv.FormatInt(rev1, 10) || res[i].Action != store.Created {
			t.Fatalf("object %d: resourceVersion %q action %s", i, o.GetObjectMeta().ResourceVersion, res[i].Action)
		}
	}
	// Re-applying them all changes nothing.
	res, err = store.Apply(ctx, s, objs, store.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != store.Unchanged {
			t.Fatalf("%s/%s %s on re-apply", r.Kind, r.Name, r.Action)
		}
	}
}

func TestGetAndDeleteObject(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	if _, err := store.GetObject(ctx, s, "unit", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetObject of an absent object: %v, want ErrNotFound", err)
	}
	applyOne(t, s, testUnit("todo", "todo:1"))
	if err := store.DeleteObject(ctx, s, "unit", "todo"); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteObject(ctx, s, "unit", "todo"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func putJSON(t *testing.T, s *store.Store, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), key, b, 0); err != nil {
		t.Fatal(err)
	}
}

// putHost writes the records of hosts, as their controllers do.
func putHost(t *testing.T, s *store.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		h := v1.New(v1.KindHost).(*v1.Host)
		h.Metadata.Name = n
		h.Status.CPUs = 4
		putJSON(t, s, store.HostKey(n), h)
	}
}

func TestListStatusesAndHosts(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	putHost(t, s, "host-b", "host-a")
	putJSON(t, s, store.StatusKey("unit", "todo", "host-b"), v1.InstanceStatus{State: v1.StateExited})
	putJSON(t, s, store.StatusKey("unit", "todo", "host-a"), v1.InstanceStatus{Host: "host-a", State: v1.StateRunning})
	putJSON(t, s, store.StatusKey("unit", "todo-2", "host-a"), v1.InstanceStatus{State: v1.StateWaiting})
	putJSON(t, s, store.StatusKey("job", "todo", "host-a"), v1.InstanceStatus{State: v1.StateFailed})
	st, err := store.ListStatuses(ctx, s, "unit")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || len(st["todo"]) != 2 || st["todo"][0].Host != "host-a" || st["todo"][1].Host != "host-b" ||
		st["todo"][1].State != v1.StateExited || st["todo-2"][0].Host != "host-a" {
		t.Errorf("ListStatuses = %+v", st)
	}
	one, err := store.ObjectStatuses(ctx, s, "unit", "todo")
	if err != nil || len(one) != 2 {
		t.Errorf("ObjectStatuses = %+v, %v", one, err)
	}

	putJSON(t, s, store.AliveKey("host-a"), map[string]string{})
	hosts, err := store.ListHosts(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Metadata.Name != "host-a" || hosts[0].Status.State != v1.HostUp ||
		hosts[1].Status.State != v1.HostDown || hosts[1].Status.CPUs != 4 {
		t.Errorf("ListHosts = %+v", hosts)
	}
	h, err := store.GetHost(ctx, s, "host-b")
	if err != nil || h.Status.State != v1.HostDown {
		t.Errorf("GetHost = %+v, %v", h, err)
	}
}

// A host writes only under status/<itself>/ (etcd's roles): a status whose
// value names another host is a host posing as another, and is no
// instance of either.
func TestStatusNamingAnotherHostIsIgnored(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	putHost(t, s, "host-a", "host-b", "host-c")
	putJSON(t, s, store.StatusKey("unit", "web", "host-a"), v1.InstanceStatus{Host: "host-b", State: v1.StateRunning})
	putJSON(t, s, store.StatusKey("unit", "web", "host-c"), v1.InstanceStatus{Host: "host-c", State: v1.StateExited})
	one, err := store.ObjectStatuses(ctx, s, "unit", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Host != "host-c" {
		t.Errorf("ObjectStatuses = %+v, want host-c's only: host-a's value names host-b", one)
	}
	all, err := store.ListStatuses(ctx, s, "unit")
	if err != nil {
		t.Fatal(err)
	}
	if len(all["web"]) != 1 || all["web"][0].Host != "host-c" {
		t.Errorf("ListStatuses = %+v, want host-c's only", all)
	}
}

// Only a host writes under status/<itself>/, and only a host that joined
// has a record: a status under the name of no host (status/leader/, which
// the leader's role writes, or one berth-gc's role forged) is no instance.
func TestStatusOfNoHostIsIgnored(t *testing.T) {
	t.Parallel()
	s := testenv.EtcdStore(t)
	ctx := context.Background()
	putHost(t, s, "host-a")
	putJSON(t, s, store.StatusKey("job", "web", "host-a"), v1.InstanceStatus{State: v1.StateRunning})
	putJSON(t, s, store.StatusKey("job", "web", "leader"), v1.InstanceStatus{State: v1.StateRunning})
	putJSON(t, s, store.StatusKey("job", "web", "ghost"), v1.InstanceStatus{Host: "ghost", State: v1.StateRunning})
	one, err := store.ObjectStatuses(ctx, s, "job", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Host != "host-a" {
		t.Errorf("ObjectStatuses = %+v, want host-a's only", one)
	}
	all, err := store.ListStatuses(ctx, s, "job")
	if err != nil {
		t.Fatal(err)
	}
	if len(all["web"]) != 1 || all["web"][0].Host != "host-a" {
		t.Errorf("ListStatuses = %+v, want host-a's only", all)
	}
	kv, err := s.Get(ctx, store.StatusKey("job", "web", "ghost"))
	if err != nil {
		t.Fatal(err)
	}
	isHost := func(h string) bool { return h == "host-a" }
	if _, err := store.DecodeHostStatus(kv, isHost); !errors.Is(err, store.ErrNoSuchHost) {
		t.Errorf("DecodeHostStatus of ghost's: %v, want ErrNoSuchHost", err)
	}
}

func TestDecodeStatus(t *testing.T) {
	t.Parallel()
	key := store.StatusKey(v1.KindJob, "nc", "host-a")
	value := func(st v1.InstanceStatus) []byte {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name      string
		kv        store.KV
		wantHost  string
		wantOther bool
		wantErr   bool
	}{
		{"the key's host", store.KV{Key: key, Value: value(v1.InstanceStatus{Host: "host-a"})}, "host-a", false, false},
		{"no host takes the key's", store.KV{Key: key, Value: value(v1.InstanceStatus{State: v1.StateRunning})}, "host-a", false, false},
		{"another host", store.KV{Key: key, Value: value(v1.InstanceStatus{Host: "host-b"})}, "", true, true},
		{"not JSON", store.KV{Key: key, Value: []byte("{")}, "", false, true},
		{"not a status key", store.KV{Key: store.HostKey("host-a"), Value: value(v1.InstanceStatus{})}, "", false, true},
	}
	for _, tt := range tests {
		st, err := store.DecodeStatus(tt.kv)
		switch {
		case (err != nil) != tt.wantErr:
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		case errors.Is(err, store.ErrOtherHost) != tt.wantOther:
			t.Errorf("%s: error %v, want ErrOtherHost %v", tt.name, err, tt.wantOther)
		case err == nil && st.Host != tt.wantHost:
			t.Errorf("%s: host %q, want %q", tt.name, st.Host, tt.wantHost)
		}
	}
}

func benchmarkApply(b *testing.B, n int) {
	s := testenv.EtcdStore(b)
	ctx := context.Background()
	objs := make([]v1.Object, n)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range objs {
			objs[j] = testUnit(fmt.Sprintf("u%04d", j), "img:"+strconv.Itoa(i))
		}
		if _, err := store.Apply(ctx, s, objs, store.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/object")
}

func BenchmarkApply1(b *testing.B)    { benchmarkApply(b, 1) }
func BenchmarkApply100(b *testing.B)  { benchmarkApply(b, 100) }
func BenchmarkApply1000(b *testing.B) { benchmarkApply(b, 1000) }

func BenchmarkList1000(b *testing.B) {
	s := testenv.EtcdStore(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := make([]v1.Object, 1000)
	for j := range objs {
		objs[j] = testUnit(fmt.Sprintf("u%04d", j), "img:1")
	}
	if _, err := store.Apply(ctx, s, objs, store.ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		list, _, err := store.ListObjects(ctx, s, "unit")
		if err != nil || len(list) != 1000 {
			b.Fatalf("listed %d: %v", len(list), err)
		}
	}
}
