package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestLogsTokenNotSentInClear: a token is never sent over plain HTTP to
// an address off this machine; the error says why, not the token.
func TestLogsTokenNotSentInClear(t *testing.T) {
	t.Parallel()
	c := &controllerClient{token: "s3cret", http: &http.Client{}}
	_, err := openLogs(context.Background(), c, logSource{host: "h1", scheme: "http", addr: "192.0.2.10:8500"}, "web", logsOptions{})
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("openLogs over plain HTTP off loopback = %v; want a refusal that names plain HTTP and not the token", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:8500": true, "[::1]:8500": true, "localhost:8500": true, "10.0.0.1:8500": false} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}
