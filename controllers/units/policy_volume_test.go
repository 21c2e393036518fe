package units

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime"
)

// TestVolumeMounts: hostPath volumes are checked or created as their type
// asks, inside the allowed directories only, and mounted at the path they
// lead to; a link that leads out refuses the volume and creates nothing
// outside.
func TestVolumeMounts(t *testing.T) {
	t.Parallel()
	w := newFSWorld(t)
	if err := os.WriteFile(w.p("allowed/data/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("data", w.p("allowed/data-link")); err != nil { // relative, staying inside
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(w.p("allowed/data/pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Controller{o: Options{Host: "h1", Policy: Policy{AllowedHostPaths: []string{w.p("allowed")}}}}
	tests := []struct {
		name    string
		path    string
		typ     v1.HostPathType
		source  string // the mount's source; "" when refused or failed
		created string // made by the call
		reason  string // of the refusal or hostProblem
		err     string // part of the error
	}{
		{name: "directory made", path: w.p("allowed/new/deeper"), typ: v1.HostPathDirectoryOrCreate,
			source: w.p("allowed/new/deeper"), created: w.p("allowed/new/deeper")},
		{name: "file made", path: w.p("allowed/files/app.conf"), typ: v1.HostPathFileOrCreate,
			source: w.p("allowed/files/app.conf"), created: w.p("allowed/files/app.conf")},
		{name: "directory there", path: w.p("allowed/data"), typ: v1.HostPathDirectoryOrCreate, source: w.p("allowed/data")},
		{name: "the allowed directory itself", path: w.p("allowed"), typ: v1.HostPathDirectory, source: w.p("allowed")},
		{name: "file there", path: w.p("allowed/data/file"), typ: v1.HostPathFileOrCreate, source: w.p("allowed/data/file")},
		{name: "a pipe there is not opened", path: w.p("allowed/data/pipe"), typ: v1.HostPathFileOrCreate, source: w.p("allowed/data/pipe")},
		{name: "no type, there", path: w.p("allowed/data"), source: w.p("allowed/data")},
		{name: "made behind a link staying inside, mounted where it leads", path: w.p("allowed/data-link/made"),
			typ: v1.HostPathDirectoryOrCreate, source: w.p("allowed/data/made"), created: w.p("allowed/data/made")},
		{name: "directory missing", path: w.p("allowed/nothing"), typ: v1.HostPathDirectory, reason: v1.ReasonHostPathUnavailable,
			err: "volumes[1].hostPath " + w.p("allowed/nothing") + " (type Directory) does not exist on host h1: create it (mkdir -p " + w.p("allowed/nothing") + "), or use type DirectoryOrCreate"},
		{name: "file missing", path: w.p("allowed/nothing"), typ: v1.HostPathFile, reason: v1.ReasonHostPathUnavailable,
			err: "(type File) does not exist on host h1: create it, or use type FileOrCreate"},
		{name: "no type, missing", path: w.p("allowed/nothing"), reason: v1.ReasonHostPathUnavailable, err: "does not exist on host h1"},
		{name: "a file where a directory is asked", path: w.p("allowed/data/file"), typ: v1.HostPathDirectoryOrCreate, reason: v1.ReasonHostPathUnavailable,
			err: "(type DirectoryOrCreate) is not a directory on host h1: move what is there away, or use type File or FileOrCreate"},
		{name: "a directory where a file is asked", path: w.p("allowed/data"), typ: v1.HostPathFile, reason: v1.ReasonHostPathUnavailable,
			err: "(type File) is a directory, not a file, on host h1: move it away, or use type Directory or DirectoryOrCreate"},
		{name: "directory behind a link out", path: w.p("allowed/out/made"), typ: v1.HostPathDirectoryOrCreate, reason: v1.ReasonPolicyDenied,
			err: "refused by host h1's policy: volumes[1].hostPath " + w.p("allowed/out/made") + " (" + w.p("outside/made") + ") is outside the allowed host paths"},
		{name: "file behind a link out", path: w.p("allowed/out/sub/made"), typ: v1.HostPathFileOrCreate, reason: v1.ReasonPolicyDenied,
			err: "(" + w.p("outside/sub/made") + ") is outside the allowed host paths"},
		{name: "a link pointing nowhere", path: w.p("allowed/dangling"), typ: v1.HostPathFileOrCreate, reason: v1.ReasonPolicyDenied,
			err: "cannot be resolved on this host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mounts, err := c.volumeMounts([]v1.Volume{
				{Name: "cache", ContainerPath: "/cache"},
				{HostPath: tt.path, Type: tt.typ, ContainerPath: "/data", ReadOnly: true},
			})
			reason := ""
			var ref *refusal
			var hp *hostProblem
			switch {
			case errors.As(err, &ref):
				reason = ref.reason
			case errors.As(err, &hp):
				reason = hp.reason
			}
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("volumeMounts: %v", err)
			case tt.err == "":
				want := []runtime.Mount{
					{Type: runtime.MountVolume, Source: "cache", Target: "/cache"},
					{Type: runtime.MountBind, Source: tt.source, Target: "/data", ReadOnly: true},
				}
				if len(mounts) != 2 || mounts[0] != want[0] || mounts[1] != want[1] {
					t.Errorf("mounts %+v, want %+v", mounts, want)
				}
			case err == nil:
				t.Fatalf("mounts %+v, want an error saying %q", mounts, tt.err)
			case !strings.Contains(err.Error(), tt.err):
				t.Errorf("error %q does not say %q", err, tt.err)
			case reason != tt.reason:
				t.Errorf("error %q has reason %q, want %q", err, reason, tt.reason)
			}
			if tt.created != "" {
				if _, err := os.Stat(tt.created); err != nil {
					t.Errorf("%s not made: %v", tt.created, err)
				}
			}
		})
	}
	if ls := readDir(t, w.p("outside")); len(ls) != 1 || ls[0] != "in" {
		t.Errorf("made outside the allowed directory: %s holds %q", w.p("outside"), ls)
	}
}

// TestPrepareHostPathStaysInside: a link that leads out, swapped in after
// the policy's check, cannot make the controller create anything outside
// the allowed directory it checked.
func TestPrepareHostPathStaysInside(t *testing.T) {
	t.Parallel()
	for _, typ := range []v1.HostPathType{v1.HostPathDirectoryOrCreate, v1.HostPathFileOrCreate} {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			w := newFSWorld(t)
			// As checked: allowed/out/a/b was inside, and a container that
			// has allowed mounted read-write has put the link out there
			// since.
			for _, rel := range []string{"out/made", "out/a/b", "dangling"} {
				err := prepareHostPath(w.p("allowed"), w.p("allowed/"+rel), typ)
				if err == nil || !strings.Contains(err.Error(), "escapes") {
					t.Errorf("making %s: error %v, want one saying the path escapes", rel, err)
				}
			}
			if ls := readDir(t, w.p("outside")); len(ls) != 1 || ls[0] != "in" {
				t.Errorf("made outside the allowed directory: %s holds %q", w.p("outside"), ls)
			}
		})
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
