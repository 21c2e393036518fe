// Package testenv holds helpers for tests only: real dependencies started per test
// and cleaned up after it.
//
// Tests that need something the machine may lack (Debian's etcd binary, Docker) call
// Require: on a developer machine the test skips with a message, under CI=true it
// fails, so CI never passes by skipping.
//
//	func TestX(t *testing.T) {
//		s := testenv.EtcdStore(t)       // in-process embedded etcd, always available
//		p := testenv.EtcdProcess(t)     // Debian's etcd binary; skips without it
//		c := testenv.EtcdCluster(t, 3)  // three of them as one cluster
//		...
//	}
//
// Every process started here runs in its own process group and is killed and waited
// for at cleanup; its stderr goes to a file whose tail is shown when it fails.
//
// Tests wait for what they expect with Eventually, never by sleeping; a component
// that takes a clock (k8s.io/utils/clock) is given a fake one that the test steps
// instead of waiting out a delay:
//
//	testenv.Eventually(t, 10*time.Second, "the binding", func() (bool, string) { ... })
//
// Buffer takes a logger's output and Events a controller's events, for the test to
// read while the component runs.
package testenv
