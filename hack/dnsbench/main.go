// Command dnsbench measures berth's DNS server (internal/catalog/dns) on
// loopback. It has two modes.
//
// By default it runs berth's server in this process against a bare
// miekg/dns server that replays, for the same question, the answer berth
// gave once (the same records and bytes, nothing computed per query): the
// ceiling of the library on the machine. Both run one after the other,
// with the same load generator: -clients goroutines, each with its own UDP
// socket, sending one query at a time for -duration per scenario. Its
// output is the table of BENCHMARKS.md's DNS section.
//
// With -dns and -http it measures a running controller instead, as a
// program on the same host meets it, at whatever flags the controller was
// given: it registers the scenarios' services through the controller's
// Consul-compatible API (PUT /v1/agent/service/register), waits until DNS
// answers them, runs the same load against -dns, prints one table row per
// scenario labelled -label, and deregisters them. hack/bench-dns.sh runs it
// against controllers started with different flags.
//
// With -container-dns as well (the controller's container DNS, its
// address and port 53), it compares instead, in one run, the controller
// from loopback and from a container, each against a bare server
// replaying its answers (container.go); hack/bench-container-dns.sh runs
// it.
//
//	go run ./hack/dnsbench [-duration 10s] [-clients 16] [-endpoints 100]
//	go run ./hack/dnsbench -dns 127.0.0.1:8600 -http 127.0.0.1:8500 [-label "default flags"]
//	dnsbench -dns 127.0.0.1:8600 -http 127.0.0.1:8500 -container-dns 172.18.0.1:53 [-rounds 3]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"berth.dev/berth/internal/catalog"
	catalogdns "berth.dev/berth/internal/catalog/dns"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each scenario runs")
	clients := flag.Int("clients", 16, "concurrent clients")
	endpoints := flag.Int("endpoints", 100, "endpoints of the service queried, each on its own node")
	edns := flag.Int("edns", 4096, "EDNS0 UDP buffer the clients advertise (0: no EDNS0)")
	dnsAddr := flag.String("dns", "", "measure the controller whose --dns-listen is this, instead of a server in this process")
	httpAddr := flag.String("http", "", "with -dns: that controller's --listen, where the services are registered")
	label := flag.String("label", "", "with -dns: the first column of the rows")
	rounds := flag.Int("rounds", 1, "in process and with -container-dns: how many times each scenario runs against berth, then the bare server, in turns; the table shows medians and ranges")
	containerDNS := flag.String("container-dns", "", "with -dns: compare that controller from loopback and from a container through its container DNS at this address (host:53)")
	image := flag.String("image", "berth/testapp:latest", "with -container-dns: a FROM scratch image the container runs this (static) binary in")
	network := flag.String("network", "berth", "with -container-dns: the Docker network of that container")
	loadOnly := flag.Bool("load", false, "in the container of -container-dns: load -servers BERTH,BARE in turns and print table rows labelled -label")
	servers := flag.String("servers", "", "with -load: BERTH,BARE addresses")
	flag.Parse()
	o := opts{d: *duration, clients: *clients, endpoints: *endpoints, edns: uint16(*edns), rounds: max(*rounds, 1)}
	var err error
	switch {
	case *loadOnly:
		err = runLoad(*servers, *label, o)
	case *dnsAddr != "" && *containerDNS != "":
		err = runController(*dnsAddr, *httpAddr, *label, o, func() error { return compare(*dnsAddr, *containerDNS, *image, *network, o) })
	case *dnsAddr != "":
		err = runController(*dnsAddr, *httpAddr, *label, o, nil)
	default:
		err = run(*duration, *clients, *endpoints, uint16(*edns), max(*rounds, 1))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

type result struct {
	queries   int
	errors    int
	truncated int
	answers   int // in the first response
	size      int // bytes of the first response
	elapsed   time.Duration
	p50, p99  time.Duration
}

func (r result) qps() float64 { return float64(r.queries) / r.elapsed.Seconds() }

func run(d time.Duration, clients, endpoints int, edns uint16, rounds int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// berth's server, over a catalog of one service with endpoints on as
	// many nodes.
	mem := catalog.NewMemory()
	for i := range endpoints {
		host := fmt.Sprintf("host-%03d", i)
		addr := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		mem.PutNode(catalog.Node{Name: host, Address: addr, Up: true}, 0)
		mem.PutEndpoint(catalog.Endpoint{ID: host + ":web:8080", Service: "web", Host: host, Address: addr,
			Port: 8080, Source: catalog.SourceStatic}, 0)
	}
	mem.PutEndpoint(catalog.Endpoint{ID: "host-000:one:8080", Service: "one", Host: "host-000", Address: "10.1.0.1",
		Port: 8080, Source: catalog.SourceStatic}, 0)
	// Every client queries from 127.0.0.1, which the rate limit does not
	// apply to; none is set: the figures measure answering.
	srv, err := catalogdns.New(mem, catalogdns.Config{Listen: "127.0.0.1:0", RateLimit: 0})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		return err
	}
	berth, _ := srv.Addr()

	// The bare server replays, for each question, the answer berth gave to
	// it once: the same bytes, with nothing computed per query.
	o := opts{d: d, clients: clients, endpoints: endpoints, edns: edns, rounds: rounds}
	bare, stopBare, err := bareFor(berth.String(), "127.0.0.1:0", o)
	if err != nil {
		return err
	}
	defer stopBare()

	fmt.Printf("dnsbench: %d clients over UDP, EDNS0 buffer %d, %s per scenario, %d round(s), GOMAXPROCS %d, NumCPU %d, %s\n",
		clients, edns, d, rounds, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Println()
	fmt.Println("| query | berth q/s | bare q/s | ratio | berth p50 / p99 | bare p50 / p99 | answers | bytes | TC | errors |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, sc := range scenarios(endpoints) {
		bs, cs, err := alternate(berth.String(), bare, sc, o)
		if err != nil {
			return err
		}
		b, c := median(bs), median(cs)
		errs := 0
		for i := range bs {
			errs += bs[i].errors + cs[i].errors
		}
		fmt.Printf("| %s | %s | %s | %.2f | %s / %s | %s / %s | %d | %d | %d | %d |\n", sc.name, qpsRange(bs), qpsRange(cs), b.qps()/c.qps(),
			round(b.p50), round(b.p99), round(c.p50), round(c.p99), b.answers, b.size, b.truncated, errs)
	}
	cancel()
	return <-errc
}

// median is the run of rs with the median queries a second.
func median(rs []result) result {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b result) int { return int(a.qps() - b.qps()) })
	return rs[len(rs)/2]
}

// qpsRange is the median q/s of rs, with their range when there are several.
func qpsRange(rs []result) string {
	m := fmt.Sprintf("%.0f", median(rs).qps())
	if len(rs) == 1 {
		return m
	}
	lo, hi := rs[0].qps(), rs[0].qps()
	for _, r := range rs[1:] {
		lo, hi = min(lo, r.qps()), max(hi, r.qps())
	}
	return fmt.Sprintf("%s (%.0f–%.0f)", m, lo, hi)
}

type scenario struct {
	name  string
	qname string
	qtype uint16
}

// scenarios are the questions measured: a service "one" of one endpoint
// and a service "web" of endpoints endpoints, in the domain berth.
func scenarios(endpoints int) []scenario {
	return []scenario{
		{"A, 1 endpoint", "one.service.berth.", dns.TypeA},
		{fmt.Sprintf("A, %d endpoints", endpoints), "web.service.berth.", dns.TypeA},
		{fmt.Sprintf("SRV, %d endpoints", endpoints), "web.service.berth.", dns.TypeSRV},
	}
}

// runController measures the controller serving DNS at dnsAddr, after
// registering the scenarios' services through its HTTP API at httpAddr;
// measure, when set, measures instead.
func runController(dnsAddr, httpAddr, label string, o opts, measure func() error) error {
	d, clients, endpoints, edns := o.d, o.clients, o.endpoints, o.edns
	if httpAddr == "" {
		return errors.New("-dns needs -http: the controller's --listen, to register the services queried")
	}
	base := "http://" + httpAddr
	// The same catalog as in process: "web" at endpoints addresses, "one"
	// at one; the IDs carry the process id, so that they are this run's.
	var ids []string
	register := func(id, name, addr string) error {
		body, _ := json.Marshal(map[string]any{"ID": id, "Name": name, "Address": addr, "Port": 8080})
		ids = append(ids, id)
		return put(base+"/v1/agent/service/register", body)
	}
	defer func() {
		for _, id := range ids {
			if err := put(base+"/v1/agent/service/deregister/"+id, nil); err != nil {
				fmt.Fprintln(os.Stderr, "dnsbench: deregister:", err)
			}
		}
	}()
	for i := range endpoints {
		if err := register(fmt.Sprintf("dnsbench-%d-web-%d", os.Getpid(), i), "web", fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)); err != nil {
			return err
		}
	}
	if err := register(fmt.Sprintf("dnsbench-%d-one", os.Getpid()), "one", "10.1.0.1"); err != nil {
		return err
	}
	// Registration returns once the controller's catalog shows it; wait
	// for DNS all the same, so that every answer is whole from the start.
	if err := waitAnswers(dnsAddr, endpoints, edns); err != nil {
		return err
	}
	if measure != nil {
		return measure()
	}

	fmt.Printf("dnsbench: controller %s, %d clients over UDP from loopback, EDNS0 buffer %d, %s per scenario, GOMAXPROCS %d, NumCPU %d, %s\n",
		dnsAddr, clients, edns, d, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Println()
	fmt.Println("| controller | query | q/s | p50 / p99 | answers | bytes | TC | errors |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, sc := range scenarios(endpoints) {
		r, err := load(dnsAddr, sc.qname, sc.qtype, edns, clients, d)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Printf("| %s | %s | %.0f | %s / %s | %d | %d | %d | %d |\n", label, sc.name, r.qps(),
			round(r.p50), round(r.p99), r.answers, r.size, r.truncated, r.errors)
	}
	return nil
}

// put sends a PUT with body and wants 200.
func put(url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// load runs clients goroutines asking addr for qname and qtype for d.
func load(addr, qname string, qtype uint16, edns uint16, clients int, d time.Duration) (result, error) {
	var res result
	// One query first, for the size of the answer.
	first, err := exchangeOnce(addr, qname, qtype, edns)
	if err != nil {
		return res, err
	}
	res.answers = len(first.Answer)
	first.Compress = true
	res.size = first.Len()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: max(edns, dns.MinMsgSize)}
			conn, err := c.Dial(addr)
			if err != nil {
				mu.Lock()
				res.errors++
				mu.Unlock()
				return
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion(qname, qtype)
			if edns > 0 {
				m.SetEdns0(edns, false)
			}
			var lat []time.Duration
			var errs, tc int
			for time.Now().Before(deadline) {
				m.Id = dns.Id()
				r, rtt, err := c.ExchangeWithConn(m, conn)
				if err != nil {
					errs++
					continue
				}
				if r.Truncated {
					tc++
				}
				lat = append(lat, rtt)
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			res.errors += errs
			res.truncated += tc
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.queries = len(latencies)
	if len(latencies) == 0 {
		return res, errors.New("no answer at all")
	}
	slices.Sort(latencies)
	res.p50 = latencies[len(latencies)/2]
	res.p99 = latencies[len(latencies)*99/100]
	return res, nil
}

func exchangeOnce(addr, qname string, qtype, edns uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// startBare serves, on the UDP address listen, the fixed answer of each
// question (REFUSED for others), with only its id changed.
func startBare(listen string, fixed map[dns.Question]*dns.Msg) (string, func(), error) {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return "", nil, err
	}
	srv := &dns.Server{PacketConn: pc, UDPSize: dns.DefaultMsgSize, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		r, ok := fixed[req.Question[0]]
		if !ok {
			m := new(dns.Msg)
			w.WriteMsg(m.SetRcode(req, dns.RcodeRefused))
			return
		}
		m := *r // shallow: the sections are shared, read only
		m.Id = req.Id
		m.Compress = true
		w.WriteMsg(&m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		return "", nil, err
	}
	return pc.LocalAddr().String(), func() { srv.Shutdown(); <-done }, nil
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
