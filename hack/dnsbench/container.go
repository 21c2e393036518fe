package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The comparison of a controller's DNS from loopback and from a
// container, each against a bare server in the same run (-container-dns).
//
// This process serves the bare servers; the load comes from another
// process, as berth's answers come from the controller's, so that neither
// server shares its process with the load. From loopback, it starts a
// bare server on 127.0.0.1 replaying the answers of the controller's
// --dns-listen, and runs itself with -load, which loads the controller,
// then that bare server, in turns. From a container, it starts a bare
// server on the container DNS address (a free port of the berth network's
// gateway) replaying the answers of the container DNS, and runs itself
// with -load in a container on the berth network (docker run, the binary
// mounted into -image). The binary must be static (CGO_ENABLED=0) to run
// in a FROM scratch image.

// compareHeader is the table the comparison prints.
const compareHeader = `| from | query | berth q/s | bare q/s | ratio | berth p50 / p99 | bare p50 / p99 | answers | TC | errors |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`

// opts are the load's settings, passed on to the container.
type opts struct {
	d                  time.Duration
	clients, endpoints int
	edns               uint16
	rounds             int
}

// args are the flags that give o to this program.
func (o opts) args() []string {
	return []string{"-duration", o.d.String(), "-clients", strconv.Itoa(o.clients), "-endpoints", strconv.Itoa(o.endpoints),
		"-edns", strconv.Itoa(int(o.edns)), "-rounds", strconv.Itoa(o.rounds)}
}

// compare prints the comparison of the controller whose --dns-listen is
// dnsAddr and whose container DNS is containerDNS, its services
// registered.
func compare(dnsAddr, containerDNS, image, network string, o opts) error {
	host, _, err := net.SplitHostPort(containerDNS)
	if err != nil {
		return fmt.Errorf("-container-dns %q: %w", containerDNS, err)
	}
	if err := waitAnswers(containerDNS, o.endpoints, o.edns); err != nil {
		return err
	}
	fmt.Printf("dnsbench: controller %s from loopback, %s from a container on %s; %d clients over UDP, EDNS0 buffer %d, %s per scenario, %d round(s), GOMAXPROCS %d, NumCPU %d, %s\n\n",
		dnsAddr, containerDNS, network, o.clients, o.edns, o.d, o.rounds, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Println(compareHeader)
	loopBare, stopLoop, err := bareFor(dnsAddr, "127.0.0.1:0", o)
	if err != nil {
		return err
	}
	defer stopLoop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := runCmd(self, append([]string{"-load", "-servers", dnsAddr + "," + loopBare, "-label", "loopback"}, o.args()...)...); err != nil {
		return err
	}
	ctrBare, stopCtr, err := bareFor(containerDNS, net.JoinHostPort(host, "0"), o)
	if err != nil {
		return err
	}
	defer stopCtr()
	return runCmd("docker", append([]string{"run", "--rm", "--network", network, "-v", self + ":/dnsbench:ro", "--entrypoint", "/dnsbench", image,
		"-load", "-servers", containerDNS + "," + ctrBare, "-label", "container"}, o.args()...)...)
}

// runCmd runs name with args, its output ours.
func runCmd(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// bareFor starts a bare server on listen replaying the answers of the
// server at addr to the scenarios' questions.
func bareFor(addr, listen string, o opts) (string, func(), error) {
	fixed := map[dns.Question]*dns.Msg{}
	for _, sc := range scenarios(o.endpoints) {
		r, err := exchangeOnce(addr, sc.qname, sc.qtype, o.edns)
		if err != nil {
			return "", nil, err
		}
		fixed[r.Question[0]] = r
	}
	return startBare(listen, fixed)
}

// loadRows loads berth, then bare, o.rounds times for each scenario and
// prints a row for each, labelled from.
func loadRows(from, berth, bare string, o opts) error {
	for _, sc := range scenarios(o.endpoints) {
		bs, cs, err := alternate(berth, bare, sc, o)
		if err != nil {
			return err
		}
		b, c := median(bs), median(cs)
		errs, tc := 0, 0
		for i := range bs {
			errs += bs[i].errors + cs[i].errors
			tc += bs[i].truncated
		}
		fmt.Printf("| %s | %s | %s | %s | %.2f | %s / %s | %s / %s | %d | %d | %d |\n", from, sc.name, qpsRange(bs), qpsRange(cs),
			b.qps()/c.qps(), round(b.p50), round(b.p99), round(c.p50), round(c.p99), b.answers, tc, errs)
	}
	return nil
}

// alternate loads berth, then bare, with the question of sc, o.rounds
// times.
func alternate(berth, bare string, sc scenario, o opts) (bs, cs []result, err error) {
	for range o.rounds {
		b, err := load(berth, sc.qname, sc.qtype, o.edns, o.clients, o.d)
		if err != nil {
			return nil, nil, fmt.Errorf("berth %s: %w", sc.name, err)
		}
		c, err := load(bare, sc.qname, sc.qtype, o.edns, o.clients, o.d)
		if err != nil {
			return nil, nil, fmt.Errorf("bare %s: %w", sc.name, err)
		}
		bs, cs = append(bs, b), append(cs, c)
	}
	return bs, cs, nil
}

// runLoad is -load, in the container: servers is "berth,bare".
func runLoad(servers, label string, o opts) error {
	berth, bare, ok := strings.Cut(servers, ",")
	if !ok {
		return fmt.Errorf("-servers %q: want BERTH,BARE", servers)
	}
	return loadRows(label, berth, bare, o)
}

// waitAnswers waits until addr answers the service of endpoints records
// whole.
func waitAnswers(addr string, endpoints int, edns uint16) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := exchangeOnce(addr, "web.service.berth.", dns.TypeA, edns)
		if err == nil && len(r.Answer) == endpoints {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer web.service.berth. with %d records within 30s: %v %v", addr, endpoints, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
