// Command register measures registrations per second through a controller's
// Consul-compatible HTTP API: N outside services registered with
// PUT /v1/agent/service/register by C concurrent clients, then deregistered
// with PUT /v1/agent/service/deregister/{id}. hack/bench-register.sh builds
// the controller, starts it and runs this; it is run by hand, not in CI.
//
// Each registration is timed twice, from the start of its PUT:
//
//   - "returned": until the PUT answers 200 (the controller has written the
//     endpoint to etcd, on its lease);
//   - "visible": until GET /v1/catalog/service/{name} of the same controller
//     lists it. That read comes from the controller's watched copy of the
//     catalog, so it may lag the PUT; when the first GET after the PUT does
//     not list it, the client waits with a blocking query (?index=&wait=)
//     until it does, and the registration counts as "not yet visible when
//     the PUT returned".
//
// Deregistrations are timed the same way (until the GET lists nothing).
// Every registration is a service of its own (bench-<run>-<i>), with one
// endpoint and no check, so that each blocking query waits on its own
// scope.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8500", "the controller's --listen")
	n := flag.Int("n", 500, "services to register")
	c := flag.Int("c", 8, "concurrent clients")
	prefix := flag.String("prefix", "bench", "prefix of the service names")
	flag.Parse()
	b := &bench{base: "http://" + *listen, http: &http.Client{Timeout: 60 * time.Second}}
	names := make([]string, *n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", *prefix, i)
	}
	reg, err := b.phase(names, *c, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
	dereg, err := b.phase(names, *c, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deregister:", err)
		os.Exit(1)
	}
	fmt.Printf("%d services, %d concurrent clients, %s\n\n", *n, *c, b.base)
	fmt.Println("| phase | ops/s (returned) | ops/s (visible) | returned p50 / p99 | visible p50 / p99 | not yet visible when the PUT returned | first 100 ops/s | last 100 ops/s |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	reg.print("register")
	dereg.print("deregister")
}

type bench struct {
	base string
	http *http.Client
}

// result is one phase's measurements.
type result struct {
	n                   int
	wall, wallVisible   time.Duration
	returned, visible   []time.Duration // per operation
	lagging             int64
	firstRate, lastRate float64
}

func (r *result) print(phase string) {
	q := func(d []time.Duration, p float64) string {
		s := slices.Clone(d)
		slices.Sort(s)
		return fmt.Sprintf("%.1f ms", float64(s[int(p*float64(len(s)-1))].Microseconds())/1000)
	}
	fmt.Printf("| %s | %.0f | %.0f | %s / %s | %s / %s | %d of %d | %.0f | %.0f |\n", phase,
		float64(r.n)/r.wall.Seconds(), float64(r.n)/r.wallVisible.Seconds(),
		q(r.returned, 0.50), q(r.returned, 0.99), q(r.visible, 0.50), q(r.visible, 0.99),
		r.lagging, r.n, r.firstRate, r.lastRate)
}

// phase registers (or deregisters) every name with c workers.
func (b *bench) phase(names []string, c int, register bool) (*result, error) {
	r := &result{n: len(names), returned: make([]time.Duration, len(names)), visible: make([]time.Duration, len(names))}
	done := make([]time.Time, len(names)) // when each PUT returned
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	var lastReturn, lastVisible time.Time
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				t0 := time.Now()
				var err error
				if register {
					err = b.register(names[i])
				} else {
					err = b.put("/v1/agent/service/deregister/"+names[i], nil)
				}
				t1 := time.Now()
				lagged := false
				if err == nil {
					lagged, err = b.waitVisible(names[i], register)
				}
				t2 := time.Now()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", names[i], err)
				}
				r.returned[i], r.visible[i], done[i] = t1.Sub(t0), t2.Sub(t0), t1
				if lagged {
					r.lagging++
				}
				if t1.After(lastReturn) {
					lastReturn = t1
				}
				if t2.After(lastVisible) {
					lastVisible = t2
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	r.wall, r.wallVisible = lastReturn.Sub(start), lastVisible.Sub(start)
	// Rates of the first and last 100 operations to return, to show
	// whether a registration costs more as the catalog grows.
	order := slices.Clone(done)
	slices.SortFunc(order, func(a, b time.Time) int { return a.Compare(b) })
	if k := min(100, len(order)-1); k > 0 {
		r.firstRate = float64(k) / order[k].Sub(start).Seconds()
		r.lastRate = float64(k) / order[len(order)-1].Sub(order[len(order)-1-k]).Seconds()
	}
	return r, nil
}

func (b *bench) register(name string) error {
	body, _ := json.Marshal(map[string]any{
		"ID": name, "Name": name, "Address": "127.0.0.1", "Port": 10000, "Tags": []string{"bench"},
	})
	return b.put("/v1/agent/service/register", body)
}

func (b *bench) put(path string, body []byte) error {
	req, err := http.NewRequest(http.MethodPut, b.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s: %s", path, resp.Status, msg)
	}
	return nil
}

// waitVisible waits until GET /v1/catalog/service/{name} lists one
// endpoint (want) or none (!want); it reports whether the first read did
// not yet show it.
func (b *bench) waitVisible(name string, want bool) (bool, error) {
	index := ""
	deadline := time.Now().Add(30 * time.Second)
	for first := true; ; first = false {
		url := b.base + "/v1/catalog/service/" + name
		if index != "" {
			url += "?index=" + index + "&wait=5s"
		}
		resp, err := b.http.Get(url)
		if err != nil {
			return !first, err
		}
		var entries []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&entries)
		resp.Body.Close()
		if err != nil {
			return !first, fmt.Errorf("GET %s: %w", url, err)
		}
		if (len(entries) == 1) == want {
			return !first, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("GET %s: %d entries after 30s", url, len(entries))
		}
		index = resp.Header.Get("X-Consul-Index")
		if _, err := strconv.ParseUint(index, 10, 64); err != nil {
			return true, fmt.Errorf("GET %s: X-Consul-Index %q", url, index)
		}
	}
}
