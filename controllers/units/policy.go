package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// Policy is a host's container policy, set by the controller's flags: what
// a Unit's or Job's container may ask for on this host. The zero Policy
// allows nothing beyond an unprivileged container without hostPath
// volumes.
//
// A template that asks for more is refused before anything is created:
// the instance is FAILED with reason PolicyDenied and a message naming the
// field and the flag that would allow it, and a container of it that runs
// already (made before the flags changed) is removed. It is checked again
// when the object changes, at every resync, and when the controller starts
// again with other flags.
type Policy struct {
	AllowPrivileged bool
	// AllowedCapabilities may be added (cap_add); "ALL" allows any.
	AllowedCapabilities []string
	// AllowHostNetwork allows networkMode host, and networkMode
	// container:<x> joining any container; without it x must be a
	// container this controller made, not on the host's network.
	AllowHostNetwork bool
	// AllowedHostPaths are the directories under which hostPath volumes
	// may be mounted.
	AllowedHostPaths []string
	// AllowPrivilegeEscalation lets a container turn no-new-privileges off.
	AllowPrivilegeEscalation bool
	// AllowedVolumes are the named volumes a container may mount though
	// berth did not create them ("*": any). Those berth created, and those
	// that do not exist yet (berth creates them), need no listing.
	AllowedVolumes []string
	// AllowedNetworks are the Docker networks networkMode may name though
	// berth did not create them ("*": any).
	AllowedNetworks []string
	// SecretsDir is where env valueFrom.file names are read from.
	SecretsDir string
}

// refusal is a container this host will not create: a condition reason
// (v1.ReasonPolicyDenied, v1.ReasonEnvFileUnavailable) and a message for
// the status. It never holds the content of a file.
type refusal struct {
	reason string
	msg    string
}

func (r *refusal) Error() string { return r.msg }

// message is the refusal's message, "" for none.
func (r *refusal) message() string {
	if r == nil {
		return ""
	}
	return r.msg
}

func (c *Controller) denied(format string, args ...any) *refusal {
	return &refusal{reason: v1.ReasonPolicyDenied,
		msg: fmt.Sprintf("refused by host %s's policy: ", c.o.Host) + fmt.Sprintf(format, args...)}
}

// refuse checks a template against the policy and returns why this host
// refuses it, or nil. It reads the file system only to resolve symbolic
// links of hostPath volumes and env files.
func (c *Controller) refuse(t *v1.ContainerTemplate) *refusal {
	if problems := c.o.Policy.problems(t); len(problems) > 0 {
		return c.denied("%s", strings.Join(problems, "; "))
	}
	return nil
}

// problems lists what t asks for that p does not allow, each naming the
// field of the template and the flag that would allow it.
func (p Policy) problems(t *v1.ContainerTemplate) []string {
	var out []string
	if sc := t.SecurityContext; sc != nil {
		if sc.Privileged && !p.AllowPrivileged {
			out = append(out, "securityContext.privileged is not allowed (controller --allow-privileged)")
		}
		if sc.Capabilities != nil {
			for i, cp := range sc.Capabilities.Add {
				if !p.capabilityAllowed(cp) {
					out = append(out, fmt.Sprintf("securityContext.capabilities.add[%d] %s is not allowed (controller --allowed-capabilities: %s)",
						i, v1.NormalizeCapability(cp), listOrNone(p.AllowedCapabilities)))
				}
			}
		}
		if t.PrivilegeEscalation() && !p.AllowPrivilegeEscalation {
			out = append(out, "securityContext.allowPrivilegeEscalation true is not allowed (controller --allow-privilege-escalation)")
		}
	}
	if t.NetworkMode == "host" && !p.AllowHostNetwork {
		out = append(out, "networkMode host is not allowed (controller --allow-host-network)")
	}
	for i, v := range t.Volumes {
		if v.HostPath == "" {
			continue
		}
		if _, _, msg := p.hostPath(v.HostPath); msg != "" {
			out = append(out, fmt.Sprintf("volumes[%d].hostPath %s", i, msg))
		}
	}
	for i, e := range t.Env {
		if e.ValueFrom == nil {
			continue
		}
		if _, msg := p.envFilePath(e.ValueFrom.File); msg != "" {
			out = append(out, fmt.Sprintf("env[%d].valueFrom.file %s", i, msg))
		}
	}
	return out
}

func (p Policy) capabilityAllowed(name string) bool {
	name = v1.NormalizeCapability(name)
	for _, a := range p.AllowedCapabilities {
		if a = v1.NormalizeCapability(a); a == v1.CapabilityAll || a == name {
			return true
		}
	}
	return false
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

// hostPath resolves a hostPath volume's path: cleaned, with the symbolic
// links of its existing part followed. It returns the resolved path and
// the allowed directory it is in (resolved too), or why the path is not
// allowed ("" when it is). A path that cannot be reached on this host
// (hostPathCheck.unreachable) is not refused: it is "", "", "".
func (p Policy) hostPath(path string) (resolved, dir, msg string) {
	c := p.checkHostPath(path)
	return c.resolved, c.dir, c.denied
}

// hostPathCheck is what checkHostPath found of a hostPath volume's path.
type hostPathCheck struct {
	// resolved is the path with its symbolic links followed; dir the
	// allowed directory it is in, resolved too.
	resolved, dir string
	// denied says why the policy refuses the path ("" when it does not).
	denied string
	// unreachable is why a path under an allowed directory (dir, as
	// written) cannot be resolved on this host: a part of it that is not
	// a directory, or that the controller may not read. Nothing can be
	// made there until the host is fixed.
	unreachable error
}

// checkHostPath is hostPath, telling a path this host cannot reach now
// from one the policy refuses.
func (p Policy) checkHostPath(path string) hostPathCheck {
	clean := filepath.Clean(path)
	resolved, err := resolveExisting(clean)
	if err != nil {
		if root := p.writtenUnder(clean); root != "" && !errors.Is(err, fs.ErrNotExist) {
			return hostPathCheck{dir: root, unreachable: err}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return hostPathCheck{denied: fmt.Sprintf("%s cannot be resolved on this host: a symbolic link on it leads nowhere (%v): fix or remove the link", path, unwrapPath(err))}
		}
		return hostPathCheck{denied: fmt.Sprintf("%s cannot be resolved on this host (%v) and is outside the allowed host paths as written (controller --allowed-host-paths: %s)",
			path, unwrapPath(err), listOrNone(p.AllowedHostPaths))}
	}
	for _, allowed := range p.AllowedHostPaths {
		if !filepath.IsAbs(allowed) {
			continue
		}
		d, err := resolveExisting(filepath.Clean(allowed))
		if err != nil {
			continue
		}
		if under(resolved, d) {
			return hostPathCheck{resolved: resolved, dir: d}
		}
	}
	what := path
	if resolved != path {
		what = fmt.Sprintf("%s (%s)", path, resolved)
	}
	return hostPathCheck{denied: fmt.Sprintf("%s is outside the allowed host paths (controller --allowed-host-paths: %s)", what, listOrNone(p.AllowedHostPaths))}
}

// writtenUnder returns the allowed directory, cleaned, that the clean
// path is in as written (no link followed), or "".
func (p Policy) writtenUnder(clean string) string {
	for _, allowed := range p.AllowedHostPaths {
		if d := filepath.Clean(allowed); filepath.IsAbs(d) && under(clean, d) {
			return d
		}
	}
	return ""
}

// resolveExisting follows the symbolic links of the longest part of an
// absolute, clean path that exists, and appends the rest: where a mount of
// path, or a directory made there, would land. A link that points nowhere
// is an error, as it may point anywhere later.
func resolveExisting(path string) (string, error) {
	rest := ""
	for dir := path; ; dir = filepath.Dir(dir) {
		_, err := os.Lstat(dir)
		if err == nil {
			r, err := filepath.EvalSymlinks(dir)
			if err != nil {
				return "", err
			}
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			return "", err
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// unwrapPath drops the path of an *fs.PathError, which the message names
// already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// maxJoinHops bounds how many containers joining each other's network
// are followed from a networkMode container:<x>.
const maxJoinHops = 8

// joinNetwork checks the template's network mode against the policy and
// returns the one to create the container with. Unless the host allows
// its network (--allow-host-network), networkMode container:<x> may only
// join a container this controller made for one of its instances (made:
// not its labels, which anyone who creates a container can set, but its ID
// as this controller created or reported it) that does not use the host's
// network, and that joins such a container in turn when it joins one. Another container's network
// would let the container watch that container's traffic, and any
// container but berth's may be on the host's network. The mode returned
// names the container checked by its ID, so that a container given x's
// name afterwards is not the one joined. A missing container is refused
// like a foreign one (a Unit may wait for its own with dependencies); an
// engine that cannot be asked is an error, retried.
func (c *Controller) joinNetwork(ctx context.Context, mode string) (string, error) {
	target, ok := strings.CutPrefix(mode, "container:")
	if !ok || c.o.Policy.AllowHostNetwork {
		return mode, nil
	}
	joined, next := "", target
	for range maxJoinHops {
		ctr, err := c.o.Runtime.Inspect(ctx, next)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			return "", c.denied("networkMode %s joins a container that berth does not run on this host (controller --allow-host-network)", mode)
		case err != nil:
			return "", fmt.Errorf("networkMode %s: %w", mode, err)
		case !c.made(ctr):
			return "", c.denied("networkMode %s joins a container that berth does not run on this host (controller --allow-host-network)", mode)
		case ctr.NetworkMode == "host":
			return "", c.denied("networkMode %s joins a container that uses the host's network (controller --allow-host-network)", mode)
		}
		if joined == "" {
			joined = "container:" + ctr.ID
		}
		if next, ok = strings.CutPrefix(ctr.NetworkMode, "container:"); !ok {
			return joined, nil
		}
	}
	return "", c.denied("networkMode %s joins containers that join others more than %d deep (controller --allow-host-network)", mode, maxJoinHops)
}

// envFilePath returns where the file of an env valueFrom is on this host,
// or why it may not be read ("" when it may): a relative name is taken
// inside the secrets directory, an absolute path must be inside it.
func (p Policy) envFilePath(file string) (string, string) {
	if p.SecretsDir == "" || !filepath.IsAbs(p.SecretsDir) {
		return "", fmt.Sprintf("%s cannot be read: this host has no secrets directory (controller --secrets-dir)", file)
	}
	dir := filepath.Clean(p.SecretsDir)
	path := filepath.Join(dir, file)
	if filepath.IsAbs(file) {
		path = filepath.Clean(file)
	}
	if path == dir || !under(path, dir) {
		return "", fmt.Sprintf("%s is outside the secrets directory %s (controller --secrets-dir)", file, dir)
	}
	return path, ""
}

// readEnvFile reads the value of an env valueFrom.file (field names it for
// messages): at most v1.MaxEnvFileBytes, one trailing newline dropped, no
// NUL byte. Errors say which file and why, never what it holds.
func (c *Controller) readEnvFile(field, file string) (string, *refusal) {
	b, ref := c.readSecretFile(field, file, v1.MaxEnvFileBytes, v1.ReasonEnvFileUnavailable)
	if ref != nil {
		return "", ref
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", c.secretUnavailable(v1.ReasonEnvFileUnavailable, field, file,
			"it holds a NUL byte, which an environment variable cannot: remove it from %s", c.secretPath(file))
	}
	return string(b), nil
}

// secretUnavailable is a refusal, with reason, to use a file of the
// secrets directory that field names.
func (c *Controller) secretUnavailable(reason, field, file, format string, args ...any) *refusal {
	return &refusal{reason: reason, msg: fmt.Sprintf("host %s cannot read %s %q: ", c.o.Host, field, file) + fmt.Sprintf(format, args...)}
}

// secretPath is where file is in the secrets directory, for messages.
func (c *Controller) secretPath(file string) string {
	path, _ := c.o.Policy.envFilePath(file)
	return path
}

// readSecretFile reads a file of the secrets directory that field names
// (for messages): at most limit bytes, one trailing newline dropped. The
// file's symbolic links must stay inside the secrets directory. What
// cannot be read is refused with reason; errors say which file and why,
// never what it holds.
func (c *Controller) readSecretFile(field, file string, limit int, reason string) ([]byte, *refusal) {
	p := c.o.Policy
	path, msg := p.envFilePath(file)
	if msg != "" {
		return nil, c.denied("%s %s", field, msg)
	}
	unavailable := func(format string, args ...any) *refusal {
		return c.secretUnavailable(reason, field, file, format, args...)
	}
	dir, err := filepath.EvalSymlinks(filepath.Clean(p.SecretsDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, unavailable("the secrets directory %s does not exist: create it (mkdir -p -m 0700 %s) and write the file in it, or set controller --secrets-dir",
				p.SecretsDir, p.SecretsDir)
		}
		return nil, unavailable("the secrets directory %s cannot be read: %v; let the controller read it, or set controller --secrets-dir", p.SecretsDir, unwrapPath(err))
	}
	resolved, err := filepath.EvalSymlinks(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, unavailable("no such file in %s: write %s there (mode 0600), or set controller --secrets-dir", p.SecretsDir, path)
	case err != nil:
		return nil, unavailable("%v; let the controller read %s", unwrapPath(err), path)
	case !under(resolved, dir) || resolved == dir:
		return nil, c.denied("%s %s leads outside the secrets directory %s (controller --secrets-dir)", field, file, p.SecretsDir)
	}
	f, err := os.Open(resolved)
	if err != nil {
		return nil, unavailable("%v; let the controller read %s", unwrapPath(err), path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unavailable("%v; let the controller read %s", unwrapPath(err), path)
	}
	if !fi.Mode().IsRegular() {
		return nil, unavailable("not a regular file: write the value in a regular file %s", path)
	}
	// Room for a trailing "\r\n", and one byte more to tell a larger file.
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+3))
	if err != nil {
		return nil, unavailable("%v; let the controller read %s", unwrapPath(err), path)
	}
	if len(b) <= limit+2 {
		b = trimNewline(b)
	}
	if len(b) > limit {
		return nil, unavailable("larger than %d KiB: keep a smaller value in %s", limit>>10, path)
	}
	return b, nil
}

// trimNewline drops one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		return bytes.TrimSuffix(b, []byte("\r"))
	}
	return b
}

// containerEnv returns the template's environment with the values of
// valueFrom files read.
func (c *Controller) containerEnv(t *v1.ContainerTemplate) ([]string, *refusal) {
	out := make([]string, 0, len(t.Env))
	for i, e := range t.Env {
		val := e.Value
		if e.ValueFrom != nil {
			var ref *refusal
			if val, ref = c.readEnvFile(fmt.Sprintf("env[%d].valueFrom.file", i), e.ValueFrom.File); ref != nil {
				return nil, ref
			}
		}
		out = append(out, e.Name+"="+val)
	}
	return out, nil
}

// security is what the container is created with: no-new-privileges
// unless the template asks otherwise (which the policy allowed).
func security(t *v1.ContainerTemplate) runtime.Security {
	s := runtime.Security{NoNewPrivileges: !t.PrivilegeEscalation()}
	if sc := t.SecurityContext; sc != nil {
		s.Privileged = sc.Privileged
		s.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem
		if sc.Capabilities != nil {
			for _, cp := range sc.Capabilities.Add {
				s.CapAdd = append(s.CapAdd, v1.NormalizeCapability(cp))
			}
			for _, cp := range sc.Capabilities.Drop {
				s.CapDrop = append(s.CapDrop, v1.NormalizeCapability(cp))
			}
		}
	}
	return s
}

// checkPolicyFlags logs the entries of the policy that can never match.
func (c *Controller) checkPolicyFlags() {
	for _, d := range c.o.Policy.AllowedHostPaths {
		if !filepath.IsAbs(d) {
			c.o.Log.Warn("ignoring --allowed-host-paths entry: not an absolute path", "path", d)
		}
	}
	for _, cp := range c.o.Policy.AllowedCapabilities {
		if !v1.KnownCapability(v1.NormalizeCapability(cp)) {
			c.o.Log.Warn("--allowed-capabilities names an unknown capability", "capability", cp)
		}
	}
	if d := c.o.Policy.SecretsDir; d != "" && !filepath.IsAbs(d) {
		c.o.Log.Warn("--secrets-dir is not an absolute path: env valueFrom.file is refused", "dir", d)
	}
}

// refusedStatus reports whether a status is a refusal, which is decided
// again rather than remembered as a failure.
func refusedStatus(st *v1.InstanceStatus) bool {
	return slices.ContainsFunc(st.Conditions, func(c v1.Condition) bool {
		return c.Type == v1.ConditionReady && (c.Reason == v1.ReasonPolicyDenied || c.Reason == v1.ReasonEnvFileUnavailable ||
			c.Reason == v1.ReasonBindingRefused)
	})
}
