// Command sqliteproxy forwards TCP connections to sqliteserver (image
// berth/sqliteproxy:latest, built FROM scratch by hack/images.sh; see
// manifests/sqlite.yaml).
//
//	--listen ADDR  address to accept clients on (env PROXY_LISTEN, default ":12346")
//	--target ADDR  address to forward to (env PROXY_TARGET, default "sqliteserver:12345")
//
// Every client gets its own connection to the target, dialled when the
// client connects (so the target's name is resolved each time); bytes are
// copied both ways; when one side finishes sending, the other side's writing
// half is closed (half-close), and both are closed once both directions are
// done. One line is logged per connection.
//
//	sqliteproxy check [ADDR]  exit 0 when ADDR (default 127.0.0.1 and the port
//	                          of --listen) accepts a TCP connection, else 1
//
// SIGTERM and SIGINT stop accepting and close the open connections.
package main

import (
	"context"
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
	log.SetFlags(0)
	log.SetPrefix("sqliteproxy: ")
	listenDefault := envOr("PROXY_LISTEN", ":12346")
	if len(os.Args) > 1 && os.Args[1] == "check" {
		addr := localAddr(listenDefault)
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sqliteproxy check:", err)
			os.Exit(1)
		}
		c.Close()
		return
	}
	fs := flag.NewFlagSet("sqliteproxy", flag.ExitOnError)
	listen := fs.String("listen", listenDefault, "address to accept clients on (env PROXY_LISTEN)")
	target := fs.String("target", envOr("PROXY_TARGET", "sqliteserver:12345"), "address to forward to (env PROXY_TARGET)")
	_ = fs.Parse(os.Args[1:])

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	p := &Proxy{Target: *target}
	log.Printf("forwarding %s to %s", ln.Addr(), *target)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(ln) }()
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	p.Close()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// localAddr turns a listen address into one to dial on loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
