package hosts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/version"
)

// Heartbeat keeps one host's record and alive key in etcd. Set the fields,
// then call Run once.
type Heartbeat struct {
	Store  *store.Store
	Name   string
	Labels map[string]string
	TTL    time.Duration
	// AdvertiseAddress is listed first among the host's addresses.
	AdvertiseAddress string
	HTTPAddress      string
	HTTPScheme       string // of HTTPAddress: "https" under TLS, else "http"
	DNSAddress       string
	// ReservedCPUs and ReservedMemory (bytes) are what the host keeps for
	// the system; the record reports them for the scheduler.
	ReservedCPUs   float64
	ReservedMemory int64
	Log            *slog.Logger
	// Extra, when set, fills in what other components know, such as
	// Docker's version. It is called on every beat.
	Extra func(*v1.HostStatus)
	// OnBeat, when set, is told the result of every beat (nil: written).
	OnBeat func(error)

	started time.Time
	// written is the last record written, and when: the record is
	// rewritten when it changes, and at least every RecordRefresh for the
	// load and memory figures; liveness itself is the lease.
	written   *v1.Host
	writtenAt time.Time
	lease     int64
	lost      <-chan struct{}
	stop      context.CancelFunc

	// addrs are the host's addresses as last read, at addrsAt: asking the
	// kernel for every interface and its addresses on each beat costs more
	// than the rest of the record, so they are read again only every
	// RecordRefresh, as the record is rewritten.
	mu      sync.Mutex
	addrs   []string
	addrsAt time.Time
	// readAddresses reads them (nil: from the kernel); tests set it.
	readAddresses func() []string
}

// addresses returns the host's addresses, read again when they were last
// read RecordRefresh or more before now.
func (h *Heartbeat) addresses(now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.addrsAt.IsZero() || now.Sub(h.addrsAt) >= RecordRefresh || now.Before(h.addrsAt) {
		read := h.readAddresses
		if read == nil {
			read = hostAddresses
		}
		h.addrs, h.addrsAt = read(), now
	}
	return slices.Clone(h.addrs)
}

// Record returns the host record as it would be written now. The host's
// addresses are those read at most RecordRefresh before now.
func (h *Heartbeat) Record(now time.Time) *v1.Host {
	host := v1.New(v1.KindHost).(*v1.Host)
	host.Metadata.Name = h.Name
	host.Metadata.Labels = h.Labels
	host.Metadata.CreationTimestamp = h.started
	st := &host.Status
	readHostInfo(st)
	st.Addresses = h.addresses(now)
	if h.AdvertiseAddress != "" {
		st.Addresses = append([]string{h.AdvertiseAddress}, without(st.Addresses, h.AdvertiseAddress)...)
	}
	st.HTTPAddress = h.HTTPAddress
	st.HTTPScheme = h.HTTPScheme
	st.DNSAddress = h.DNSAddress
	st.ReservedCPUs, st.ReservedMemory = h.ReservedCPUs, h.ReservedMemory
	st.BerthVersion = version.Version
	st.StartedAt = h.started
	st.Heartbeat = now
	if h.Extra != nil {
		h.Extra(st)
	}
	return host
}

func without(list []string, s string) []string {
	var out []string
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// beat writes the host record, and the alive key on a new lease when there
// is none.
func (h *Heartbeat) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.TTL/2)
	defer cancel()
	now := time.Now().UTC()
	rec := h.Record(now)
	if h.lease == 0 || h.written == nil || now.Sub(h.writtenAt) >= RecordRefresh || !sameRecord(h.written, rec) {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := h.Store.Put(ctx, store.HostKey(h.Name), b, 0); err != nil {
			return fmt.Errorf("write host record: %w", err)
		}
		h.written, h.writtenAt = rec, now
	}
	if h.lease != 0 {
		// A quorum read of the alive key says etcd answers (the lease's
		// renewals alone wait out an outage silently) and that the key
		// is still there.
		_, err := h.Store.Get(ctx, store.AliveKey(h.Name))
		if !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return fmt.Errorf("read alive key: %w", err)
			}
			return nil
		}
		h.Log.Warn("alive key gone; granting a new lease", "lease", fmt.Sprintf("%x", h.lease))
		h.dropLease()
	}
	lease, err := h.Store.Grant(ctx, h.TTL)
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	if _, err := h.Store.Put(ctx, store.AliveKey(h.Name), []byte(time.Now().UTC().Format(time.RFC3339)), lease); err != nil {
		return fmt.Errorf("write alive key: %w", err)
	}
	kctx, stop := context.WithCancel(context.Background())
	lost, err := h.Store.KeepAlive(kctx, lease)
	if err != nil {
		stop()
		return fmt.Errorf("keep lease alive: %w", err)
	}
	h.lease, h.lost, h.stop = lease, lost, stop
	h.Log.Info("host is up", "host", h.Name, "lease", fmt.Sprintf("%x", lease), "ttl", h.TTL)
	return nil
}

// RecordRefresh is how often the host record is rewritten when nothing
// but its load and memory figures changed.
const RecordRefresh = 30 * time.Second

// sameRecord compares two records but for the figures that move all the
// time (heartbeat, load, memory used).
func sameRecord(a, b *v1.Host) bool {
	x, y := *a, *b
	x.Status.Heartbeat, y.Status.Heartbeat = time.Time{}, time.Time{}
	x.Status.LoadAverage, y.Status.LoadAverage = [3]float64{}, [3]float64{}
	x.Status.MemoryUsed, y.Status.MemoryUsed = 0, 0
	jx, _ := json.Marshal(x)
	jy, _ := json.Marshal(y)
	return string(jx) == string(jy)
}

// Run beats until ctx ends, then revokes the lease.
func (h *Heartbeat) Run(ctx context.Context) {
	h.started = time.Now().UTC()
	interval := h.TTL / 3
	const firstRetry = 200 * time.Millisecond
	retry := firstRetry
	for {
		err := h.beat(ctx)
		if h.OnBeat != nil {
			h.OnBeat(err)
		}
		wait := interval
		if err != nil {
			h.Log.Warn("heartbeat failed; retrying", "err", err, "in", retry)
			wait, retry = retry, min(retry*2, interval)
		} else {
			retry = firstRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			h.revoke()
			return
		case <-h.lost:
			t.Stop()
			h.Log.Warn("host lease lost; granting a new one", "lease", fmt.Sprintf("%x", h.lease))
			h.dropLease()
		case <-t.C:
		}
	}
}

func (h *Heartbeat) dropLease() {
	if h.stop != nil {
		h.stop()
	}
	h.lease, h.lost, h.stop = 0, nil, nil
}

func (h *Heartbeat) revoke() {
	if h.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	lease := h.lease
	h.dropLease()
	if err := h.Store.Revoke(ctx, lease); err != nil {
		h.Log.Warn("revoke host lease", "err", err)
		return
	}
	h.Log.Info("host lease revoked", "host", h.Name)
}
