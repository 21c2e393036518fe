package registrator

import (
	"fmt"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/catalog"
)

// ReasonCheckBelowMinimum is the reason of the warning event recorded
// when a check's interval, timeout or TTL is raised to berth's floor.
const ReasonCheckBelowMinimum = "CheckBelowMinimum"

// floorCheck raises c's interval and timeout (a TTL check's TTL) that are
// below berth's floors, v1.MinCheckInterval and v1.MinCheckTimeout, to
// them, and says what it raised ("interval 1ms raised to the minimum of
// 1s"); nil when nothing was. Zero stays zero: the runner's default
// applies. A Docker health status runs nothing and is left alone. It does
// not care where the check comes from: a Service, SERVICE_CHECK_*, a
// Job's healthCheck or the agent API.
func floorCheck(c *catalog.Check) []string {
	var raised []string
	raise := func(what string, d *time.Duration, floor time.Duration) {
		if *d > 0 && *d < floor {
			raised = append(raised, fmt.Sprintf("%s %s raised to the minimum of %s", what, *d, floor))
			*d = floor
		}
	}
	switch c.Type {
	case catalog.CheckDocker:
	case catalog.CheckTTL:
		raise("ttl", &c.TTL, v1.MinCheckInterval)
	default:
		raise("interval", &c.Interval, v1.MinCheckInterval)
		raise("timeout", &c.Timeout, v1.MinCheckTimeout)
	}
	return raised
}

// floored is a check whose durations floorCheck raised, with the endpoint
// it belongs to, for the warning.
type floored struct {
	endpoint catalog.Endpoint
	check    string
	raised   []string
}

func (f floored) message() string {
	return fmt.Sprintf("check %s of service %s (endpoint %s): %s", f.check, f.endpoint.Service, f.endpoint.ID, strings.Join(f.raised, ", "))
}
