package gc

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

func TestGarbage(t *testing.T) {
	t.Parallel()
	unit := store.ObjectKey(v1.KindUnit, "web")
	job := store.ObjectKey(v1.KindJob, "nc")
	timer := store.ObjectKey(v1.KindTimer, "nightly")
	for _, tc := range []struct {
		name string
		keys []string
		gone []string
		// want is each deletion as "key <- owner", in order.
		want []string
	}{
		{name: "nothing read, nothing deleted"},
		{
			name: "the keys of an object that exists stay",
			keys: []string{unit, store.BindingKey(v1.KindUnit, "web"), store.EventPrefix(v1.KindUnit, "web") + "1",
				store.StatusKey(v1.KindUnit, "web", "h1"), store.HistoryPrefix(v1.KindUnit, "web", "h1") + "3"},
		},
		{
			name: "the keys of an object that is gone go, each while its object is absent",
			keys: []string{store.BindingKey(v1.KindUnit, "web"), store.EventPrefix(v1.KindUnit, "web") + "1",
				store.StatusKey(v1.KindUnit, "web", "h1"), store.HistoryPrefix(v1.KindUnit, "web", "h1") + "3"},
			want: []string{
				"bindings/unit/web <- objects/unit/web",
				"events/unit/web/1 <- objects/unit/web",
				"status/h1/unit/web <- objects/unit/web",
				"history/h1/unit/web/3 <- objects/unit/web",
			},
		},
		{
			name: "an object of one kind owns nothing of another",
			keys: []string{job, store.BindingKey(v1.KindUnit, "nc"), store.StatusKey(v1.KindJob, "nc", "h1")},
			want: []string{"bindings/unit/nc <- objects/unit/nc"},
		},
		{
			name: "a Timer owns its runs' bindings, statuses and events",
			keys: []string{timer,
				store.BindingKey(v1.KindTimer, v1.TimerRunName("nightly", 1)),
				store.StatusKey(v1.KindTimer, v1.TimerRunName("nightly", 1), "h1"),
				store.BindingKey(v1.KindTimer, v1.TimerRunName("weekly", 1)),
				store.StatusKey(v1.KindTimer, v1.TimerRunName("weekly", 2), "h1"),
				store.EventPrefix(v1.KindTimer, v1.TimerRunName("weekly", 2)) + "1",
			},
			want: []string{
				"bindings/timer/weekly/1 <- objects/timer/weekly",
				"events/timer/weekly/2/1 <- objects/timer/weekly",
				"status/h1/timer/weekly/2 <- objects/timer/weekly",
			},
		},
		{
			name: "the version records of a Job that is gone go; those of one that exists stay",
			keys: []string{job, store.JobVersionKey("nc", "1"), store.JobVersionKey("old", "1"), store.JobVersionKey("old", "2")},
			want: []string{
				"objects/jobversion/old/1 <- objects/job/old",
				"objects/jobversion/old/2 <- objects/job/old",
			},
		},
		{
			name: "a host to forget loses its statuses and history, of live objects too, then its record, last",
			keys: []string{unit, store.HostKey("h2"),
				store.StatusKey(v1.KindUnit, "web", "h2"), store.StatusKey(v1.KindUnit, "web", "h1"),
				store.HistoryPrefix(v1.KindUnit, "gone", "h2") + "1",
				store.BindingKey(v1.KindJob, "gone")},
			gone: []string{"h2", "h0"},
			want: []string{
				"bindings/job/gone <- objects/job/gone",
				"status/h2/unit/web <- alive/h2",
				"history/h2/unit/gone/1 <- alive/h2",
				"hosts/h0 <- alive/h0",
				"hosts/h2 <- alive/h2",
			},
		},
		{
			name: "keys it does not know are left alone",
			keys: []string{store.Prefix + "bindings/unit", store.Prefix + "status/h1/unit", store.Prefix + "events/unit/web/",
				store.ApplySetKey("gitsource-apps"), store.CatalogKey("h1", "web", "h1:web:80"), store.Prefix + "leader/cluster/1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gone := map[string]bool{}
			for _, h := range tc.gone {
				gone[h] = true
			}
			var got []string
			for _, d := range garbage(tc.keys, gone) {
				got = append(got, fmt.Sprintf("%s <- %s", strings.TrimPrefix(d.key, store.Prefix), strings.TrimPrefix(d.owner, store.Prefix)))
				if d.forgets != "" && d.key != store.HostKey(d.forgets) {
					t.Errorf("%s forgets host %s", d.key, d.forgets)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("garbage:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
