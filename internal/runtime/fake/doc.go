// Package fake is an in-memory runtime.Runtime for fast tests of what uses a
// runtime. It behaves like the Docker implementation (the runtimetest
// conformance suite runs against both): names are unique, HostPort 0 gets a
// port from 32768-60999 at start, states move created → running → exited,
// Stop and Remove kill, events are emitted for create, start, kill, die,
// stop, destroy, oom and health_status. It runs no process: tests play the
// process's part.
//
//	f := fake.New()
//	f.AddImage("berth/todo:latest")
//	f.SetExecFunc(func(id string, cmd []string) (runtime.ExecResult, error) {
//		return runtime.ExecResult{ExitCode: 0, Output: []byte("ok\n")}, nil
//	})
//	id, _ := f.Create(ctx, spec)
//	_ = f.Start(ctx, id)
//	_ = f.WriteLogs(id, "listening\n") // what Logs will return
//	_ = f.Exit(id, 3)                  // the process exits by itself: a die event with 3
//	f.Fail("Start", errors.New("boom"), 2) // the next two Starts fail
//	f.SetAvailable(false)                  // every call now fails with runtime.ErrUnavailable
//
// Images have IDs and references as in Docker. A fake registry serves
// pulls: SetRegistryImage (or AddRegistryImage) puts an image with layers
// of given sizes at a tag and returns its digest, RequireAuth makes a
// registry host ask for one user's credentials, and HoldPulls keeps pulls
// waiting after their first progress report until released, so a test can
// see a pull under way:
//
//	digest := f.SetRegistryImage("registry.test:5000/app:1", fake.RegistryImage{Layers: []int64{4096, 1 << 20}})
//	f.RequireAuth("registry.test:5000", "berth", "secret")
//	release := f.HoldPulls()
//
// Exec returns when its context ends, with the context's error, even while
// the ExecFunc still runs (as Docker gives up an exec whose process runs
// on): an ExecFunc may block to play a command that hangs.
//
// Stop of a container made to IgnoreStopSignal waits the whole timeout in
// real time, as the engine would; use short timeouts in tests. All methods
// are safe for concurrent use.
package fake
