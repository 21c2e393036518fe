// Command todo is the to-do web application of berth's examples (image
// berth/todo:latest, built FROM scratch by hack/images.sh; see
// manifests/todo.yaml).
//
//	--listen ADDR  address to serve HTTP on (env TODO_LISTEN, default ":8000")
//	--data PATH    JSON file the items are kept in (env TODO_DATA, default "/data/todo.json")
//
// HTTP:
//
//	GET    /                 the page: lists items, adds, ticks and deletes them
//	GET    /healthz          200 "ok"
//	GET    /api/todos        the items, as a JSON array
//	POST   /api/todos        {"title": "..."} → 201 and the new item
//	PATCH  /api/todos/{id}   {"done": true} and/or {"title": "..."} → the item
//	DELETE /api/todos/{id}   → 204
//
// Every change is written to the data file atomically (a temporary file in
// the same folder, then rename), and the file is loaded at start, so items
// survive a restart of the container. SIGTERM and SIGINT shut the server
// down cleanly.
//
// "todo check [URL]" exits 0 when GET URL (default http://127.0.0.1:8000/healthz)
// answers 2xx, else 1: an exec health check for an image without a shell.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(check(os.Args[2:]))
	}
	fs := flag.NewFlagSet("todo", flag.ExitOnError)
	listen := fs.String("listen", envOr("TODO_LISTEN", ":8000"), "address to serve HTTP on (env TODO_LISTEN)")
	data := fs.String("data", envOr("TODO_DATA", "/data/todo.json"), "JSON file the items are kept in (env TODO_DATA)")
	_ = fs.Parse(os.Args[1:])
	log.SetFlags(0)
	log.SetPrefix("todo: ")

	store, err := OpenStore(*data)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: NewServer(store), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("serving on %s, %d item(s) from %s", ln.Addr(), len(store.List()), *data)
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("shutdown: %v", err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func check(args []string) int {
	url := "http://127.0.0.1:8000/healthz"
	if len(args) > 0 {
		url = args[0]
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "todo check:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "todo check:", resp.Status)
		return 1
	}
	return 0
}
