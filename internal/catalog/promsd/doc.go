// Package promsd serves the catalog as Prometheus HTTP service discovery
// (http_sd_configs): GET /v1/prometheus/targets on the controller's --listen.
//
// The answer is a JSON list of target groups, Content-Type
// application/json, as Prometheus wants it:
//
//	[{"targets": ["10.0.0.5:20001", "10.0.0.5:20002"],
//	  "labels": {"__meta_berth_service": "web", "__meta_berth_host": "node-a",
//	             "__meta_berth_tags": ",http,v2,", "__meta_berth_meta_version": "2"}},
//	 {"targets": ["10.0.0.5:8500"],
//	  "labels": {"__meta_berth_service": "berth", "__meta_berth_host": "node-a"}}]
//
// Each service gets one group per host and per distinct tags and meta, so
// that every label of a group is true of all its targets; only passing
// endpoints are listed (an endpoint without checks passes). Tags are joined
// as Consul SD joins them (",a,b,", so `,a,` matches with a regex), and
// each meta key becomes __meta_berth_meta_<key> with characters outside
// [a-zA-Z0-9_] replaced by '_'. Every Up controller is one more group, of
// the reserved service name "berth", whose target is its --listen address
// (the node's address when --listen is a wildcard): relabel on
// __meta_berth_service to give controllers and services different jobs.
//
// ?service=NAME keeps the groups of that service ("berth": the
// controllers); ?tag=TAG keeps the endpoints that carry that tag
// (controllers carry none). Both may be repeated: a group is kept when it
// matches any service given and carries every tag given.
package promsd
