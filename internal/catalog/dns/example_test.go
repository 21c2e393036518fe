package catalogdns_test

import (
	"context"
	"fmt"

	"github.com/miekg/dns"

	"berth.dev/berth/internal/catalog"
	catalogdns "berth.dev/berth/internal/catalog/dns"
)

// A Server over an in-memory catalog, asked for a service's SRV records.
func Example() {
	mem := catalog.NewMemory()
	mem.PutNode(catalog.Node{Name: "node1", Address: "10.0.0.1", Up: true}, 0)
	mem.PutEndpoint(catalog.Endpoint{ID: "node1:web:8080", Service: "web", Host: "node1",
		Address: "10.0.0.1", Port: 8080, Source: catalog.SourceContainer}, 0)

	srv, err := catalogdns.New(mem, catalogdns.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-srv.Ready():
	case err := <-done:
		fmt.Println(err)
		return
	}
	udp, _ := srv.Addr()

	q := new(dns.Msg)
	q.SetQuestion("web.service.berth.", dns.TypeSRV)
	r, err := dns.Exchange(q, udp.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Answer[0])
	fmt.Println(r.Extra[0])
	// Output:
	// web.service.berth.	0	IN	SRV	1 1 8080 node1.node.berth.
	// node1.node.berth.	0	IN	A	10.0.0.1
}
