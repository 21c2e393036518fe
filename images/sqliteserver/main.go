// Command sqliteserver serves a SQLite database over TCP as a line-based SQL
// shell (image berth/sqliteserver:latest, built FROM scratch by
// hack/images.sh; see manifests/sqlite.yaml).
//
//	--listen ADDR  address to listen on (env SQLITE_LISTEN, default ":12345")
//	--db PATH      database file (env SQLITE_DB, default "/data/db.sqlite");
//	               it and its folder are created when missing
//
// Each connection is a session of the sqlite3 shell in its default list
// mode: the client sends SQL statements ended by ';' (a statement may span
// lines; the ';' inside quotes, comments and a CREATE TRIGGER body do not end
// it); the server runs each one as soon as it is complete and writes the rows
// it returns, one line each, the columns separated by '|' (NULL as an empty
// string). A statement that returns no rows writes nothing; one that fails
// writes "Error: <message>" and the session goes on. At end of input, a last
// statement without its ';' is run too. Every connection has its own SQLite
// connection, so BEGIN ... COMMIT spans statements as in the shell, and
// several clients are served at once.
//
//	sqliteserver check [ADDR]  run "select 1;" against ADDR (default
//	                           127.0.0.1 and the port of --listen) and exit 0
//	                           when it answers 1, else 1: an exec health check
//	                           for an image without a shell.
//
// SIGTERM and SIGINT close the listener and the sessions, then the database.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("sqliteserver: ")
	listenDefault := envOr("SQLITE_LISTEN", ":12345")
	if len(os.Args) > 1 && os.Args[1] == "check" {
		addr := localAddr(listenDefault)
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		if err := Check(addr, 5*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "sqliteserver check:", err)
			os.Exit(1)
		}
		return
	}
	fs := flag.NewFlagSet("sqliteserver", flag.ExitOnError)
	listen := fs.String("listen", listenDefault, "address to listen on (env SQLITE_LISTEN)")
	dbPath := fs.String("db", envOr("SQLITE_DB", "/data/db.sqlite"), "database file (env SQLITE_DB)")
	_ = fs.Parse(os.Args[1:])

	srv, err := Open(*dbPath)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on %s", *dbPath, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		log.Fatal(err)
	case <-ctx.Done():
	}
	log.Printf("shutting down")
	if err := srv.Close(); err != nil {
		log.Printf("close: %v", err)
	}
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

// Check runs "select 1;" on the server at addr and wants "1" back.
func Check(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("select 1;\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the answer to select 1: %w", err)
	}
	if got := strings.TrimSpace(line); got != "1" {
		return fmt.Errorf("select 1 answered %q", got)
	}
	return nil
}
