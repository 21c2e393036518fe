// Command controller is berth's per-host controller. See
// berth.dev/berth/internal/agent.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"berth.dev/berth/internal/agent"
	"berth.dev/berth/internal/store/embedded"
	"berth.dev/berth/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var (
		cfg                     agent.Config
		labels, endpoints       string
		recursors               string
		capabilities, hostPaths string
		logFormat, logLevelFlag string
		metricsOn               bool
		volumes, networks       string
	)
	hostname, _ := os.Hostname()
	dockerHost := os.Getenv("DOCKER_HOST")
	if dockerHost == "" {
		dockerHost = "unix:///var/run/docker.sock"
	}
	cmd := &cobra.Command{
		Use:           "controller",
		Short:         "berth's per-host controller",
		Long:          "controller runs on every host: it keeps the host's record alive in etcd and reconciles what berth is told against the host's Docker engine.\nEvery flag may also be set as BERTH_<FLAG> in the environment (BERTH_HOST_NAME for --host-name).",
		Version:       version.Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := cmd.Flags()
	f.StringVar(&cfg.HostName, "host-name", strings.ToLower(hostname), "this host's name in berth")
	f.StringVar(&labels, "host-labels", "", "host labels as k=v,k=v, matched by placement.hostSelector")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/berth", "embedded etcd data and local state (created, mode 0700, when missing)")
	f.StringVar(&endpoints, "etcd-endpoints", "", "comma-separated client URLs of an etcd cluster (none: start the embedded etcd)")
	f.StringVar(&cfg.EtcdListenClient, "etcd-listen-client", embedded.DefaultListenClient, "where the embedded etcd serves clients; off loopback, https:// with --etcd-server-cert, --etcd-server-key and --etcd-client-ca, or --insecure-etcd")
	f.StringVar(&cfg.EtcdListenPeer, "etcd-listen-peer", embedded.DefaultListenPeer, "where the embedded etcd serves peers; off loopback, as --etcd-listen-client")
	f.StringVar(&cfg.EtcdServerCert, "etcd-server-cert", "", "certificate (PEM) the embedded etcd serves its https:// listen URLs with (etcd's --cert-file and --peer-cert-file; hack/certs.sh etcd NAME ADDRS)")
	f.StringVar(&cfg.EtcdServerKey, "etcd-server-key", "", "key (PEM) of --etcd-server-cert")
	f.StringVar(&cfg.EtcdClientCA, "etcd-client-ca", "", "CA (PEM) whose certificates the embedded etcd asks every client and peer for (etcd's --trusted-ca-file with --client-cert-auth)")
	f.BoolVar(&cfg.InsecureEtcd, "insecure-etcd", false, "serve the embedded etcd over plain HTTP, or TLS without client certificates, even on an address that is not loopback")
	f.StringVar(&cfg.EtcdCACert, "etcd-cacert", "", "CA certificate of etcd's TLS")
	f.StringVar(&cfg.EtcdCert, "etcd-cert", "", "client certificate for etcd")
	f.StringVar(&cfg.EtcdKey, "etcd-key", "", "client key for etcd")
	f.StringVar(&cfg.EtcdUser, "etcd-user", "", "etcd user name")
	f.StringVar(&cfg.EtcdPassword, "etcd-password", "", "etcd password")
	f.StringVar(&cfg.DockerHost, "docker-host", dockerHost, "the Docker engine")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8500", "HTTP: metrics, health, Consul-compatible API, logs")
	f.StringVar(&cfg.DNSListen, "dns-listen", "127.0.0.1:8600", "DNS, UDP and TCP")
	f.StringVar(&cfg.DNSDomain, "dns-domain", "berth.", "DNS domain")
	f.StringVar(&recursors, "dns-recursor", "", "comma-separated DNS servers (host:port) that names outside --dns-domain are forwarded to: on --container-dns (none: the host's resolvers from /etc/resolv.conf, those not on loopback first) and on --dns-listen (none: such names are refused there)")
	f.StringVar(&cfg.ContainerDNS, "container-dns", "", "address of this host where DNS (port 53) and the HTTP API (plain HTTP, on --listen's port) are served for containers, and which the containers berth creates resolve through (default: the gateway of the berth Docker network; off: none)")
	f.StringVar(&cfg.GitCredentialsFile, "git-credentials-file", "", "file of GitSource credentials, one per line: <url-prefix> <username> <password-or-token> (https) or <url-prefix> ssh-key <key-path>")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address registered for this host's endpoints (default: first non-loopback IPv4, else 127.0.0.1)")
	f.DurationVar(&cfg.Resync, "resync", agent.DefaultResync, "full reconcile period")
	f.DurationVar(&cfg.HeartbeatTTL, "heartbeat-ttl", agent.DefaultHeartbeatTTL, "lease TTL of the host record")
	f.DurationVar(&cfg.RescheduleAfter, "reschedule-after", agent.DefaultRescheduleAfter, "how long a host may be Down before its Units are moved to other hosts (0: never); Jobs stay where they are deployed")
	f.DurationVar(&cfg.HostGCAfter, "host-gc-after", agent.DefaultHostGCAfter, "how long a Down host is kept, shown DOWN, before it and its statuses are removed (0: never)")
	f.StringVar((*string)(&cfg.ReservedCPUs), "reserved-cpus", "", "CPUs kept for the system, such as 0.5 or 500m: the scheduler places replicas in the host's CPUs less these")
	f.StringVar((*string)(&cfg.ReservedMemory), "reserved-memory", "", "memory kept for the system, such as 512Mi or 1Gi: the scheduler places replicas in the host's memory less this")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "certificate (PEM) the HTTP API is served with over TLS")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "key (PEM) of --tls-cert")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP even when --listen is not a loopback address")
	f.StringVar(&cfg.APITokenFile, "api-token-file", "", "file holding the token (X-Consul-Token or Authorization: Bearer) that API writes and logs require")
	f.StringVar(&cfg.APIReads, "api-reads", "open", "API reads: open (no token needed) or token (the --api-token-file token is needed)")
	f.BoolVar(&cfg.EnableScriptChecks, "enable-script-checks", false, "let script checks registered through the Consul agent API run, in this host's berth containers only (Consul's enable_script_checks); checks Units, Services and containers declare run either way")
	f.Float64Var(&cfg.DNSRateLimit, "dns-rate-limit", 100, "DNS queries a second one client address other than loopback may send before its UDP queries are dropped or truncated (0: no limit; loopback clients, 127.0.0.0/8 and ::1, are never limited)")
	f.IntVar(&cfg.DNSRateBurst, "dns-rate-burst", 1000, "DNS queries one client address other than loopback may send at once")
	f.BoolVar(&cfg.Policy.AllowPrivileged, "allow-privileged", false, "allow Units and Jobs to run privileged containers")
	f.StringVar(&capabilities, "allowed-capabilities", "", "comma-separated Linux capabilities Units and Jobs may add (ALL for any)")
	f.BoolVar(&cfg.Policy.AllowHostNetwork, "allow-host-network", false, "allow Units and Jobs to use the host's network (networkMode: host)")
	f.StringVar(&hostPaths, "allowed-host-paths", "/var/lib/berth-volumes", "comma-separated host directories under which hostPath volumes may be mounted, each created (mode 0755) when missing (\"\": no hostPath volumes)")
	f.BoolVar(&cfg.Policy.AllowPrivilegeEscalation, "allow-privilege-escalation", false, "allow Units and Jobs to turn off no-new-privileges (securityContext.allowPrivilegeEscalation: true)")
	f.StringVar(&volumes, "allowed-volumes", "", "comma-separated Docker volumes that Units and Jobs may mount by name though berth did not create them (* for any)")
	f.StringVar(&networks, "allowed-networks", "", "comma-separated Docker networks that networkMode may name though berth did not create them (* for any)")
	f.StringVar(&cfg.Policy.SecretsDir, "secrets-dir", "/etc/berth/secrets", "directory env valueFrom.file and imagePullSecret.file names are read from on this host")
	f.StringVar(&cfg.RegistryConfig, "registry-config", "", "registry credentials in Docker's config.json format (auths), read at every pull (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json, when it exists)")
	f.DurationVar(&cfg.ImagePullTimeout, "image-pull-timeout", agent.DefaultImagePullTimeout, "how long one image pull may take")
	f.DurationVar(&cfg.ImageGCAfter, "image-gc-after", agent.DefaultImageGCAfter, "how long an image berth pulled may be out of use (no container, no Unit or Job of this host) before it is removed (0: never)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevelFlag, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&metricsOn, "metrics", true, "collect the reconcile, workqueue and berth_* metrics (false: only to measure their cost)")
	_ = f.MarkHidden("metrics")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := fromEnv(f); err != nil {
			return err
		}
		var err error
		if cfg.HostLabels, err = agent.ParseLabels(labels); err != nil {
			return fmt.Errorf("--host-labels: %w", err)
		}
		for _, r := range strings.Split(recursors, ",") {
			if r = strings.TrimSpace(r); r != "" {
				cfg.DNSRecursors = append(cfg.DNSRecursors, r)
			}
		}
		cfg.Policy.AllowedCapabilities = splitList(capabilities)
		cfg.Policy.AllowedHostPaths = splitList(hostPaths)
		for _, e := range strings.Split(endpoints, ",") {
			if e = strings.TrimSpace(e); e != "" {
				cfg.EtcdEndpoints = append(cfg.EtcdEndpoints, e)
			}
		}
		cfg.Policy.AllowedVolumes = splitList(volumes)
		cfg.Policy.AllowedNetworks = splitList(networks)
		cfg.DisableMetrics = !metricsOn
		cfg.RegistryConfigSet = f.Changed("registry-config")
		log, err := newLogger(logFormat, logLevelFlag)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		log.Info("starting controller", "version", version.Version, "host", cfg.HostName)
		return agent.Run(ctx, cfg, log)
	}
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		if strings.Contains(err.Error(), "flag") || strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts") {
			return 2
		}
		return 1
	}
	return 0
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// fromEnv sets every flag not given on the command line from
// BERTH_<FLAG_NAME> when that is set.
func fromEnv(f *pflag.FlagSet) error {
	var err error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || err != nil {
			return
		}
		name := "BERTH_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Set(fl.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
