package units

import (
	"context"
	"sync"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/store"
)

// instance is what the controller holds about one Unit's or Job's
// instance on this host. The reconcile of its key owns it (the loop runs
// one reconcile of a key at a time): mem and timing are its alone; the
// fields other goroutines read (status, statusRev, createdID) it changes
// under instances.mu, through the instances' methods.
type instance struct {
	mem    memory
	status *v1.InstanceStatus // last written, nil when none
	// statusRev is the mod revision of status in etcd, as written or read.
	statusRev int64
	// createdID is the container this controller last created for the
	// instance.
	createdID string
	timing    timing
	// image is what the instance's container runs, as status shows it
	// (imageID), for the container imageFor.
	image, imageFor string
	// wants is the image of the instance's template while it is placed
	// here ("" when it is not): image garbage collection keeps it.
	wants string
}

// instances are the instances of this host by work-queue key.
type instances struct {
	mu sync.Mutex
	m  map[string]*instance
}

func newInstances() *instances { return &instances{m: map[string]*instance{}} }

// of returns the instance of a key, made with seed the first time.
func (is *instances) of(key string, seed func() *instance) *instance {
	is.mu.Lock()
	defer is.mu.Unlock()
	if in, ok := is.m[key]; ok {
		return in
	}
	in := seed()
	is.m[key] = in
	return in
}

func (is *instances) has(key string) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	_, ok := is.m[key]
	return ok
}

func (is *instances) forget(key string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.m, key)
}

// created records the container made for an instance.
func (is *instances) created(in *instance, id string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	in.createdID = id
}

// sawImage records what container id runs, as status shows it.
func (is *instances) sawImage(in *instance, id, image string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	in.image, in.imageFor = image, id
}

// imageIDOf returns what ctr runs as status shows it, "" when not known
// yet.
func (in *instance) imageIDOf(ctr *runtime.Container) string {
	if in.imageFor == ctr.ID {
		return in.image
	}
	return ""
}

// want records the image an instance's template runs ("" : none).
func (is *instances) want(in *instance, image string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	in.wants = image
}

// wanted returns the images the instances of this host run or are to
// run.
func (is *instances) wanted() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	var out []string
	for _, in := range is.m {
		if in.wants != "" {
			out = append(out, in.wants)
		}
	}
	return out
}

// reported records the status written of an instance and its revision.
func (is *instances) reported(in *instance, st *v1.InstanceStatus, rev int64) {
	is.mu.Lock()
	defer is.mu.Unlock()
	in.status, in.statusRev = st, rev
}

// made reports whether the instance of key had the container id: created
// by this controller, or named in the status it wrote.
func (is *instances) made(key, id string) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	in := is.m[key]
	return in != nil && (in.createdID == id || in.status != nil && in.status.ContainerID == id)
}

// states counts the instances of kind by the state last reported.
func (is *instances) states(kind string) map[v1.InstanceState]int {
	is.mu.Lock()
	defer is.mu.Unlock()
	n := map[v1.InstanceState]int{}
	for key, in := range is.m {
		if in.status != nil && kindOfKey(key) == kind {
			n[in.status.State]++
		}
	}
	return n
}

// instanceOf returns the instance of a workload, seeded the first time
// from the status this host wrote before (across a restart of the
// controller): its counts, its last exit, and whether it failed or was
// stopped by berth.
func (c *Controller) instanceOf(ctx context.Context, w *workload) *instance {
	return c.instances.of(w.key, func() *instance {
		in := &instance{}
		e, ok := c.caches.statuses.Get(w.statusKey)
		if !ok && w.kind != v1.KindUnit {
			var err error
			e, ok, err = lookup(ctx, c.o.Store, c.caches.statuses, store.DecodeStatus, true, w.statusKey)
			ok = ok && err == nil
		}
		if !ok || e.Err != nil {
			return in
		}
		st := e.Value // read only: its slices are the cache's
		in.status, in.statusRev = &st, e.ModRevision
		in.mem.Restarts = st.Restarts
		in.mem.LastExitCode = st.LastExitCode
		in.mem.LastExitTime = st.LastExitTime
		in.mem.SeenExit = st.LastExitTime
		in.mem.Hash = st.SpecHash
		if st.State == v1.StateFailed && !refusedStatus(&st) {
			in.mem.Failed, in.mem.FailedGen = st.Message, st.ObservedGeneration
		}
		if st.State == v1.StateWaiting || st.State == v1.StateStopped {
			in.mem.DepStopped = true // stopped for its dependencies, not crashed
		}
		return in
	})
}

// nothingOf reports whether this host knows nothing of w's instance: no
// instance in memory, no status of it in the cache of this host's own.
func (c *Controller) nothingOf(w *workload) bool {
	if c.instances.has(w.key) {
		return false
	}
	_, ok := c.caches.statuses.Get(w.statusKey)
	return !ok
}

// made reports whether this controller made ctr: a container of one of its
// instances whose ID it created or reported in its status (a key only this
// host may write). Labels alone prove nothing: whoever can create a
// container can label it as berth's.
func (c *Controller) made(ctr runtime.Container) bool {
	key := keyOf(ctr.Labels)
	if key == "" || ctr.Labels[v1.LabelHost] != c.o.Host {
		return false
	}
	if c.instances.made(key, ctr.ID) {
		return true
	}
	if c.caches == nil {
		return false
	}
	e, ok := c.caches.statuses.Get(store.StatusKey(ctr.Labels[v1.LabelKind], ctr.Labels[v1.LabelName], c.o.Host))
	return ok && e.Err == nil && e.Value.ContainerID == ctr.ID
}
