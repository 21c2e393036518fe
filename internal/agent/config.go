package agent

import (
	"fmt"
	"net"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
	unitsctl "berth.dev/berth/controllers/units"
	"berth.dev/berth/internal/gitsync"
	"berth.dev/berth/internal/imagegc"
	"berth.dev/berth/internal/registryauth"
	"berth.dev/berth/internal/runtime"
)

// Config is the controller's configuration, one field per flag of the
// Contract.
type Config struct {
	HostName         string
	HostLabels       map[string]string
	DataDir          string
	EtcdEndpoints    []string
	EtcdListenClient string
	EtcdListenPeer   string
	EtcdCACert       string
	EtcdCert         string
	EtcdKey          string
	EtcdUser         string
	EtcdPassword     string
	// The embedded etcd's own TLS (SECURITY.md): EtcdServerCert and
	// EtcdServerKey serve its https:// listen URLs; with EtcdClientCA it
	// asks every client and peer for a certificate signed by that CA.
	// InsecureEtcd allows plain HTTP on a listen address that is not
	// loopback.
	EtcdServerCert   string
	EtcdServerKey    string
	EtcdClientCA     string
	InsecureEtcd     bool
	DockerHost       string
	Listen           string
	DNSListen        string
	DNSDomain        string
	DNSRecursors     []string
	AdvertiseAddress string
	Resync           time.Duration
	HeartbeatTTL     time.Duration
	RescheduleAfter  time.Duration
	HostGCAfter      time.Duration
	// ReservedCPUs and ReservedMemory (--reserved-cpus, --reserved-memory)
	// are kept for the system: the host record reports them, and the
	// scheduler places replicas in what is left of the host's CPUs and
	// memory. As the API writes them: "0.5" or "500m", "512Mi".
	ReservedCPUs   v1.CPUs
	ReservedMemory v1.Quantity
	// GitCredentialsFile holds the GitSource loop's credentials by URL
	// prefix (gitsync.LoadCredentials); "" for none.
	GitCredentialsFile string

	// The HTTP API's protection (SECURITY.md). TLSCert and TLSKey serve it
	// over TLS; InsecureHTTP allows plain HTTP on an address that is not
	// loopback. APITokenFile holds the token that writes and logs need;
	// APIReads is "open" (reads need no token) or "token".
	TLSCert      string
	TLSKey       string
	InsecureHTTP bool
	APITokenFile string
	APIReads     string

	// EnableScriptChecks lets script checks registered through the Consul
	// agent API run, in this host's berth containers only (Consul's
	// enable_script_checks); off, they are refused.
	EnableScriptChecks bool

	// DNSRateLimit is how many queries a second one client address other
	// than loopback may send before its UDP queries are dropped or
	// truncated (0: no limit); DNSRateBurst is how many it may send at
	// once. Loopback clients are not limited.
	DNSRateLimit float64
	DNSRateBurst int

	// ContainerDNS is where DNS and the HTTP API are served for this
	// host's containers, and what they are given as their resolver: an IP
	// address of this host, "" for the gateway of the berth network, or
	// ContainerDNSOff.
	ContainerDNS string

	// Policy is this host's container policy (SECURITY.md): what Units and
	// Jobs may ask for. Everything outside it is refused with a status
	// message.
	Policy unitsctl.Policy

	// DisableMetrics leaves out controller-runtime's, the workqueue's and
	// berth's own metrics (the hidden --metrics=false, for measuring their
	// cost); /metrics then has only the Go, process, heartbeat, build and
	// API refusal ones.
	DisableMetrics bool

	// RegistryConfig is the credentials file pulls look in (Docker's
	// config.json format, --registry-config); "" for docker login's
	// default file of the user the controller runs as, when it exists.
	// RegistryConfigSet: the operator named it, so it must be there.
	RegistryConfig    string
	RegistryConfigSet bool
	// ImagePullTimeout bounds one image pull (--image-pull-timeout).
	ImagePullTimeout time.Duration
	// ImageGCAfter is how long an image berth pulled may be out of use
	// before it is removed (--image-gc-after); 0 never removes one.
	ImageGCAfter time.Duration

	// Runtime, when set, is used instead of the engine at DockerHost.
	Runtime runtime.Runtime
}

// Validate checks the configuration and says what is wrong with which flag.
func (c *Config) Validate() error {
	if msg := v1.ValidNewHostName(c.HostName); msg != "" {
		return fmt.Errorf("--host-name: %s", msg)
	}
	if c.DataDir == "" {
		return fmt.Errorf("--data-dir: is required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: %v", c.Listen, err)
	}
	if c.HeartbeatTTL < 2*time.Second {
		return fmt.Errorf("--heartbeat-ttl %s: must be at least 2s", c.HeartbeatTTL)
	}
	if c.Resync <= 0 {
		return fmt.Errorf("--resync %s: must be longer than 0", c.Resync)
	}
	if c.GitCredentialsFile != "" {
		if _, err := gitsync.LoadCredentials(c.GitCredentialsFile); err != nil {
			return fmt.Errorf("--git-credentials-file: %w", err)
		}
	}
	if c.ImagePullTimeout < 0 {
		return fmt.Errorf("--image-pull-timeout %s: must not be negative", c.ImagePullTimeout)
	}
	if c.ImageGCAfter < 0 {
		return fmt.Errorf("--image-gc-after %s: must not be negative (0: never remove images)", c.ImageGCAfter)
	}
	if c.RegistryConfigSet {
		if _, err := registryauth.Load(c.RegistryConfig, registryauth.FlagSource); err != nil {
			return err
		}
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("--advertise-address %q: not an IP address", c.AdvertiseAddress)
	}
	if _, err := c.ReservedCPUs.Value(); err != nil {
		return fmt.Errorf("--reserved-cpus: %v", err)
	}
	if _, err := c.ReservedMemory.Bytes(); err != nil {
		return fmt.Errorf("--reserved-memory: %v", err)
	}
	if err := validateContainerDNS(c.ContainerDNS); err != nil {
		return err
	}
	if err := c.validateEtcd(); err != nil {
		return err
	}
	return c.validateAPI()
}

// ParseLabels parses "k=v,k=v" as --host-labels takes it.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// Defaults of the Contract's durations.
const (
	DefaultResync       = 30 * time.Second
	DefaultHeartbeatTTL = 10 * time.Second
	// DefaultRescheduleAfter is how long a host may be Down before its
	// Units move to other hosts.
	DefaultRescheduleAfter = time.Minute
	// DefaultHostGCAfter is how long a Down host is kept and shown DOWN.
	DefaultHostGCAfter = 24 * time.Hour
	// DefaultImagePullTimeout bounds one image pull.
	DefaultImagePullTimeout = unitsctl.DefaultPullTimeout
	// DefaultImageGCAfter is how long an image berth pulled may be out of
	// use before it is removed.
	DefaultImageGCAfter = imagegc.DefaultAfter
)
