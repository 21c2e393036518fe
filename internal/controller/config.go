package controller

import (
	"fmt"
	"net"
	"strings"
	"time"

	v1 "berth.dev/berth/api/v1"
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
	DockerHost       string
	Listen           string
	DNSListen        string
	DNSDomain        string
	DNSRecursors     []string
	AdvertiseAddress string
	Resync           time.Duration
	HeartbeatTTL     time.Duration

	// Runtime, when set, is used instead of the engine at DockerHost.
	Runtime runtime.Runtime
}

// Validate checks the configuration and says what is wrong with which flag.
func (c *Config) Validate() error {
	if msg := v1.ValidHostName(c.HostName); msg != "" {
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
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("--advertise-address %q: not an IP address", c.AdvertiseAddress)
	}
	return nil
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
)
