package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// MaxStatement is the most text a client may send without completing a
// statement.
const MaxStatement = 16 << 20

// Server serves one SQLite database to TCP clients.
type Server struct {
	db *sql.DB

	mu     sync.Mutex
	lns    map[net.Listener]bool
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// Open opens (creating when missing, with its folder) the database at path.
func Open(path string) (*Server, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "foreign_keys(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// Open the file now, so a path that cannot be a database fails at start.
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %v", path, cleanError(err))
	}
	db.SetConnMaxIdleTime(time.Minute)
	return &Server{db: db, lns: map[net.Listener]bool{}, conns: map[net.Conn]bool{}}, nil
}

// Serve accepts clients on ln until ln or the server is closed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns[ln] = true
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Printf("accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, ends every session and closes the database.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

// session runs one client's statements on a connection of its own.
func (s *Server) session(c net.Conn) {
	defer c.Close()
	peer := c.RemoteAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		fmt.Fprintf(c, "Error: %v\n", cleanError(err))
		return
	}
	defer conn.Close()
	log.Printf("%s: connected", peer)
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var pending strings.Builder
	n := 0
	for {
		line, rerr := r.ReadString('\n')
		pending.WriteString(line)
		stmts, rest := splitStatements(pending.String())
		for _, st := range stmts {
			n++
			s.run(ctx, conn, w, st)
		}
		pending.Reset()
		pending.WriteString(rest)
		if rerr != nil {
			if rerr == io.EOF && !blank(rest) {
				n++
				s.run(ctx, conn, w, strings.TrimSpace(rest))
			}
			w.Flush()
			if rerr != io.EOF && !errors.Is(rerr, net.ErrClosed) {
				log.Printf("%s: read: %v", peer, rerr)
			}
			break
		}
		if pending.Len() > MaxStatement {
			fmt.Fprintf(w, "Error: statement longer than %d bytes\n", MaxStatement)
			w.Flush()
			break
		}
		if err := w.Flush(); err != nil {
			log.Printf("%s: write: %v", peer, err)
			break
		}
	}
	// A client that closes its writing side still reads what is written.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	log.Printf("%s: closed after %d statement(s)", peer, n)
}

// run runs one statement and writes its rows, or its error, to w.
func (s *Server) run(ctx context.Context, conn *sql.Conn, w *bufio.Writer, stmt string) {
	rows, err := conn.QueryContext(ctx, stmt)
	if err != nil {
		fmt.Fprintf(w, "Error: %s\n", cleanError(err))
		return
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		fmt.Fprintf(w, "Error: %s\n", cleanError(err))
		return
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			fmt.Fprintf(w, "Error: %s\n", cleanError(err))
			return
		}
		for i, v := range vals {
			if i > 0 {
				w.WriteByte('|')
			}
			w.WriteString(formatValue(v))
		}
		w.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		fmt.Fprintf(w, "Error: %s\n", cleanError(err))
	}
}

// formatValue writes a value as the sqlite3 shell's list mode does.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatReal(v)
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		// The driver parses text in DATE/DATETIME/TIMESTAMP columns; show it
		// in SQLite's own format.
		if v.Location() == time.UTC {
			return v.Format("2006-01-02 15:04:05.999999999")
		}
		return v.Format("2006-01-02 15:04:05.999999999-07:00")
	case bool:
		if v {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(v)
	}
}

// formatReal prints a REAL as SQLite does: always with a decimal point
// ("1.0", "1.0e+20"), "Inf" and "-Inf" for infinities.
func formatReal(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return ""
	}
	abs := math.Abs(f)
	if abs != 0 && (abs >= 1e15 || abs < 1e-4) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		return mant + "e" + exp
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

var driverNoise = regexp.MustCompile(`^(?:[^:]*: )?(.*?)(?: \(\d+\))?(?: \(SQLITE_BUSY\))?$`)

// cleanError turns the driver's "SQL logic error: near "x": syntax error (1)"
// into SQLite's own message, as the sqlite3 shell prints it.
func cleanError(err error) string {
	msg := err.Error()
	if m := driverNoise.FindStringSubmatch(msg); m != nil && m[1] != "" {
		return m[1]
	}
	return msg
}
