package v1_test

import (
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

func TestGitSourceDecodeDefaultsValidate(t *testing.T) {
	head := "apiVersion: berth.dev/v1\nkind: GitSource\nmetadata:\n  name: apps\nspec:\n"
	tests := []struct {
		name, spec string
		want       string // a substring of the problems, "" when valid
	}{
		{"https", "  url: https://git.example.com/apps.git\n", ""},
		{"ssh", "  url: ssh://git@git.example.com/apps.git\n", ""},
		{"scp-like", "  url: git@git.example.com:org/apps.git\n", ""},
		{"file", "  url: file:///srv/apps\n", ""},
		{"git daemon", "  url: git://127.0.0.1:9418/apps.git\n", ""},
		{"tag", "  url: file:///srv/apps\n  ref: {tag: v1.2.0}\n", ""},
		{"commit", "  url: file:///srv/apps\n  ref: {commit: 0123456789abcdef0123456789abcdef01234567}\n", ""},
		{"no url", "  path: deploy\n", "spec.url: is required"},
		{"http", "  url: http://git.example.com/apps.git\n", "spec.url: \"http://git.example.com/apps.git\" is not a Git URL"},
		{"password", "  url: https://u:secret@git.example.com/apps.git\n", "spec.url: must not hold a password"},
		{"two refs", "  url: file:///r\n  ref: {branch: main, tag: v1}\n", "spec.ref: set at most one"},
		{"short commit", "  url: file:///r\n  ref: {commit: abc123}\n", "spec.ref.commit:"},
		{"path outside", "  url: file:///r\n  path: ../etc\n", "spec.path:"},
		{"absolute path", "  url: file:///r\n  path: /etc\n", "spec.path:"},
		{"interval too short", "  url: file:///r\n  interval: 1s\n", "spec.interval: 1s is shorter than the minimum of 5s"},
		{"unknown field", "  url: file:///r\n  branch: main\n", "spec.branch"},
	}
	for _, tt := range tests {
		docs, errs := v1.Decode("gs.yaml", []byte(head+tt.spec))
		if len(errs) == 0 {
			errs = v1.Prepare(docs, nil)
		}
		got := errs.Error()
		if len(errs) == 0 {
			got = ""
		}
		switch {
		case tt.want == "" && got != "":
			t.Errorf("%s: unexpected problems: %s", tt.name, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("%s: problems %q, want %q", tt.name, got, tt.want)
		case tt.want != "" && !strings.Contains(got, "gs.yaml"):
			t.Errorf("%s: problems %q do not name the file", tt.name, got)
		}
	}
}

func TestGitSourceDefaults(t *testing.T) {
	g := v1.New(v1.KindGitSource).(*v1.GitSource)
	g.Metadata.Name = "apps"
	g.Spec.URL = "file:///r"
	v1.Default(g)
	if g.Spec.Ref.Branch != "main" || g.Spec.Path != "." || g.Spec.Interval.Duration != time.Minute || g.Spec.Timeout.Duration != 60*time.Second {
		t.Fatalf("defaults: %+v", g.Spec)
	}
	if v1.KindOf(g) != v1.KindGitSource || g.Spec.Ref.String() != "main" {
		t.Fatal("KindOf or Ref.String")
	}
	cp := g.DeepCopyObject().(*v1.GitSource)
	cp.Spec.Interval.Duration = time.Hour
	if g.Spec.Interval.Duration != time.Minute {
		t.Fatal("DeepCopyObject shares the interval")
	}
}

func TestHostStillRefused(t *testing.T) {
	_, errs := v1.Decode("h.yaml", []byte("apiVersion: berth.dev/v1\nkind: Host\nmetadata: {name: a}\n"))
	if len(errs) != 1 || !strings.Contains(errs.Error(), "cannot be applied") {
		t.Fatalf("Host: %v", errs)
	}
}
