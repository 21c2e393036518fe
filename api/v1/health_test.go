package v1_test

import (
	"strings"
	"testing"

	v1 "berth.dev/berth/api/v1"
)

// A healthCheck's durations must be positive, startInterval too; left
// out, startInterval stays unset (the prober's default), so that a
// template's hash is what it was before the field existed.
func TestHealthCheckDecodeDefaultsValidate(t *testing.T) {
	t.Parallel()
	head := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata:\n  name: db\nspec:\n  container:\n    image: busybox\n    healthCheck: "
	for _, tt := range []struct {
		name, check string
		want        string // a substring of the problems, "" when valid
	}{
		{"startInterval", "{tcp: {port: 5432}, interval: 30s, startInterval: 1s}", ""},
		{"zero startInterval", "{tcp: {port: 5432}, startInterval: 0s}", "spec.container.healthCheck.startInterval: must be longer than 0"},
		{"negative startInterval", "{tcp: {port: 5432}, startInterval: -1s}", `spec.container.healthCheck.startInterval: invalid duration "-1s": must not be negative`},
		{"zero interval", "{tcp: {port: 5432}, interval: 0s}", "spec.container.healthCheck.interval: must be longer than 0"},
	} {
		docs, errs := v1.Decode("db.yaml", []byte(head+tt.check+"\n"))
		if len(errs) == 0 {
			errs = v1.Prepare(docs, nil)
		}
		got := ""
		if len(errs) > 0 {
			got = errs.Error()
		}
		switch {
		case tt.want == "" && got != "":
			t.Errorf("%s: unexpected problems: %s", tt.name, got)
		case tt.want != "" && (!strings.Contains(got, tt.want) || !strings.Contains(got, "db.yaml")):
			t.Errorf("%s: problems %q, want %q naming db.yaml", tt.name, got, tt.want)
		}
	}
	docs, errs := v1.Decode("db.yaml", []byte(head+"{tcp: {port: 5432}}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs := v1.Prepare(docs, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	u, ok := docs[0].Object.(*v1.Unit)
	if !ok {
		t.Fatalf("decoded %T, want a Unit", docs[0].Object)
	}
	if hc := u.Spec.Container.HealthCheck; hc.StartInterval != nil || hc.Interval == nil {
		t.Errorf("defaulted health check: startInterval %v (want unset), interval %v (want the default)", hc.StartInterval, hc.Interval)
	}
}
