package catalog

import (
	"encoding/json"
	"fmt"

	"berth.dev/berth/internal/store"
)

// DecodeEndpoint decodes the endpoint stored under a catalog key,
// catalog/<host>/<service>/<id>, with the key's revisions as its indexes.
// The key says whose endpoint it is: etcd's roles let only that host write
// under catalog/<host>/, so a value naming no host takes the key's, and one
// naming another host, or another service or id than the key, is an error:
// no host can register an endpoint as another host's.
func DecodeEndpoint(kv store.KV) (Endpoint, error) {
	host, service, id, ok := store.ParseCatalogKey(kv.Key)
	if !ok {
		return Endpoint{}, fmt.Errorf("catalog: %s is not a catalog key", kv.Key)
	}
	var e Endpoint
	if err := json.Unmarshal(kv.Value, &e); err != nil {
		return Endpoint{}, fmt.Errorf("catalog: decode %s: %w", kv.Key, err)
	}
	var err error
	switch {
	case e.Host != "" && e.Host != host:
		err = fmt.Errorf("catalog: %s: the endpoint names host %q, not its key's", kv.Key, e.Host)
	case e.Service != service:
		err = fmt.Errorf("catalog: %s: the endpoint names service %q, not its key's", kv.Key, e.Service)
	case e.ID != id:
		err = fmt.Errorf("catalog: %s: the endpoint names id %q, not its key's", kv.Key, e.ID)
	}
	if err != nil {
		return Endpoint{}, err
	}
	e.Host = host
	e.CreateIndex, e.ModifyIndex = kv.CreateRevision, kv.ModRevision
	return e, nil
}
