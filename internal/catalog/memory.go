package catalog

import (
	"context"
	"sort"
	"sync"
)

// Memory is an in-memory catalog: a Reader whose content is set with
// PutEndpoint, DeleteEndpoint, PutNode and DeleteNode. The etcd-backed
// reader feeds one from its watch; tests fill one directly.
//
// An endpoint is known by its host, service and id, as its etcd key
// (catalog/<host>/<service>/<id>) is: an id is unique within a service on
// one host only, as a service id is unique on one Consul node only, so two
// hosts registering the same id are two endpoints.
type Memory struct {
	mu        sync.Mutex
	index     int64
	endpoints map[string]map[endpointKey]Endpoint // service -> (host, id) -> endpoint
	svcIndex  map[string]int64                    // service -> index of its last change
	nodes     map[string]Node
	nodeIndex int64
	changed   chan struct{} // closed and replaced on every change
}

var _ Reader = (*Memory)(nil)

// endpointKey is an endpoint within its service.
type endpointKey struct{ host, id string }

// NewMemory returns an empty catalog at index 1.
func NewMemory() *Memory {
	return &Memory{index: 1, endpoints: map[string]map[endpointKey]Endpoint{}, svcIndex: map[string]int64{},
		nodes: map[string]Node{}, changed: make(chan struct{})}
}

// bump raises the index to at least rev (and by one at least), and wakes
// the waiters. Callers hold mu.
func (m *Memory) bump(rev int64) int64 {
	if rev <= m.index {
		rev = m.index + 1
	}
	m.index = rev
	close(m.changed)
	m.changed = make(chan struct{})
	return rev
}

// PutEndpoint adds or replaces the endpoint of e.Host, e.Service and e.ID,
// at etcd revision rev (0: the next index).
func (m *Memory) PutEndpoint(e Endpoint, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.bump(rev)
	svc := m.endpoints[e.Service]
	if svc == nil {
		svc = map[endpointKey]Endpoint{}
		m.endpoints[e.Service] = svc
	}
	k := endpointKey{e.Host, e.ID}
	if old, ok := svc[k]; ok && e.CreateIndex == 0 {
		e.CreateIndex = old.CreateIndex
	}
	if e.CreateIndex == 0 {
		e.CreateIndex = idx
	}
	e.ModifyIndex = idx
	svc[k] = e
	m.svcIndex[e.Service] = idx
}

// DeleteEndpoint removes the endpoint id of service registered by host,
// leaving those other hosts registered under the same id, at etcd revision
// rev (0: the next index). Removing an unknown endpoint changes nothing.
func (m *Memory) DeleteEndpoint(host, service, id string, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	svc := m.endpoints[service]
	k := endpointKey{host, id}
	if _, ok := svc[k]; !ok {
		return
	}
	idx := m.bump(rev)
	delete(svc, k)
	if len(svc) == 0 {
		delete(m.endpoints, service)
	}
	m.svcIndex[service] = idx
}

// PutNode adds or replaces a node.
func (m *Memory) PutNode(n Node, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.bump(rev)
	if old, ok := m.nodes[n.Name]; ok && n.CreateIndex == 0 {
		n.CreateIndex = old.CreateIndex
	}
	if n.CreateIndex == 0 {
		n.CreateIndex = idx
	}
	n.ModifyIndex = idx
	m.nodes[n.Name] = n
	m.nodeIndex = idx
}

// DeleteNode removes a node.
func (m *Memory) DeleteNode(name string, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[name]; !ok {
		return
	}
	m.nodeIndex = m.bump(rev)
	delete(m.nodes, name)
}

// Index implements Reader.
func (m *Memory) Index() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.index
}

// Services implements Reader.
func (m *Memory) Services() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]string{}
	for name, eps := range m.endpoints {
		seen := map[string]bool{}
		tags := []string{}
		for _, e := range eps {
			for _, t := range e.Tags {
				if !seen[t] {
					seen[t] = true
					tags = append(tags, t)
				}
			}
		}
		sort.Strings(tags)
		out[name] = tags
	}
	return out
}

// Endpoints implements Reader.
func (m *Memory) Endpoints(service string) ([]Endpoint, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.svcIndex[service]
	if idx == 0 {
		idx = 1
	}
	eps := m.endpoints[service]
	if len(eps) == 0 {
		return nil, idx
	}
	out := make([]Endpoint, 0, len(eps))
	for _, e := range eps {
		out = append(out, copyEndpoint(e))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].ID < out[j].ID
	})
	return out, idx
}

// Nodes implements Reader.
func (m *Memory) Nodes() ([]Node, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	idx := m.nodeIndex
	if idx == 0 {
		idx = 1
	}
	return out, idx
}

// Node implements Reader.
func (m *Memory) Node(name string) (Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[name]
	return n, ok
}

// Wait implements Reader.
func (m *Memory) Wait(ctx context.Context, scope string, index int64) int64 {
	for {
		m.mu.Lock()
		cur := m.index
		if scope != "" {
			cur = m.svcIndex[scope]
			if cur == 0 {
				cur = 1
			}
		}
		ch := m.changed
		m.mu.Unlock()
		if cur > index {
			return cur
		}
		select {
		case <-ctx.Done():
			return cur
		case <-ch:
		}
	}
}

func copyEndpoint(e Endpoint) Endpoint {
	e.Tags = append([]string(nil), e.Tags...)
	if e.Meta != nil {
		m := make(map[string]string, len(e.Meta))
		for k, v := range e.Meta {
			m[k] = v
		}
		e.Meta = m
	}
	e.Checks = append([]Check(nil), e.Checks...)
	return e
}
