package convert

import (
	"slices"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
)

func TestSplitCommand(t *testing.T) {
	spec := func(c byte) (string, bool) {
		switch c {
		case 'n':
			return "todo.service", true
		case '%':
			return "%", true
		}
		return "", false
	}
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/usr/bin/docker run --name todo img", []string{"/usr/bin/docker", "run", "--name", "todo", "img"}, false},
		{`sh -c "echo 'a b'; exit"`, []string{"sh", "-c", "echo 'a b'; exit"}, false},
		{`a'b c'd "e\"f" g\ h`, []string{"ab cd", `e"f`, "g h"}, false},
		{`x\ty \x41 \101`, []string{"x\ty", "A", "A"}, false},
		{"unit %n at 100%%", []string{"unit", "todo.service", "at", "100%"}, false},
		{"  spaced\t\tout  ", []string{"spaced", "out"}, false},
		{`"open`, nil, true},
		{`trailing\`, nil, true},
		{"%H", nil, true},
	} {
		got, err := splitCommand(tc.in, spec)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"OPTS": "-p 80:80  -e A=b", "IMAGE": "nginx:1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		in, want, missing []string
	}{
		{[]string{"run", "$OPTS", "${IMAGE}"}, []string{"run", "-p", "80:80", "-e", "A=b", "nginx:1"}, nil},
		{[]string{"--label=${IMAGE}-x", "$$HOME", "a$OPTS"}, []string{"--label=nginx:1-x", "$HOME", "a$OPTS"}, nil},
		{[]string{"$EMPTY", "${NOPE}", "$NOPE2"}, []string{""}, []string{"NOPE", "NOPE2"}},
	} {
		got, missing := expandEnv(tc.in, lookup)
		if !slices.Equal(got, tc.want) || !slices.Equal(missing, tc.missing) {
			t.Errorf("expandEnv(%q) = %q, missing %q; want %q, %q", tc.in, got, missing, tc.want, tc.missing)
		}
	}
}

func TestParseTimespan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"5", 5 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"100ms", 100 * time.Millisecond, false},
		{"1min 30s", 90 * time.Second, false},
		{"2h", 2 * time.Hour, false},
		{"1d", 24 * time.Hour, false},
		{"3 sec", 3 * time.Second, false},
		{"infinity", 0, true},
		{"5 parsecs", 0, true},
		{"", 0, true},
	} {
		got, err := parseTimespan(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimespan(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestRestartFrom(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    v1.RestartPolicyType
		problem bool
	}{
		{"no", v1.RestartNever, false},
		{"always", v1.RestartAlways, false},
		{"unless-stopped", v1.RestartAlways, false},
		{"on-failure", v1.RestartOnFailure, false},
		{"on-failure:0", v1.RestartOnFailure, false},
		{"on-failure:3", v1.RestartOnFailure, true},
		{"on-failure:x", v1.RestartOnFailure, true},
		{"sometimes", "", true},
	} {
		got, problem := restartFrom(tc.in)
		if got != tc.want || (problem != "") != tc.problem {
			t.Errorf("restartFrom(%q) = %q, %q; want %q, a problem: %v", tc.in, got, problem, tc.want, tc.problem)
		}
	}
}

func TestHealthTest(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		none bool
		bad  bool
	}{
		{[]string{"CMD", "/check", "-v"}, []string{"/check", "-v"}, false, false},
		{[]string{"CMD-SHELL", "curl -f localhost"}, []string{"/bin/sh", "-c", "curl -f localhost"}, false, false},
		{[]string{"NONE"}, nil, true, false},
		{[]string{"CMD"}, nil, false, true},
		{[]string{"RUN", "x"}, nil, false, true},
	} {
		got, none, problem := healthTest(tc.in)
		if !slices.Equal(got, tc.want) || none != tc.none || (problem != "") != tc.bad {
			t.Errorf("healthTest(%q) = %q, %v, %q", tc.in, got, none, problem)
		}
	}
}
