package main

import (
	"io"
	"net"
	"testing"
)

// TestServeAnswersEveryConnection: each connection gets the message and is
// closed, as `echo hello | nc -l` answers one; the listener keeps
// answering, and serve returns nil once it is closed.
func TestServeAnswersEveryConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(ln, "hello\n") }()
	for i := range 3 {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn) // until the server closes it
		conn.Close()
		if err != nil || string(got) != "hello\n" {
			t.Errorf("connection %d read %q, %v; want \"hello\\n\" then EOF", i, got, err)
		}
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Errorf("serve after the listener closed: %v, want nil", err)
	}
}
