package docker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/docker"
	"berth.dev/berth/internal/runtime/docker/dockertest"
	"berth.dev/berth/internal/runtime/docker/registrytest"
	"berth.dev/berth/internal/runtime/runtimetest"
)

const image = "berth/testapp:latest"

// engine returns a client for $DOCKER_HOST (else the default socket) or skips
// (fails under CI=true) when the engine or the test image is missing.
func engine(t testing.TB) *docker.Client { return dockertest.Engine(t, image) }

func TestConformance(t *testing.T) {
	engine(t)
	runtimetest.Run(t, runtimetest.Harness{
		New:   func(t *testing.T) runtime.Runtime { return engine(t) },
		Image: image,
		Real:  true,
		Registry: func(t *testing.T, _ runtime.Runtime, auth bool) runtimetest.Registry {
			reg := registrytest.Start(t, registrytest.Options{Auth: auth})
			out := runtimetest.Registry{Host: reg.Host, Password: reg.Password}
			if auth {
				out.Username = registrytest.User
			}
			out.Push = func(t *testing.T, repoTag string, size int) string {
				return reg.Push(t, repoTag, registrytest.Image{Base: image, Size: size}).Digest
			}
			return out
		},
		RemoveVolume: func(ctx context.Context, rt runtime.Runtime, name string) error {
			return rt.(*docker.Client).RemoveVolume(ctx, name)
		},
		RemoveNetwork: func(ctx context.Context, rt runtime.Runtime, name string) error {
			return rt.(*docker.Client).RemoveNetwork(ctx, name)
		},
	})
}

func TestAPIVersionNegotiated(t *testing.T) {
	c := engine(t)
	if v := c.APIVersion(); v == "" {
		t.Fatalf("no API version negotiated after Ping")
	}
	t.Logf("negotiated API %s", c.APIVersion())
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"} {
		c, err := docker.New(host)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Ping(ctx); !errors.Is(err, runtime.ErrUnavailable) {
			t.Errorf("Ping(%s) = %v, want ErrUnavailable", host, err)
		}
		if _, err := c.Inspect(ctx, "x"); !errors.Is(err, runtime.ErrUnavailable) {
			t.Errorf("Inspect via %s = %v, want ErrUnavailable", host, err)
		}
		_, errs := c.Events(ctx)
		if err := <-errs; !errors.Is(err, runtime.ErrUnavailable) {
			t.Errorf("Events via %s = %v, want ErrUnavailable", host, err)
		}
	}
}

// TestEnsureNetworkRace checks that racing callers leave exactly one network
// (API 1.41 engines accept duplicate names): callers of one Client are
// serialised; two Clients (as two processes) are repaired by the next call.
func TestEnsureNetworkRace(t *testing.T) {
	t.Parallel()
	c := engine(t)
	other := engine(t)
	name := "berthtest-race-" + time.Now().Format("150405.000000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() {
		for c.RemoveNetwork(context.Background(), name) == nil {
		}
	})
	var wg sync.WaitGroup
	for i := range 8 {
		cl := c
		if i%2 == 1 {
			cl = other
		}
		wg.Go(func() {
			if err := cl.EnsureNetwork(ctx, name, map[string]string{runtimetest.TestLabel: "race"}); err != nil {
				t.Errorf("EnsureNetwork: %v", err)
			}
		})
	}
	wg.Wait()
	if err := c.EnsureNetwork(ctx, name, nil); err != nil {
		t.Fatalf("EnsureNetwork after the race: %v", err)
	}
	removed := 0
	for c.RemoveNetwork(ctx, name) == nil {
		removed++
	}
	if removed != 1 {
		t.Errorf("%d networks named %s after the race, want 1", removed, name)
	}
}

func BenchmarkCreateStartRemove(b *testing.B) {
	c := engine(b)
	ctx := context.Background()
	b.Cleanup(func() {
		cs, _ := c.List(ctx, runtime.ListOptions{All: true, Labels: map[string]string{runtimetest.TestLabel: "bench"}})
		for _, ct := range cs {
			_ = c.Remove(ctx, ct.ID)
		}
	})
	for i := 0; b.Loop(); i++ {
		id, err := c.Create(ctx, runtime.ContainerSpec{
			Name:   "berthtest-bench-" + time.Now().Format("150405.000000000"),
			Image:  image,
			Labels: map[string]string{runtimetest.TestLabel: "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := c.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
