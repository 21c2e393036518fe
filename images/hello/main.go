// Command hello is the netcat job of berth's examples (image
// berth/hello:latest, built FROM scratch by hack/images.sh; see
// manifests/netcat.yaml): what Helios' example runs as
// `sh -c 'echo hello | nc -l 8080'`, without a shell or nc in the image.
//
//	--listen ADDR    TCP address to answer on (env LISTEN, default ":4711")
//	--message TEXT   what each connection gets, followed by a newline
//	                 (env MESSAGE, default "hello")
//
// Every connection is answered with the message and closed, and logged as
// one line on standard output. SIGTERM and SIGINT make it exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("hello", flag.ExitOnError)
	listen := fs.String("listen", envOr("LISTEN", ":4711"), "TCP address to answer on (env LISTEN)")
	message := fs.String("message", envOr("MESSAGE", "hello"), "what each connection gets, followed by a newline (env MESSAGE)")
	_ = fs.Parse(os.Args[1:])
	log.SetFlags(0)
	log.SetPrefix("hello: ")
	log.SetOutput(os.Stdout)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	log.Printf("answering %q on %s", *message, ln.Addr())
	if err := serve(ln, *message+"\n"); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// serve answers every connection of ln with msg until ln is closed.
func serve(ln net.Listener, msg string) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go answer(conn, msg)
	}
}

func answer(conn net.Conn, msg string) {
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(conn, msg); err != nil {
		log.Printf("%s: %v", conn.RemoteAddr(), err)
		return
	}
	log.Printf("answered %s", conn.RemoteAddr())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
