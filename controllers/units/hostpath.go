package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// hostProblem is a container this host cannot create now for a cause on
// the host that an operator must remove (a hostPath whose allowed
// directory cannot be created, a file where a directory should be): a
// condition reason (v1.ReasonHostPathUnavailable) and a message naming
// the object and what to do. The instance stays in the state it is stuck
// in with the message, its Progressing condition False, and is tried
// again with backoff, so that it starts once the host is fixed.
type hostProblem struct {
	reason string
	msg    string
}

func (p *hostProblem) Error() string { return p.msg }

// allowedDirMode is the mode of the allowed host paths, and of their
// parents, that the controller creates: root's (the controller's user's)
// and readable by all, as kubelet makes a DirectoryOrCreate.
const allowedDirMode = 0o755

// makeAllowedDirs creates the allowed host paths that do not exist yet,
// so that hostPath volumes under them can be made on a host that never
// had them. One that cannot be created is logged once here, and reported
// in the status of every instance that needs it.
func (c *Controller) makeAllowedDirs() {
	for _, d := range c.o.Policy.AllowedHostPaths {
		if !filepath.IsAbs(d) {
			continue // checkPolicyFlags says so
		}
		d = filepath.Clean(d)
		made, err := makeDir(d)
		switch {
		case err != nil:
			c.o.Log.Error("an allowed host path cannot be created: hostPath volumes under it fail until it exists",
				"dir", d, "err", describeDirError(d, err), "fix", allowedDirRemedy(d, err))
		case made:
			c.o.Log.Info("created an allowed host path", "dir", d, "mode", fmt.Sprintf("%#o", allowedDirMode))
		}
	}
}

// makeDir creates dir and its missing parents with allowedDirMode,
// whatever the umask, and reports whether it created dir. A dir that is
// there already is left as it is.
func makeDir(dir string) (bool, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Lstat(d)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, allowedDirMode); err != nil {
		return false, err
	}
	for _, d := range missing {
		if err := os.Chmod(d, allowedDirMode); err != nil {
			return true, err
		}
	}
	return len(missing) > 0, nil
}

// fileInTheWay returns the first of path's parents, from the top, that
// exists and is not a directory (symbolic links followed), or "" when
// none is: what stops path from being made.
func fileInTheWay(path string) string {
	var parents []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		parents = append(parents, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		fi, err := os.Stat(parents[i])
		switch {
		case err != nil:
			return ""
		case !fi.IsDir():
			return parents[i]
		}
	}
	return ""
}

// describeDirError says why dir cannot be made, naming the file in the
// way rather than echoing "not a directory" about dir.
func describeDirError(dir string, err error) string {
	if file := fileInTheWay(filepath.Join(dir, "x")); file != "" {
		return file + " is a file, not a directory"
	}
	return unwrapPath(err).Error()
}

// allowedDirRemedy says what an operator does about an allowed host path
// that cannot be created.
func allowedDirRemedy(dir string, err error) string {
	if file := fileInTheWay(filepath.Join(dir, "x")); file != "" {
		return fmt.Sprintf("move %s away, or set controller --allowed-host-paths to another directory", file)
	}
	return fmt.Sprintf("create it (mkdir -p -m 0755 %s), or set controller --allowed-host-paths to a directory the controller can create", dir)
}

// readOnly reports whether err says the file system is read-only.
func readOnly(err error) bool { return errors.Is(err, syscall.EROFS) }

// hostPathProblem is the hostProblem of the hostPath volume v (field
// names it, volumes[i].hostPath) whose allowed directory is dir: err is
// what making or checking it returned. The message names the path, the
// host, what is in the way and what to do about it.
func (c *Controller) hostPathProblem(field string, v v1.Volume, dir string, err error) *hostProblem {
	p := func(format string, args ...any) *hostProblem {
		return &hostProblem{reason: v1.ReasonHostPathUnavailable, msg: fmt.Sprintf("%s %s", field, v.HostPath) + fmt.Sprintf(format, args...)}
	}
	path := filepath.Clean(v.HostPath)
	typ := v.Type
	switch file := fileInTheWay(path); {
	case file != "" && dir != "" && under(dir, file):
		return c.allowedDirProblem(field, v, dir, err)
	case file != "":
		return p(": %s is a file, not a directory, on host %s: move it away, or choose another hostPath", file, c.o.Host)
	}
	switch {
	case errors.Is(err, errNotADirectory):
		return p(" (type %s) is not a directory on host %s: move what is there away, or use type File or FileOrCreate", typ, c.o.Host)
	case errors.Is(err, errNotAFile):
		return p(" (type %s) is a directory, not a file, on host %s: move it away, or use type Directory or DirectoryOrCreate", typ, c.o.Host)
	case errors.Is(err, fs.ErrNotExist) && typ == v1.HostPathDirectory:
		return p(" (type Directory) does not exist on host %s: create it (mkdir -p %s), or use type DirectoryOrCreate", c.o.Host, path)
	case errors.Is(err, fs.ErrNotExist) && typ == v1.HostPathFile:
		return p(" (type File) does not exist on host %s: create it, or use type FileOrCreate", c.o.Host)
	case errors.Is(err, fs.ErrNotExist):
		return p(" does not exist on host %s: create it, or use type DirectoryOrCreate or FileOrCreate", c.o.Host)
	case errors.Is(err, fs.ErrPermission) || readOnly(err):
		return p(": host %s cannot make or read it: %v; create it there yourself, or set controller --allowed-host-paths to a directory the controller can write to",
			c.o.Host, unwrapPath(err))
	}
	return p(" (type %s): host %s cannot make or use it: %v; fix it on the host, or choose another hostPath", typ, c.o.Host, unwrapPath(err))
}

// allowedDirProblem is the hostProblem of the hostPath volume v (field
// names it) whose allowed directory dir cannot be created.
func (c *Controller) allowedDirProblem(field string, v v1.Volume, dir string, err error) *hostProblem {
	return &hostProblem{reason: v1.ReasonHostPathUnavailable,
		msg: fmt.Sprintf("%s %s: host %s cannot create the allowed host path %s: %s; %s",
			field, v.HostPath, c.o.Host, dir, describeDirError(dir, err), allowedDirRemedy(dir, err))}
}

// Errors of prepareHostPath about what it found at the path.
var (
	errNotADirectory = errors.New("is not a directory")
	errNotAFile      = errors.New("is a directory, not a file")
)

// volumeMounts returns the mounts of the volumes, checking or creating
// each hostPath as its type asks. A hostPath is resolved and checked
// against the policy, its allowed directory created when missing, the
// path made inside that directory without ever leaving it (a link swapped
// in since cannot make it create anything elsewhere), checked again, and
// mounted where it leads then. A path the policy does not allow is a
// *refusal; one this host cannot make or use (its allowed directory cannot
// be created, a file is in the way) is a *hostProblem saying what to do.
//
// The engine follows the path again when it mounts it: a link swapped in
// between the last check and the mount, by a container that has a
// directory above the path mounted read-write, is still followed. That
// window is small; closing it would need the engine to mount an open
// directory rather than a path.
func (c *Controller) volumeMounts(vols []v1.Volume) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, v := range vols {
		if v.Name != "" {
			out = append(out, runtime.Mount{Type: runtime.MountVolume, Source: v.Name, Target: v.ContainerPath, ReadOnly: v.ReadOnly})
			continue
		}
		field := fmt.Sprintf("volumes[%d].hostPath", i)
		chk := c.o.Policy.checkHostPath(v.HostPath)
		if err := c.checked(field, v, chk, nil); err != nil {
			return nil, err
		}
		if _, err := makeDir(chk.dir); err != nil {
			return nil, c.allowedDirProblem(field, v, chk.dir, err)
		}
		err := prepareHostPath(chk.dir, chk.resolved, v.Type)
		// Checked again, whether or not that worked: a link swapped in
		// that leads out is what to report, rather than the error it
		// caused.
		again := c.o.Policy.checkHostPath(v.HostPath)
		if err := c.checked(field, v, again, err); err != nil {
			return nil, err
		}
		out = append(out, runtime.Mount{Type: runtime.MountBind, Source: again.resolved, Target: v.ContainerPath, ReadOnly: v.ReadOnly})
	}
	return out, nil
}

// checked returns the error of a hostPath volume (field names it) that chk
// found refused (a *refusal) or out of reach, or that preparing it failed
// with (prepared, a *hostProblem); nil when it may be mounted.
func (c *Controller) checked(field string, v v1.Volume, chk hostPathCheck, prepared error) error {
	switch {
	case chk.denied != "":
		return c.denied("%s %s", field, chk.denied)
	case chk.unreachable != nil:
		return c.hostPathProblem(field, v, chk.dir, chk.unreachable)
	case prepared != nil:
		return c.hostPathProblem(field, v, chk.dir, prepared)
	}
	return nil
}

// prepareHostPath creates path as typ asks, then checks it is what typ
// asks, through dir opened as an os.Root: path is inside dir, and what is
// made or looked at stays inside dir even when a symbolic link that leads
// out is swapped into path meanwhile.
func prepareHostPath(dir, path string, typ v1.HostPathType) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return unwrapPath(err)
	}
	defer root.Close()
	switch typ {
	case v1.HostPathDirectoryOrCreate:
		if err = root.MkdirAll(rel, 0o755); errors.Is(err, fs.ErrExist) {
			err = nil // something else is there: looked at below
		}
	case v1.HostPathFileOrCreate:
		if err = root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			break
		}
		// O_EXCL: a file there already is not opened (it may be a pipe
		// that would block), only looked at below.
		var f *os.File
		if f, err = root.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		} else if errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return unwrapPath(err)
	}
	fi, err := root.Stat(rel)
	switch {
	case err != nil:
	case (typ == v1.HostPathDirectoryOrCreate || typ == v1.HostPathDirectory) && !fi.IsDir():
		err = errNotADirectory
	case (typ == v1.HostPathFileOrCreate || typ == v1.HostPathFile) && fi.IsDir():
		err = errNotAFile
	}
	return unwrapPath(err)
}
