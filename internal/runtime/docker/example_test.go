package docker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/docker"
)

func Example() {
	rt, err := docker.New("unix:///var/run/docker.sock")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	id, err := rt.Create(ctx, runtime.ContainerSpec{
		Name:  "example-web",
		Image: "berth/testapp:latest",
		Ports: []runtime.PortBinding{{ContainerPort: 8080, HostIP: "127.0.0.1"}},
	})
	switch {
	case errors.Is(err, runtime.ErrUnavailable):
		fmt.Println("Docker is down; retry later")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	defer rt.Remove(ctx, id)
	if err := rt.Start(ctx, id); err != nil {
		fmt.Println(err)
		return
	}
	c, _ := rt.Inspect(ctx, id)
	fmt.Println(c.State, c.Ports[0].HostPort != 0)
}
