package catalogdns

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// maxCachedAnswers bounds the answer cache: past it, an entry is dropped
// for each one added. Only names that have answers are kept, so its
// entries are those of services that exist (times their tags, query types
// and the spellings clients use).
const maxCachedAnswers = 1024

// answerCache keeps the records of service answers built at one catalog
// index: a query at that index copies and shuffles them instead of
// copying, filtering and converting every endpoint again. The whole cache
// is dropped when the index moves, so an answer is never older than the
// catalog it was read from.
type answerCache struct {
	mu      sync.RWMutex
	index   int64
	entries map[answerKey]*answerEntry
}

type answerKey struct {
	owner string // the question's name as sent: answers echo its case
	qtype uint16
}

// orders is how many random orders of its answer an entry keeps.
const orders = 8

// answerEntry is one cached answer, its answer records in a fixed order.
type answerEntry struct {
	result
	// orders are the answer records in random orders: a response takes
	// one, rotated by a random offset, so that each record comes first
	// as often as any other, at the cost of one random number.
	orders [orders][]dns.RR
	// packed is the length of a message carrying the whole answer, with
	// compression, without [0] and with [1] an EDNS0 OPT record; 0 until
	// first measured.
	packed [2]atomic.Int32

	// cuts remembers, for a few buffer sizes too small for the whole
	// answer but large enough for every answer record, how many
	// additional records fit: truncation keeps a prefix of them, the
	// same whatever the order of the answer.
	mu   sync.Mutex
	cuts [4]cut
}

// cut is how many additional records of an entry fit in size bytes,
// with or without EDNS0.
type cut struct {
	size  int
	edns  bool
	extra int // 0 in an unused slot: a cut worth remembering keeps some
}

// get returns the entry for key at index, or nil.
func (c *answerCache) get(index int64, key answerKey) *answerEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.index != index {
		return nil
	}
	return c.entries[key]
}

// put keeps r for key at index, unless the catalog has moved past index
// since; it returns the entry that holds r.
func (c *answerCache) put(index int64, key answerKey, r result) *answerEntry {
	e := &answerEntry{result: r}
	e.cached = e
	for i := range e.orders {
		e.orders[i] = slices.Clone(r.answer)
		rand.Shuffle(len(r.answer), func(a, b int) { e.orders[i][a], e.orders[i][b] = e.orders[i][b], e.orders[i][a] })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case index < c.index:
		return e // built from an older catalog than the cache holds
	case index > c.index || c.entries == nil:
		c.index = index
		c.entries = make(map[answerKey]*answerEntry)
	}
	if len(c.entries) >= maxCachedAnswers {
		for k := range c.entries { // a random entry: map order
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
	return e
}

// fill puts the entry's records into m: the answer in a random order,
// each section in a slice of m's own (truncation and EDNS0 rewrite
// those); the records themselves are shared and never written.
func (e *answerEntry) fill(m *dns.Msg) {
	n := uint64(len(e.answer))
	r := rand.Uint64()
	order, start := e.orders[r%orders], (r/orders)%n
	m.Answer = append(append(make([]dns.RR, 0, n), order[start:]...), order[:start]...)
	if len(e.extra) > 0 {
		m.Extra = append(make([]dns.RR, 0, len(e.extra)+1), e.extra...)
	}
}

// fits reports whether m, carrying the entry's whole answer, packs into
// size bytes, measuring it the first time. The length does not depend on
// the order of the records: compression writes each distinct suffix of
// the names once, and ends each name with one pointer or one root label,
// whichever name comes first (TestCachedLengthDoesNotDependOnOrder).
func (e *answerEntry) fits(m *dns.Msg, size int) bool {
	i := 0
	if m.IsEdns0() != nil {
		i = 1
	}
	n := int(e.packed[i].Load())
	if n == 0 {
		n = m.Len()
		e.packed[i].Store(int32(n))
	}
	return n <= size
}

// cutExtra cuts m's additional section as truncation to size did before
// for this entry, and reports whether it knew how.
func (e *answerEntry) cutExtra(m *dns.Msg, size int) bool {
	opt := m.IsEdns0()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.cuts {
		if c.extra > 0 && c.size == size && c.edns == (opt != nil) {
			m.Extra = m.Extra[:c.extra]
			if opt != nil {
				m.Extra = append(m.Extra, opt)
			}
			return true
		}
	}
	return false
}

// rememberCut keeps how many additional records truncation to size left
// in m, when it kept every answer record.
func (e *answerEntry) rememberCut(m *dns.Msg, size int) {
	if len(m.Answer) != len(e.answer) || m.Truncated {
		return
	}
	c := cut{size: size, edns: m.IsEdns0() != nil}
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			c.extra++
		}
	}
	if c.extra == 0 || c.extra == len(e.extra) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	copy(e.cuts[1:], e.cuts[:len(e.cuts)-1])
	e.cuts[0] = c
}
