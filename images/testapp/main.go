// Command testapp is the small, static program berth's tests run in containers
// (image berth/testapp:latest, built FROM scratch by hack/images.sh).
//
// Serving (the default, or "testapp serve"):
//
//	--listen ADDRS         comma-separated TCP addresses to answer HTTP on (env LISTEN, default ":8080")
//	--udp ADDRS            comma-separated UDP addresses to echo datagrams on (env UDP)
//	--unhealthy-file PATH  /healthz answers 503 while this file exists
//	--exit-after D         exit by itself after D with --exit-code
//	--exit-code N          exit code used by --exit-after (default 0)
//	--ignore-sigterm       ignore SIGTERM and SIGINT (only SIGKILL ends it)
//	--print-lines N        print "line 1".."line N" at start, odd lines to stdout, even to stderr
//	--tick D               print "tick N" to stdout every D
//
// HTTP: "/" answers "hostname=<host> message=<$MESSAGE>"; "/healthz" answers 200
// or 503; "/exit?code=N" exits with N. Every request prints one line to stdout.
// SIGTERM makes it exit 0 promptly unless --ignore-sigterm.
//
// There is no shell in the image, so tests exec the binary itself:
//
//	testapp check URL      exit 0 when GET URL answers 2xx, else 1
//	testapp get URL        print the body of GET URL (exit 1 on error or non-2xx)
//	testapp cat FILE...    print files
//	testapp echo ARGS...   print ARGS joined by spaces
//	testapp pwd            print the working directory
//	testapp env NAME...    print the values of environment variables
//	testapp exit N         exit with N
//	testapp udp ADDR MSG   send MSG to ADDR over UDP and print the reply
//	testapp hosts NAME     print "ADDRESS NAME" for each address NAME resolves to, as
//	                       getent hosts does, through /etc/resolv.conf (exit 2: not found)
//	testapp http METHOD URL [BODY]
//	                       send the request, print the status code and the body
//	                       (exit 1 on error or non-2xx)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	os.Exit(run(cmd, args))
}

func run(cmd string, args []string) int {
	switch cmd {
	case "serve":
		return serve(args)
	case "check":
		if len(args) != 1 {
			return usage("check URL")
		}
		if _, err := get(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "get":
		if len(args) != 1 {
			return usage("get URL")
		}
		body, err := get(args[0])
		os.Stdout.Write(body)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "cat":
		code := 0
		for _, name := range args {
			b, err := os.ReadFile(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
				continue
			}
			os.Stdout.Write(b)
		}
		return code
	case "echo":
		fmt.Println(strings.Join(args, " "))
		return 0
	case "pwd":
		dir, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(dir)
		return 0
	case "env":
		for _, name := range args {
			fmt.Println(os.Getenv(name))
		}
		return 0
	case "exit":
		if len(args) != 1 {
			return usage("exit N")
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return usage("exit N")
		}
		return n
	case "udp":
		if len(args) != 2 {
			return usage("udp ADDR MSG")
		}
		reply, err := udpRoundTrip(args[0], args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(reply)
		return 0
	case "hosts":
		if len(args) != 1 {
			return usage("hosts NAME")
		}
		addrs, err := net.LookupHost(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for _, a := range addrs {
			fmt.Println(a, args[0])
		}
		return 0
	case "http":
		if len(args) != 2 && len(args) != 3 {
			return usage("http METHOD URL [BODY]")
		}
		body := ""
		if len(args) == 3 {
			body = args[2]
		}
		code, out, err := request(args[0], args[1], body)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%d %s", code, out)
		if code/100 != 2 {
			return 1
		}
		return 0
	default:
		return usage("serve|check|get|cat|echo|pwd|env|exit|udp|hosts|http ...")
	}
}

func usage(s string) int {
	fmt.Fprintln(os.Stderr, "usage: testapp", s)
	return 2
}

func get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, err
	}
	if resp.StatusCode/100 != 2 {
		return body, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

func request(method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func udpRoundTrip(addr, msg string) (string, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 64*1024)
	n, err := conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func serve(args []string) int {
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	listen := fs.String("listen", envOr("LISTEN", ":8080"), "comma-separated TCP addresses for HTTP")
	udp := fs.String("udp", os.Getenv("UDP"), "comma-separated UDP echo addresses")
	unhealthyFile := fs.String("unhealthy-file", "", "/healthz fails while this file exists")
	exitAfter := fs.Duration("exit-after", 0, "exit by itself after this long")
	exitCode := fs.Int("exit-code", 0, "exit code for --exit-after")
	ignoreTerm := fs.Bool("ignore-sigterm", false, "ignore SIGTERM and SIGINT")
	printLines := fs.Int("print-lines", 0, "print N numbered lines at start")
	tick := fs.Duration("tick", 0, "print a tick line this often")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	exit := make(chan int, 1)

	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hostname=%s message=%s\n", host, os.Getenv("MESSAGE"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if *unhealthyFile != "" {
			if _, err := os.Stat(*unhealthyFile); err == nil {
				http.Error(w, "unhealthy", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, "code must be an integer", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exiting with %d\n", code)
		select {
		case exit <- code:
		default:
		}
	})
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%s %s from %s\n", r.Method, r.URL.RequestURI(), r.RemoteAddr)
		mux.ServeHTTP(w, r)
	})

	for _, addr := range split(*listen) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testapp:", err)
			return 1
		}
		fmt.Printf("listening on tcp %s\n", ln.Addr())
		go func() {
			err := http.Serve(ln, logged)
			fmt.Fprintln(os.Stderr, "testapp: http:", err)
		}()
	}
	for _, addr := range split(*udp) {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testapp:", err)
			return 1
		}
		fmt.Printf("listening on udp %s\n", pc.LocalAddr())
		go echoUDP(pc)
	}
	for i := 1; i <= *printLines; i++ {
		w := os.Stdout
		if i%2 == 0 {
			w = os.Stderr
		}
		fmt.Fprintf(w, "line %d\n", i)
	}

	var after <-chan time.Time
	if *exitAfter > 0 {
		after = time.After(*exitAfter)
	}
	var ticks <-chan time.Time
	if *tick > 0 {
		t := time.NewTicker(*tick)
		defer t.Stop()
		ticks = t.C
	}
	n := 0
	for {
		select {
		case s := <-sigs:
			if *ignoreTerm {
				fmt.Printf("ignoring %v\n", s)
				continue
			}
			fmt.Printf("exiting on %v\n", s)
			return 0
		case <-after:
			fmt.Printf("exiting after %v with %d\n", *exitAfter, *exitCode)
			return *exitCode
		case code := <-exit:
			time.Sleep(50 * time.Millisecond) // let the HTTP answer leave
			return code
		case <-ticks:
			n++
			fmt.Printf("tick %d\n", n)
		}
	}
}

func echoUDP(pc net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintln(os.Stderr, "testapp: udp:", err)
			}
			return
		}
		fmt.Printf("udp %d bytes from %s\n", n, addr)
		pc.WriteTo(buf[:n], addr)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
