package scheduler

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	v1 "berth.dev/berth/api/v1"
)

// Request is what one instance of a Unit or Job asks of its host: the
// CPUs and memory of its container's resources (the limits Docker
// enforces, which the scheduler also reads as what the instance needs)
// and the host ports it publishes at fixed numbers.
type Request struct {
	MilliCPUs int64
	Memory    int64 // bytes
	Ports     []HostPort
}

// HostPort is a port of a host, as a published port takes it.
type HostPort struct {
	Port     int
	Protocol v1.Protocol
}

// String is the port as messages show it: 8080/tcp.
func (p HostPort) String() string { return strconv.Itoa(p.Port) + "/" + string(p.Protocol) }

// RequestOf returns what one instance of a container template asks. A
// port with a hostPort takes that port of the host; under networkMode
// host, every containerPort is a port of the host. Figures that do not
// parse (validation refuses them at apply) count as 0.
func RequestOf(t *v1.ContainerTemplate) Request {
	var r Request
	if c, err := t.Resources.CPUs.Value(); err == nil {
		r.MilliCPUs = int64(math.Round(c * 1000))
	}
	if m, err := t.Resources.Memory.Bytes(); err == nil {
		r.Memory = m
	}
	for _, p := range t.Ports {
		port := p.HostPort
		if t.NetworkMode == "host" {
			port = p.ContainerPort
		}
		if port > 0 {
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			r.Ports = append(r.Ports, HostPort{Port: port, Protocol: proto})
		}
	}
	return r
}

// StatusPorts returns the host ports an instance reports in its status.
func StatusPorts(st *v1.InstanceStatus) []HostPort {
	var out []HostPort
	for _, p := range st.Ports {
		if p.HostPort > 0 {
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			out = append(out, HostPort{Port: p.HostPort, Protocol: proto})
		}
	}
	return out
}

// Usage is what the instances placed on a host take of it. Its maps are
// shared between copies: treat them as read-only.
type Usage struct {
	// Instances is the number of Units and Jobs placed on the host; new
	// instances go to the hosts with the fewest.
	Instances int
	MilliCPUs int64
	Memory    int64
	// Ports counts, for each host port, the placed instances whose
	// template publishes it; Observed counts the instances that report
	// it in their status (a port chosen when the container was made, or
	// one a template no longer names).
	Ports    map[HostPort]int
	Observed map[HostPort]int
}

// taken reports whether a placed instance holds the host port.
func (u Usage) taken(p HostPort) bool { return u.Ports[p] > 0 || u.Observed[p] > 0 }

// add returns u with n instances asking r added (n < 0 removes them).
// It copies the Ports map before changing it.
func (u Usage) add(r Request, n int) Usage {
	u.Instances += n
	u.MilliCPUs += int64(n) * r.MilliCPUs
	u.Memory += int64(n) * r.Memory
	if len(r.Ports) > 0 {
		ports := make(map[HostPort]int, len(u.Ports)+len(r.Ports))
		maps.Copy(ports, u.Ports)
		for _, p := range r.Ports {
			if ports[p] += n; ports[p] <= 0 {
				delete(ports, p)
			}
		}
		u.Ports = ports
	}
	return u
}

// observe returns u with n more instances reporting each of ports (n < 0:
// fewer). It copies the Observed map before changing it.
func (u Usage) observe(ports []HostPort, n int) Usage {
	if len(ports) == 0 {
		return u
	}
	obs := make(map[HostPort]int, len(u.Observed)+len(ports))
	maps.Copy(obs, u.Observed)
	for _, p := range ports {
		if obs[p] += n; obs[p] <= 0 {
			delete(obs, p)
		}
	}
	u.Observed = obs
	return u
}

// Capacity returns what the host offers to instances: its CPUs
// (milli-CPUs) and memory less what is reserved, never below 0, and
// whether each is known. A host that reports no CPUs (or no memory) is not
// limited in it.
func (h HostInfo) Capacity() (milliCPUs, memory int64, cpuKnown, memKnown bool) {
	return max(h.MilliCPUs-h.ReservedMilliCPUs, 0), max(h.Memory-h.ReservedMemory, 0), h.MilliCPUs > 0, h.Memory > 0
}

// HostInfoOf returns what Schedule knows of a host from its record, and
// whether its controller is alive.
func HostInfoOf(h *v1.Host, up bool) HostInfo {
	st := &h.Status
	return HostInfo{
		Name:              h.Metadata.Name,
		Labels:            h.Metadata.Labels,
		Up:                up,
		MilliCPUs:         int64(st.CPUs) * 1000,
		Memory:            st.MemoryBytes,
		ReservedMilliCPUs: int64(math.Round(st.ReservedCPUs * 1000)),
		ReservedMemory:    st.ReservedMemory,
	}
}

// Reason says why a host cannot take an instance.
type Reason string

// Values of Reason.
const (
	ReasonNotListed       Reason = "NotListed"       // placement.hosts does not name it
	ReasonLabelMismatch   Reason = "LabelMismatch"   // its labels do not match placement.hostSelector
	ReasonHostDown        Reason = "HostDown"        // its controller is not alive
	ReasonHostLost        Reason = "HostLost"        // Down for longer than --reschedule-after
	ReasonNotEnoughCPU    Reason = "NotEnoughCPU"    // the CPUs asked are more than are free
	ReasonNotEnoughMemory Reason = "NotEnoughMemory" // the memory asked is more than is free
	ReasonHostPortTaken   Reason = "HostPortTaken"   // another instance holds a host port asked for
)

// Rejection is why one host cannot take an instance of a Unit.
type Rejection struct {
	Host   string
	Reason Reason
	// For NotEnoughCPU (milli-CPUs) and NotEnoughMemory (bytes): what
	// the instance asks, what is free, what the host has in all and what
	// its controller reserves.
	Asks, Free, Capacity, Reserved int64
	// Port is the port taken, for HostPortTaken.
	Port HostPort
	// Selector is the placement's hostSelector as k=v,k=v, for
	// LabelMismatch.
	Selector string
}

// Message says why in words, with the figures:
// "not enough memory: asks 512Mi, 300Mi free of 2Gi (1Gi reserved)".
func (r Rejection) Message() string {
	switch r.Reason {
	case ReasonNotListed:
		return "not in placement.hosts"
	case ReasonLabelMismatch:
		return "labels do not match hostSelector " + r.Selector
	case ReasonHostDown:
		return "host is Down"
	case ReasonHostLost:
		return "host is Down for longer than --reschedule-after"
	case ReasonNotEnoughCPU:
		return fmt.Sprintf("not enough CPU: asks %s, %s free of %s%s", FormatCPUs(r.Asks), FormatCPUs(r.Free),
			FormatCPUs(r.Capacity), reserved(r.Reserved, FormatCPUs))
	case ReasonNotEnoughMemory:
		return fmt.Sprintf("not enough memory: asks %s, %s free of %s%s", FormatBytes(r.Asks), FormatBytes(r.Free),
			FormatBytes(r.Capacity), reserved(r.Reserved, FormatBytes))
	case ReasonHostPortTaken:
		return "host port " + r.Port.String() + " taken"
	}
	return string(r.Reason)
}

func reserved(n int64, format func(int64) string) string {
	if n <= 0 {
		return ""
	}
	return " (" + format(n) + " reserved)"
}

// FormatBytes writes a size as the API takes it, to a tenth of its unit
// rounded down (so that what is free is never shown as more than it is):
// 512Mi, 1.5Gi, 100.
func FormatBytes(n int64) string {
	units := []string{"Ki", "Mi", "Gi", "Ti"}
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10)
	}
	f := float64(n)
	i := -1
	for i+1 < len(units) && math.Abs(f) >= 1024 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(math.Floor(f*10)/10, 'f', -1, 64) + units[i]
}

// FormatCPUs writes milli-CPUs as CPUs: 1.5, 0.25, 2.
func FormatCPUs(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// Fit returns why host h, where used is taken, cannot take one more
// instance asking r: the first of CPU, memory and host ports that is
// short. ok is true when it can.
func Fit(h HostInfo, used Usage, r Request) (rej Rejection, ok bool) {
	cpus, mem, cpuKnown, memKnown := h.Capacity()
	if cpuKnown && r.MilliCPUs > 0 && used.MilliCPUs+r.MilliCPUs > cpus {
		return Rejection{Host: h.Name, Reason: ReasonNotEnoughCPU, Asks: r.MilliCPUs,
			Free: max(cpus-used.MilliCPUs, 0), Capacity: h.MilliCPUs, Reserved: h.ReservedMilliCPUs}, false
	}
	if memKnown && r.Memory > 0 && used.Memory+r.Memory > mem {
		return Rejection{Host: h.Name, Reason: ReasonNotEnoughMemory, Asks: r.Memory,
			Free: max(mem-used.Memory, 0), Capacity: h.Memory, Reserved: h.ReservedMemory}, false
	}
	for _, p := range r.Ports {
		if used.taken(p) {
			return Rejection{Host: h.Name, Reason: ReasonHostPortTaken, Port: p}, false
		}
	}
	return Rejection{}, true
}

// maxListed is how many rejected hosts a pending reason names one by one;
// beyond it they are counted by reason.
const maxListed = 5

// PendingReason says why d left replicas unplaced, host by host when few
// were rejected, else counted by reason with the first host of each as an
// example: "1 of 2 replicas pending: no host can take one: h1: not enough
// memory: asks 4Gi, 1Gi free of 8Gi; h2: host is Down". It is "" when
// nothing is pending.
func (d Decision) PendingReason() string {
	if d.Pending == 0 {
		return ""
	}
	head := fmt.Sprintf("%d of %d replicas pending: ", d.Pending, d.Pending+len(d.Hosts))
	if d.Pending+len(d.Hosts) == 1 {
		head = "pending: "
	}
	if len(d.Rejected) == 0 {
		if len(d.Hosts) == 0 {
			return head + "no host is known"
		}
		return head + "every host that could take one runs one already (one replica per host)"
	}
	var parts []string
	if len(d.Rejected) <= maxListed {
		for _, r := range d.Rejected {
			parts = append(parts, r.Host+": "+r.Message())
		}
		return head + "no host can take one: " + strings.Join(parts, "; ")
	}
	count := map[Reason]int{}
	var order []Reason
	first := map[Reason]Rejection{}
	for _, r := range d.Rejected {
		if count[r.Reason] == 0 {
			order = append(order, r.Reason)
			first[r.Reason] = r
		}
		count[r.Reason]++
	}
	for _, reason := range order {
		r := first[reason]
		parts = append(parts, fmt.Sprintf("%d hosts %s (%s: %s)", count[reason], reasonShort[reason], r.Host, r.Message()))
	}
	return head + fmt.Sprintf("none of %d hosts can take one: ", len(d.Rejected)) + strings.Join(parts, ", ")
}

// reasonShort names a reason in a count: "3 hosts lack memory".
var reasonShort = map[Reason]string{
	ReasonNotListed:       "not in placement.hosts",
	ReasonLabelMismatch:   "do not match hostSelector",
	ReasonHostDown:        "Down",
	ReasonHostLost:        "Down too long",
	ReasonNotEnoughCPU:    "lack CPU",
	ReasonNotEnoughMemory: "lack memory",
	ReasonHostPortTaken:   "have the host port taken",
}
