package gc

import (
	"context"
	"errors"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// collectJobVersions removes the version records (objects/jobversion/)
// of Jobs that no longer exist: a Job's delete removes them with it, but
// one deleted by other means (etcdctl, an earlier applyctl) leaves them.
// Like every key the collector removes, a record is deleted only while
// its Job is still absent (store.DeleteIfAbsent): a Job created since
// keeps its records (and rewrites those it finds of a Job of its name).
// Only operators may write objects/ under etcd's roles: without
// berth-gitops the leader leaves them, and the next Job of that name
// replaces them.
func (c *Collector) collectJobVersions(ctx context.Context) (int, error) {
	records, err := c.s.ListKeys(ctx, store.JobVersionsPrefix)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	jobs, err := c.s.ListKeys(ctx, store.ObjectPrefix(v1.KindJob))
	if err != nil {
		return 0, err
	}
	exists := make(map[string]bool, len(jobs))
	for _, k := range jobs {
		exists[strings.TrimPrefix(k, store.ObjectPrefix(v1.KindJob))] = true
	}
	removed := 0
	for _, k := range records {
		name, _, ok := store.ParseJobVersionKey(k)
		if !ok || exists[name] {
			continue
		}
		deleted, err := c.s.DeleteIfAbsent(ctx, k, store.ObjectKey(v1.KindJob, name))
		switch {
		case err == nil && deleted:
			removed++
			c.o.Log.Debug("collected", "key", k, "why", "job "+name+" deleted")
		case errors.Is(err, store.ErrPermissionDenied):
			return removed, nil // etcd's roles keep objects/ to operators
		case err != nil && !errors.Is(err, store.ErrConflict):
			return removed, err
		}
	}
	return removed, nil
}
