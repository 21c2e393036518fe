package v1

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestSecurityContextAndEnvFileDecode(t *testing.T) {
	data, err := os.ReadFile("testdata/security.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, errs := Decode("security.yaml", data)
	if len(errs) == 0 {
		errs = Prepare(docs, nil)
	}
	if len(errs) > 0 {
		t.Fatalf("security.yaml: %v", errs)
	}
	c := docs[0].Object.(*Unit).Spec.Container
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatalf("securityContext not decoded: %+v", sc)
	}
	if want := []string{"NET_ADMIN", "NET_RAW"}; !reflect.DeepEqual(sc.Capabilities.Add, want) {
		t.Errorf("capabilities.add = %q, want %q (CAP_ prefix and case normalized)", sc.Capabilities.Add, want)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || c.PrivilegeEscalation() {
		t.Errorf("allowPrivilegeEscalation = %v, want an explicit false", sc.AllowPrivilegeEscalation)
	}
	if !sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem not decoded")
	}
	if f := c.Env[1].ValueFrom; f == nil || f.File != "vpn/password" || c.Env[1].Value != "" {
		t.Errorf("env[1] = %+v, want valueFrom.file vpn/password", c.Env[1])
	}

	// What get -o yaml prints applies again unchanged: value is left out
	// when valueFrom is used, and an empty value stays empty.
	b, err := json.Marshal(docs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `{"name":"VPN_PASSWORD","valueFrom":{"file":"vpn/password"}}`) {
		t.Errorf("JSON of the env var from a file: %s", s)
	}
	again, errs := Decode("again.json", b)
	if len(errs) == 0 {
		errs = Prepare(again, nil)
	}
	if len(errs) > 0 {
		t.Fatalf("the printed unit does not apply again: %v", errs)
	}
	if got := again[0].Object.(*Unit).Spec.Container; !reflect.DeepEqual(got, c) {
		t.Errorf("round trip changed the template:\n got %+v\nwant %+v", got, c)
	}
}

// TestSecurityHashStable: a template that asks for nothing new hashes as
// it did before securityContext and valueFrom existed, so upgrading berth
// does not recreate every container; capability spellings hash as one.
func TestSecurityHashStable(t *testing.T) {
	tm := &ContainerTemplate{Image: "x", Env: []EnvVar{{Name: "A", Value: "1"}}}
	b, _ := json.Marshal(tm)
	if want := `{"image":"x","env":[{"name":"A","value":"1"}]}`; string(b) != want {
		t.Errorf("JSON of a plain template = %s, want %s", b, want)
	}
	a := &Unit{TypeMeta: TypeMeta{Kind: KindUnit}, Metadata: ObjectMeta{Name: "a"}, Spec: UnitSpec{Container: ContainerTemplate{Image: "x",
		SecurityContext: &SecurityContext{Capabilities: &Capabilities{Add: []string{"cap_sys_time"}}}}}}
	z := &Unit{TypeMeta: TypeMeta{Kind: KindUnit}, Metadata: ObjectMeta{Name: "a"}, Spec: UnitSpec{Container: ContainerTemplate{Image: "x",
		SecurityContext: &SecurityContext{Capabilities: &Capabilities{Add: []string{"SYS_TIME"}}}}}}
	Default(a)
	Default(z)
	if TemplateHash(&a.Spec.Container) != TemplateHash(&z.Spec.Container) {
		t.Errorf("cap_sys_time and SYS_TIME hash differently")
	}
}

func TestSecurityBadInput(t *testing.T) {
	const head = "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec:\n  container:\n    image: x\n"
	tests := []struct {
		name  string
		input string
		want  []string // substrings of the one error expected
	}{
		{"value and valueFrom", head + "    env:\n      - {name: A, value: x, valueFrom: {file: a}}\n",
			[]string{"m.yaml:8", "spec.container.env[0]: value and valueFrom cannot both be set"}},
		{"dot dot", head + "    env:\n      - {name: A}\n      - {name: B, valueFrom: {file: ../etc/shadow}}\n",
			[]string{"m.yaml:9", "spec.container.env[1].valueFrom.file", `"../etc/shadow" must not contain '..'`, "--secrets-dir"}},
		{"dot dot inside", head + "    env:\n      - {name: B, valueFrom: {file: db/../../x}}\n",
			[]string{"spec.container.env[0].valueFrom.file", "must not contain '..'"}},
		{"absolute dot dot", head + "    env:\n      - {name: B, valueFrom: {file: /etc/berth/secrets/../../shadow}}\n",
			[]string{"spec.container.env[0].valueFrom.file", "must not contain '..'"}},
		{"empty file", head + "    env:\n      - {name: B, valueFrom: {file: \"\"}}\n",
			[]string{"spec.container.env[0].valueFrom.file", "is required"}},
		{"no file", head + "    env:\n      - {name: B, valueFrom: {}}\n",
			[]string{"spec.container.env[0].valueFrom.file", "is required"}},
		{"unclean", head + "    env:\n      - {name: B, valueFrom: {file: ./db//password}}\n",
			[]string{"spec.container.env[0].valueFrom.file", `write it as "db/password"`}},
		{"directory", head + "    env:\n      - {name: B, valueFrom: {file: /}}\n",
			[]string{"spec.container.env[0].valueFrom.file", `"/" is not a file name`}},
		{"unknown valueFrom field", head + "    env:\n      - {name: B, valueFrom: {secret: x}}\n",
			[]string{"spec.container.env[0].valueFrom.secret", "unknown field"}},
		{"unknown capability", head + "    securityContext:\n      capabilities: {add: [NET_ADMIN, CAP_FLY]}\n",
			[]string{"m.yaml:8", "spec.container.securityContext.capabilities.add[1]", `unknown capability "FLY"`, "NET_ADMIN"}},
		{"duplicate capability", head + "    securityContext:\n      capabilities: {drop: [net_raw, CAP_NET_RAW]}\n",
			[]string{"spec.container.securityContext.capabilities.drop[1]", "duplicate capability NET_RAW"}},
		{"privileged not a bool", head + "    securityContext: {privileged: sure}\n",
			[]string{"spec.container.securityContext.privileged"}},
		{"unknown securityContext field", head + "    securityContext: {runAsUser: 0}\n",
			[]string{"spec.container.securityContext.runAsUser", "unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantOneError(t, tt.input, tt.want) })
	}
}

func TestNormalizeCapability(t *testing.T) {
	for in, want := range map[string]string{"cap_net_admin": "NET_ADMIN", "NET_ADMIN": "NET_ADMIN", " Cap_Sys_Time ": "SYS_TIME", "all": "ALL"} {
		if got := NormalizeCapability(in); got != want {
			t.Errorf("NormalizeCapability(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestObjectSizeLimit: an object larger than MaxObjectBytes once encoded
// is refused by name, before anything is written, and a host may not be
// named "leader".
func TestObjectSizeLimit(t *testing.T) {
	big := strings.Repeat("x", MaxObjectBytes)
	doc := "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: big}\nspec:\n  container:\n    image: x\n    env: [{name: BIG, value: " + big + "}]\n"
	docs, errs := Decode("big.yaml", []byte(doc))
	if len(errs) > 0 {
		t.Fatalf("Decode: %v", errs)
	}
	errs = Prepare(docs, nil)
	if len(errs) != 1 || !strings.Contains(errs.Error(), "big.yaml") || !strings.Contains(errs.Error(), "more than the limit of 524288") {
		t.Fatalf("Prepare of a %d-byte object = %v; want the size limit named with the file", len(doc), errs)
	}
	if msg := ValidNewHostName("leader"); !strings.Contains(msg, "reserved") {
		t.Errorf("ValidNewHostName(leader) = %q; want reserved", msg)
	}
	if msg := ValidHostName("leader"); msg != "" {
		t.Errorf("ValidHostName(leader) = %q; a container's hostname may be leader", msg)
	}
}
