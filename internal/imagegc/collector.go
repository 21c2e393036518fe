package imagegc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"berth.dev/berth/internal/runtime"
)

// DefaultAfter is how long an image berth pulled stays out of use before
// it is removed, unless Options say.
const DefaultAfter = time.Hour

// Options configure a Collector.
type Options struct {
	Runtime runtime.Runtime
	Record  *Record
	// After is how long an image is out of use before it is removed
	// (default DefaultAfter).
	After time.Duration
	// InUse returns the image references the instances placed on this
	// host run or are to run.
	InUse func() []string
	// Registerer, when set, gets the metrics.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Collector removes the images berth pulled that are out of use.
type Collector struct {
	o       Options
	bytes   *prometheus.GaugeVec
	removed prometheus.Counter
}

// New returns a Collector; call Run.
func New(o Options) *Collector {
	if o.After <= 0 {
		o.After = DefaultAfter
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InUse == nil {
		o.InUse = func() []string { return nil }
	}
	c := &Collector{o: o,
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "berth_images_bytes",
			Help: "Size of the engine's images, by owner: berth (images berth pulled) or other. Layers shared between images count once per image.",
		}, []string{"owner"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_images_removed_total",
			Help: "Images berth pulled and removed once out of use for --image-gc-after.",
		}),
	}
	c.bytes.WithLabelValues("berth")
	c.bytes.WithLabelValues("other")
	if o.Registerer != nil {
		o.Registerer.MustRegister(c.bytes, c.removed)
	}
	return c
}

// Interval is how often Run collects: every minute, or every half of
// After when that is shorter (at least every second).
func (c *Collector) Interval() time.Duration {
	return max(time.Second, min(time.Minute, c.o.After/2))
}

// Run collects every Interval until ctx ends; a pass that fails is logged
// and the next one tried.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.Interval())
	defer t.Stop()
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.o.Log.Warn("image garbage collection", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Collect is one pass: it removes the images out of use for After.
func (c *Collector) Collect(ctx context.Context) error {
	// The record first: an image pulled after the engine's list is read
	// would be taken for one the engine no longer has.
	entries := c.o.Record.Entries()
	images, err := c.o.Runtime.ListImages(ctx)
	if err != nil {
		return err
	}
	ctrs, err := c.o.Runtime.List(ctx, runtime.ListOptions{All: true})
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, ctr := range ctrs {
		used[ctr.ImageID] = true
	}
	for _, ref := range c.o.InUse() {
		if img, err := c.o.Runtime.InspectImage(ctx, ref); err == nil {
			used[img.ID] = true
		}
	}
	now := c.o.Now()
	d := decide(entries, images, used, now, c.o.After)
	c.measure(images, entries)
	c.o.Log.Debug("image collection", "pulled", len(entries), "in-use", len(d.set), "gone", len(d.gone), "removing", len(d.remove))
	var drop []string
	drop = append(drop, d.gone...)
	for _, img := range d.remove {
		kept, err := c.remove(ctx, img, entries[img.ID])
		switch {
		case err != nil:
			c.o.Log.Warn("remove image", "id", img.ID, "err", err)
			continue
		case kept:
			c.o.Log.Info("image berth pulled is tagged for another use; forgetting it", "id", img.ID, "tags", img.RepoTags)
		default:
			c.removed.Inc()
			c.o.Log.Info("removed image out of use", "id", img.ID, "refs", entries[img.ID].Refs, "unused-for", now.Sub(entries[img.ID].since()).Round(time.Second))
		}
		drop = append(drop, img.ID)
	}
	return c.o.Record.update(d.set, drop)
}

// remove untags what berth pulled of img and, unless another tag is left,
// removes its digest references and so the image. kept: another tag is
// left, and the image stays.
func (c *Collector) remove(ctx context.Context, img runtime.Image, e Entry) (kept bool, err error) {
	for _, tag := range img.RepoTags {
		if slices.Contains(e.Refs, tag) {
			if err := c.o.Runtime.RemoveImage(ctx, tag); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				return false, err
			}
		}
	}
	now, err := c.o.Runtime.InspectImage(ctx, img.ID)
	if errors.Is(err, runtime.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(now.RepoTags) > 0 {
		return true, nil
	}
	for _, d := range now.RepoDigests {
		if err := c.o.Runtime.RemoveImage(ctx, d); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return false, err
		}
	}
	if err := c.o.Runtime.RemoveImage(ctx, img.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return false, fmt.Errorf("remove %s: %w", img.ID, err)
	}
	return false, nil
}

func (c *Collector) measure(images []runtime.Image, entries map[string]Entry) {
	var berth, other int64
	for _, img := range images {
		if _, ok := entries[img.ID]; ok {
			berth += img.Size
		} else {
			other += img.Size
		}
	}
	c.bytes.WithLabelValues("berth").Set(float64(berth))
	c.bytes.WithLabelValues("other").Set(float64(other))
}

// decision is what one pass does.
type decision struct {
	set    map[string]Entry // entries seen in use: LastUsed now
	gone   []string         // entries whose image the engine no longer has
	remove []runtime.Image  // images out of use for After
}

// decide is a pass's decision, without I/O: an image berth pulled that a
// container uses (used) is in use now; one the engine no longer has is
// forgotten; one out of use since at least after ago is removed.
func decide(entries map[string]Entry, images []runtime.Image, used map[string]bool, now time.Time, after time.Duration) decision {
	d := decision{set: map[string]Entry{}}
	present := map[string]runtime.Image{}
	for _, img := range images {
		present[img.ID] = img
	}
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := entries[id]
		img, ok := present[id]
		switch {
		case !ok:
			d.gone = append(d.gone, id)
		case used[id]:
			e.LastUsed = now
			d.set[id] = e
		case now.Sub(e.since()) >= after:
			d.remove = append(d.remove, img)
		}
	}
	return d
}
