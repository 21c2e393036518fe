package fake_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/runtime"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/runtime/runtimetest"
)

const image = "berth/testapp:latest"

// testapp answers the few testapp subcommands the suite execs; "serve"
// runs until the test ends, as a second server in the container would.
func testapp(t *testing.T) fake.ExecFunc {
	ended := make(chan struct{})
	t.Cleanup(func() { close(ended) })
	return func(id string, cmd []string) (runtime.ExecResult, error) {
		if len(cmd) < 2 || cmd[0] != "/testapp" {
			return runtime.ExecResult{ExitCode: 127, Output: []byte("exec: not found\n")}, nil
		}
		switch cmd[1] {
		case "echo":
			return runtime.ExecResult{Output: []byte(strings.Join(cmd[2:], " ") + "\n")}, nil
		case "exit":
			code, _ := strconv.Atoi(cmd[2])
			return runtime.ExecResult{ExitCode: code}, nil
		case "serve":
			<-ended
			return runtime.ExecResult{ExitCode: 137}, nil
		}
		return runtime.ExecResult{ExitCode: 2, Output: []byte("the fake testapp does not know " + cmd[1] + "\n")}, nil
	}
}

func newFake(t *testing.T) runtime.Runtime {
	f := fake.New()
	f.AddImage(image)
	f.SetExecFunc(testapp(t))
	return f
}

// fakeRegistry is the fake's registry at a made-up host of its own.
func fakeRegistry(t *testing.T, rt runtime.Runtime, auth bool) runtimetest.Registry {
	f := rt.(*fake.Runtime)
	reg := runtimetest.Registry{Host: "registry.test:5000"}
	if auth {
		reg.Username, reg.Password = "berth", "s3cret-pw"
		f.RequireAuth(reg.Host, reg.Username, reg.Password)
	}
	reg.Push = func(t *testing.T, repoTag string, size int) string {
		return f.SetRegistryImage(reg.Host+"/"+repoTag, fake.RegistryImage{Layers: []int64{4 << 10, int64(size)}})
	}
	return reg
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New:   newFake,
		Image: image,
		Exit: func(t *testing.T, rt runtime.Runtime, id string, code int) {
			if err := rt.(*fake.Runtime).Exit(id, code); err != nil {
				t.Fatal(err)
			}
		},
		Print: func(t *testing.T, rt runtime.Runtime, id, text string) {
			if err := rt.(*fake.Runtime).WriteLogs(id, text); err != nil {
				t.Fatal(err)
			}
		},
		IgnoreStopSignal: func(t *testing.T, rt runtime.Runtime, id string) {
			if err := rt.(*fake.Runtime).IgnoreStopSignal(id, true); err != nil {
				t.Fatal(err)
			}
		},
		Registry: fakeRegistry,
		RemoveVolume: func(ctx context.Context, rt runtime.Runtime, name string) error {
			return rt.(*fake.Runtime).RemoveVolume(ctx, name)
		},
		RemoveNetwork: func(ctx context.Context, rt runtime.Runtime, name string) error {
			return rt.(*fake.Runtime).RemoveNetwork(ctx, name)
		},
	})
}

func TestFail(t *testing.T) {
	f := fake.New()
	f.AddImage(image)
	ctx := t.Context()
	boom := errors.New("boom")
	f.Fail("Create", boom, 2)
	for i := range 2 {
		if _, err := f.Create(ctx, runtime.ContainerSpec{Name: "app-a", Image: image}); !errors.Is(err, boom) {
			t.Fatalf("Create #%d = %v, want boom", i+1, err)
		}
	}
	id, err := f.Create(ctx, runtime.ContainerSpec{Name: "app-a", Image: image})
	if err != nil {
		t.Fatalf("third Create: %v", err)
	}
	f.Fail("start", runtime.ErrConflict, 1)
	if err := f.Start(ctx, id); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("Start = %v, want the scripted ErrConflict", err)
	}
	if err := f.Start(ctx, id); err != nil {
		t.Fatalf("second Start: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	f := fake.New()
	ctx := t.Context()
	events, errs := f.Events(ctx)
	f.SetAvailable(false)
	if err := f.Ping(ctx); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	if _, err := f.List(ctx, runtime.ListOptions{}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("List = %v, want ErrUnavailable", err)
	}
	if err := <-errs; !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("event stream error = %v, want ErrUnavailable", err)
	}
	if _, ok := <-events; ok {
		t.Errorf("event stream still open")
	}
	f.SetAvailable(true)
	if err := f.Ping(ctx); err != nil {
		t.Errorf("Ping after SetAvailable(true) = %v", err)
	}
}

func TestPortsAndOOM(t *testing.T) {
	f := fake.New()
	f.AddImage(image)
	ctx := t.Context()
	spec := runtime.ContainerSpec{Name: "app-a", Image: image, Ports: []runtime.PortBinding{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81}}}
	a, _ := f.Create(ctx, spec)
	spec.Name = "app-b"
	b, _ := f.Create(ctx, spec)
	if err := f.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, b); err == nil || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("Start with a taken host port = %v, want already allocated", err)
	}
	c, _ := f.Inspect(ctx, a)
	if len(c.Ports) != 2 || c.Ports[0].HostPort != 8080 || c.Ports[1].HostPort < 32768 || c.Ports[1].Protocol != runtime.TCP {
		t.Fatalf("ports = %+v", c.Ports)
	}
	if err := f.OOM(a); err != nil {
		t.Fatal(err)
	}
	c, _ = f.Inspect(ctx, a)
	if c.State != runtime.StateExited || c.ExitCode != 137 || !c.OOMKilled || len(c.Ports) != 0 {
		t.Fatalf("after OOM: %+v", c)
	}
	if err := f.Start(ctx, b); err != nil {
		t.Fatalf("Start after the port was released: %v", err)
	}
}

func TestStopRespectsContext(t *testing.T) {
	f := fake.New()
	f.AddImage(image)
	ctx := t.Context()
	id, _ := f.Create(ctx, runtime.ContainerSpec{Name: "app-a", Image: image})
	_ = f.Start(ctx, id)
	_ = f.IgnoreStopSignal(id, true)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := f.Stop(short, id, "", time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the context's deadline", err)
	}
	if err := f.Stop(ctx, id, "SIGKILL", time.Hour); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Inspect(ctx, id); c.ExitCode != 137 {
		t.Fatalf("exit code after SIGKILL = %d", c.ExitCode)
	}
}
