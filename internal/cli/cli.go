package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"berth.dev/berth/internal/store"
)

// Streams are the standard streams of a command.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes of applyctl.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// DefaultEndpoint is the etcd applyctl talks to without --etcd-endpoints or
// BERTH_ETCD_ENDPOINTS: the controller's embedded etcd on loopback.
const DefaultEndpoint = "http://127.0.0.1:2379"

// app holds one invocation's streams, environment and global flags.
type app struct {
	in       io.Reader
	out, err io.Writer
	getenv   func(string) string
	now      func() time.Time

	endpoints          string
	caCert, cert, key  string
	username, password string
	requestTimeout     time.Duration

	// The controllers' HTTP API (logs, status).
	apiTokenFile, apiCACert string
}

// Main runs applyctl with args (without the program name) and returns its
// exit code. getenv supplies the environment (os.Getenv in the binary).
// Main returns when the command is done or, for get -w, when ctx ends.
func Main(ctx context.Context, args []string, streams Streams, getenv func(string) string) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if streams.In == nil {
		streams.In = strings.NewReader("")
	}
	a := &app{in: streams.In, out: streams.Out, err: streams.Err, getenv: getenv, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	cmd, err := root.ExecuteContextC(ctx)
	return a.report(cmd, err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "applyctl",
		Short: "applyctl controls berth: apply, get, describe, diff, delete and wait for Units, Jobs and Services; start, stop, restart, status and logs of Units; Helios' deploy, undeploy, jobs, status and history of Jobs",
		Long: `applyctl controls berth: it stores Units, Jobs and Services in etcd, where
berth's controllers pick them up, and shows what the controllers report.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	env := func(name, def string) string {
		if v := a.getenv(name); v != "" {
			return v
		}
		return def
	}
	f := root.PersistentFlags()
	f.StringVar(&a.endpoints, "etcd-endpoints", env("BERTH_ETCD_ENDPOINTS", DefaultEndpoint), "comma-separated etcd client URLs ($BERTH_ETCD_ENDPOINTS)")
	f.StringVar(&a.caCert, "etcd-cacert", env("BERTH_ETCD_CACERT", ""), "CA certificate of etcd's TLS ($BERTH_ETCD_CACERT)")
	f.StringVar(&a.cert, "etcd-cert", env("BERTH_ETCD_CERT", ""), "client certificate for etcd ($BERTH_ETCD_CERT)")
	f.StringVar(&a.key, "etcd-key", env("BERTH_ETCD_KEY", ""), "key of the client certificate ($BERTH_ETCD_KEY)")
	f.StringVar(&a.username, "etcd-user", env("BERTH_ETCD_USER", ""), "etcd user name ($BERTH_ETCD_USER)")
	// The password's default is read when connecting, so --help never shows it.
	f.StringVar(&a.password, "etcd-password", "", "etcd password ($BERTH_ETCD_PASSWORD)")
	f.DurationVar(&a.requestTimeout, "request-timeout", 10*time.Second, "how long to wait for etcd, connection included")
	f.StringVar(&a.apiTokenFile, "api-token-file", env("BERTH_API_TOKEN_FILE", ""), "file holding the token of the controllers' HTTP API, for logs and status ($BERTH_API_TOKEN_FILE)")
	f.StringVar(&a.apiCACert, "api-cacert", env("BERTH_API_CACERT", ""), "CA certificate (PEM) of controllers that serve their HTTP API over TLS (default: the system's) ($BERTH_API_CACERT)")

	root.AddCommand(
		a.applyCommand(),
		a.getCommand(),
		a.describeCommand(),
		a.deleteCommand(),
		a.diffCommand(),
		a.planCommand(),
		a.waitCommand(),
		a.versionCommand(),
		a.convertCommand(),
		a.createCommand(),
		a.statusCommand(),
		a.logsCommand(),
		a.deployCommand(),
		a.undeployCommand(),
		a.removeCommand(),
		a.jobsCommand(),
		a.historyCommand(),
		a.hostsCommand(),
		a.rolloutCommand(),
		a.syncCommand(),
		a.runCommand(),
	)
	root.AddCommand(a.goalCommands()...)
	return root
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError ends a command with code; err, when set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

// problemsError is a list of problems printed one per line, then a summary.
type problemsError struct {
	lines   []string
	summary string
}

func (e *problemsError) Error() string { return e.summary }

// usageArgs wraps a cobra argument check so its errors are usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// report prints err and returns the exit code it means.
func (a *app) report(cmd *cobra.Command, err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var ue usageError
	var ee *exitError
	var pe *problemsError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
		err = ee.err
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		code = ExitUsage
	}
	if errors.As(err, &pe) {
		for _, l := range pe.lines {
			fmt.Fprintln(a.err, l)
		}
	}
	fmt.Fprintf(a.err, "Error: %s\n", err)
	if code == ExitUsage && cmd != nil {
		fmt.Fprintf(a.err, "See '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// connect opens the store; it fails within --request-timeout with a
// message naming the endpoints when etcd cannot be reached.
func (a *app) connect(ctx context.Context) (*store.Store, error) {
	var eps []string
	for _, e := range strings.Split(a.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, usagef("--etcd-endpoints is empty")
	}
	if a.password == "" {
		a.password = a.getenv("BERTH_ETCD_PASSWORD")
	}
	s, err := store.New(ctx, store.Config{
		Endpoints: eps,
		CACert:    a.caCert, Cert: a.cert, Key: a.key,
		Username: a.username, Password: a.password,
		DialTimeout: a.requestTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot reach etcd: %s", strings.TrimPrefix(err.Error(), "store: "))
	}
	return s, nil
}

// withTimeout bounds one request to etcd by --request-timeout.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.requestTimeout)
}

// storeErr turns store errors into what a user reads.
func storeErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("etcd unavailable: %s", strings.TrimPrefix(err.Error(), "store: "))
	}
	if errors.Is(err, store.ErrPermissionDenied) {
		return fmt.Errorf("etcd refused: the roles of this etcd user do not allow it (%s); see SECURITY.md", strings.ReplaceAll(err.Error(), "store: ", ""))
	}
	return err
}
