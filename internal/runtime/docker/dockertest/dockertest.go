// Package dockertest gives tests a client of the Docker engine they run
// against, or skips them (fails them under CI=true) when there is none.
//
//	func TestSomething(t *testing.T) {
//		rt := dockertest.Engine(t, "berth/testapp:latest")
//		...
//	}
package dockertest

import (
	"context"
	"os"
	"testing"
	"time"

	"berth.dev/berth/internal/runtime/docker"
	"berth.dev/berth/internal/runtime/runtimetest"
)

// Engine returns a client of $DOCKER_HOST (else the default socket), closed
// when the test ends, once the engine answers and has each of images. It
// skips the test when it does not (runtimetest.SkipOrFail: a failure under
// CI=true).
func Engine(t testing.TB, images ...string) *docker.Client {
	t.Helper()
	c, err := docker.New(os.Getenv("DOCKER_HOST"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		runtimetest.SkipOrFail(t, "Docker is not reachable: %v", err)
	}
	for _, image := range images {
		if ok, err := c.ImageExists(ctx, image); err != nil || !ok {
			runtimetest.SkipOrFail(t, "image %s is missing (run hack/images.sh): %v", image, err)
		}
	}
	return c
}
