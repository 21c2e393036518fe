package testenv

import (
	"net"
	"os"
	"testing"
)

// CI reports whether CI=true: then missing dependencies fail the test instead of
// skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips the test with the message on a developer machine when ok is false, and
// fails it under CI=true.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	if CI() {
		t.Fatalf("CI=true: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}

// FreePort returns a free TCP port on 127.0.0.1. Another process may take it before
// the caller binds it; helpers that bind retry on "address already in use".
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
