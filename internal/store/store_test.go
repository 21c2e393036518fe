package store_test

import (
	"testing"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

func TestEmbedded(t *testing.T) {
	t.Parallel()
	eps := testenv.Etcd(t)
	runConformance(t, backend{
		newStore: func(t *testing.T) *store.Store { return testenv.NewStore(t, store.Config{Endpoints: eps}) },
	})
}

func TestEtcdProcess(t *testing.T) {
	t.Parallel()
	p := testenv.EtcdProcess(t)
	runConformance(t, backend{
		newStore: func(t *testing.T) *store.Store { return testenv.NewStore(t, p.StoreConfig()) },
	})
}
