package units

import (
	"encoding/json"
	"fmt"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/reconcile"
	"berth.dev/berth/internal/store"
)

// caches are the controller's mirrors of etcd, each fed by a watch of its
// own (sources.go says what a change of each enqueues). They are read,
// never written: objects decoded from them are copies.
type caches struct {
	units    *store.Cache
	bindings *store.Cache // of Units
	statuses *store.Cache // this host's own (status/<host>/): written again when they vanish
	// everyStatus holds every host's statuses, which only dependencies
	// need: it runs from the first reconcile of a Unit placed here that
	// has dependencies or dependents, so that a host whose Units have
	// none is not sent every status write of the cluster.
	everyStatus *lazyCache
	jobs        *store.Cache
	jobBindings *store.Cache
	jobVersions *store.Cache
	timers      *store.Cache
	timerRuns   *store.Cache // bindings of Timers' runs
	hosts       *store.Cache // a status under another name is no host's
}

func (c *caches) all() []*store.Cache {
	return []*store.Cache{c.units, c.bindings, c.statuses, c.jobs, c.jobBindings, c.jobVersions, c.timers, c.timerRuns, c.hosts}
}

func (c *caches) synced() bool {
	for _, cache := range c.all() {
		if !cache.HasSynced() {
			return false
		}
	}
	return true
}

// unit returns the stored Unit, defaulted, or nil when it does not exist.
// One that does not decode is a terminal error.
func (c *caches) unit(name string) (*v1.Unit, error) {
	kv, ok := c.units.Get(store.ObjectKey(v1.KindUnit, name))
	if !ok {
		return nil, nil
	}
	u := &v1.Unit{}
	if err := json.Unmarshal(kv.Value, u); err != nil {
		return nil, reconcile.Terminal(fmt.Errorf("decode unit %s: %w", name, err))
	}
	v1.Default(u)
	return u, nil
}

// binding returns the scheduler's binding of a Unit, nil when there is
// none or it does not decode.
func (c *caches) binding(name string) *v1.Binding {
	kv, ok := c.bindings.Get(store.BindingKey(v1.KindUnit, name))
	if !ok {
		return nil
	}
	b := &v1.Binding{}
	if json.Unmarshal(kv.Value, b) != nil {
		return nil
	}
	return b
}

// isHost reports whether a host of that name has a record.
func (c *caches) isHost(name string) bool {
	_, ok := c.hosts.Get(store.HostKey(name))
	return ok
}
