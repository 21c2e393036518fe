// Package runtimetest is the conformance suite every runtime.Runtime passes:
// the same test bodies run against the in-memory fake (always) and against a
// real Docker engine.
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Harness{New: newRuntime, Image: "berth/testapp:latest", Real: true})
//	}
//
// The image runs images/testapp. Each subtest is parallel, names what it
// creates "berthtest-<random>-<test>-..." with label berth.dev/test=<random>,
// and removes exactly that at the end, so it never touches other containers.
//
// Tests that need an engine call SkipOrFail when it is missing: a skip on a
// developer's machine, a failure under CI=true (see CI).
package runtimetest
