package convert

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	v1 "berth.dev/berth/api/v1"
)

// Severity says whether a Finding lost something.
type Severity int

// Values of Severity.
const (
	// Dropped: a setting that berth cannot carry over; the converted
	// objects behave differently. applyctl convert exits 1 unless
	// --allow-partial.
	Dropped Severity = iota
	// Note: a setting carried over in another form, worth knowing.
	Note
)

// Finding is one setting of the input that was not carried over as
// written, located by file and line (0 when unknown).
type Finding struct {
	File     string
	Line     int
	Severity Severity
	// Msg names the setting as written and says why, such as
	// "ExecStartPre=/bin/touch /x runs on the host: not converted; ...".
	Msg string
}

// String formats the finding as "file:line: msg" ("note: " before notes).
func (f Finding) String() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			b.WriteString(":" + strconv.Itoa(f.Line))
		}
		b.WriteString(": ")
	}
	if f.Severity == Note {
		b.WriteString("note: ")
	}
	b.WriteString(f.Msg)
	return b.String()
}

// Object is one converted object with the file it came from.
type Object struct {
	Source string
	Object v1.Object
}

// Result is what a conversion produced: objects in a stable order, and
// every finding in the order of the input.
type Result struct {
	Objects  []Object
	Findings []Finding
}

// Dropped counts the findings of severity Dropped.
func (r *Result) Dropped() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Dropped {
			n++
		}
	}
	return n
}

// add appends the objects and findings of o to r.
func (r *Result) add(o Result) {
	r.Objects = append(r.Objects, o.Objects...)
	r.Findings = append(r.Findings, o.Findings...)
}

// Host is what a conversion may read of the machine it runs on: files that
// the input names (env files, the kind of a bind-mounted path). Either
// function may be nil: then nothing is read and what needs it is reported.
type Host struct {
	// ReadFile reads a file the input names, such as a --env-file.
	ReadFile func(name string) ([]byte, error)
	// Stat says what is at a host path, so that a bind mount of a file
	// becomes a hostPath of type File.
	Stat func(name string) (fs.FileInfo, error)
}

func (h Host) readFile(name string) ([]byte, error) {
	if h.ReadFile == nil {
		return nil, fmt.Errorf("files are not read here")
	}
	return h.ReadFile(name)
}

// hostPathType returns the type of a hostPath volume for a bind mount of
// path: create means the engine would create a missing path as a
// directory (docker run -v, compose's short syntax).
func (h Host) hostPathType(path string, create bool) v1.HostPathType {
	if h.Stat != nil {
		if fi, err := h.Stat(path); err == nil && !fi.IsDir() {
			return v1.HostPathFile
		}
	}
	if create {
		return v1.HostPathDirectoryOrCreate
	}
	return v1.HostPathDirectory
}

var nameInvalidRe = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName turns s into a DNS label as berth names objects: lower case,
// other characters replaced by '-', at most 63; "" when nothing is left.
func objectName(s string) string {
	n := nameInvalidRe.ReplaceAllString(strings.ToLower(s), "-")
	n = strings.Trim(n, "-")
	if len(n) > 63 {
		n = strings.Trim(n[:63], "-")
	}
	return n
}

// envList turns a map into berth's env list, sorted by name.
func envList(m map[string]string) []v1.EnvVar {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]v1.EnvVar, len(names))
	for i, k := range names {
		out[i] = v1.EnvVar{Name: k, Value: m[k]}
	}
	return out
}

// quantity writes a number of bytes as berth's sizes are written: "256Mi"
// when it is a whole number of Ki, Mi or Gi, else the bytes.
func quantity(b int64) v1.Quantity {
	for _, u := range []struct {
		s string
		n int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b >= u.n && b%u.n == 0 {
			return v1.Quantity(strconv.FormatInt(b/u.n, 10) + u.s)
		}
	}
	return v1.Quantity(strconv.FormatInt(b, 10))
}

// cpus writes a number of CPUs without trailing zeros.
func cpus(f float64) v1.CPUs {
	return v1.CPUs(strconv.FormatFloat(f, 'f', -1, 64))
}

func dur(d v1.Duration) *v1.Duration { return &d }

// validLabel reports whether k=v is a label berth accepts on a container.
func validLabel(k, v string) string {
	errs := v1.Validate(&v1.Unit{
		TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit},
		Metadata: v1.ObjectMeta{Name: "x"},
		Spec: v1.UnitSpec{
			Container: v1.ContainerTemplate{Image: "x", PullPolicy: v1.PullIfNotPresent, Labels: map[string]string{k: v}},
			Restart:   v1.RestartPolicy{Policy: v1.RestartAlways}, Goal: v1.GoalStart,
		},
	})
	for _, e := range errs {
		if strings.HasPrefix(e.Field, "spec.container.labels") {
			return e.Msg
		}
	}
	return ""
}

func newUnit(name string) *v1.Unit {
	return &v1.Unit{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindUnit}, Metadata: v1.ObjectMeta{Name: name}}
}

func newService(name string) *v1.Service {
	return &v1.Service{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindService}, Metadata: v1.ObjectMeta{Name: name}}
}

func newJob(name string) *v1.Job {
	return &v1.Job{TypeMeta: v1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindJob}, Metadata: v1.ObjectMeta{Name: name}}
}

// unwrapPath drops the path from an fs.PathError: the caller names it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// lineOf returns the line of the deepest key of path found under the
// mapping n (a YAML or JSON document), or 0.
func lineOf(n *yaml.Node, path []string) int {
	line := 0
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				line, next = n.Content[j].Line, n.Content[j+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
