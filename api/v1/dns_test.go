package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDNSConfigDecode(t *testing.T) {
	const doc = `apiVersion: berth.dev/v1
kind: Job
metadata: {name: batch}
spec:
  version: "1"
  container:
    image: x
    dns:
      nameservers: [192.0.2.53, "2001:db8::53"]
      searches: [service.berth, corp.example.]
      options:
        - {name: ndots, value: "2"}
        - {name: edns0}
`
	docs, errs := Decode("dns.yaml", []byte(doc))
	if len(errs) == 0 {
		errs = Prepare(docs, nil)
	}
	if len(errs) > 0 {
		t.Fatalf("dns.yaml: %v", errs)
	}
	got := docs[0].Object.(*Job).Spec.Container.DNS
	want := &DNSConfig{
		Nameservers: []string{"192.0.2.53", "2001:db8::53"},
		Searches:    []string{"service.berth", "corp.example."},
		Options:     []DNSConfigOption{{Name: "ndots", Value: "2"}, {Name: "edns0"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dns = %+v, want %+v", got, want)
	}
	var opts []string
	for _, o := range got.Options {
		opts = append(opts, o.String())
	}
	if want := []string{"ndots:2", "edns0"}; !reflect.DeepEqual(opts, want) {
		t.Errorf("options as resolv.conf writes them = %q, want %q", opts, want)
	}
	// A template without dns hashes as it did before dns existed.
	b, _ := json.Marshal(&ContainerTemplate{Image: "x"})
	if string(b) != `{"image":"x"}` {
		t.Errorf("JSON of a template without dns = %s", b)
	}
}

func TestDNSConfigBadInput(t *testing.T) {
	const head = "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: web}\nspec:\n  container:\n    image: x\n"
	// domain is a valid search domain of n characters: labels of 63
	// letters and digits.
	domain := func(i, n int) string {
		d := []byte(strings.Repeat(fmt.Sprintf("%063d.", i), 4)[:n])
		if d[n-1] == '.' {
			d[n-1] = 'x'
		}
		return string(d)
	}
	searches := func(sizes ...int) string {
		var s []string
		for i, n := range sizes {
			s = append(s, domain(i, n))
		}
		return "    dns:\n      searches: [" + strings.Join(s, ", ") + "]\n"
	}
	var at2048, at2051, at32, at33 []int
	for range 8 {
		at2048, at2051 = append(at2048, 227), append(at2051, 227)
	}
	at2048, at2051 = append(at2048, 224), append(at2051, 227)
	for i := range 33 {
		if i < 32 {
			at32 = append(at32, 10)
		}
		at33 = append(at33, 10)
	}
	for _, ok := range [][]int{at2048, at32} {
		doc := head + searches(ok...)
		docs, errs := Decode("m.yaml", []byte(doc))
		if len(errs) == 0 {
			errs = Prepare(docs, nil)
		}
		if len(errs) > 0 {
			t.Errorf("search domains of %v characters: %v", ok, errs)
		}
	}
	tests := []struct {
		name  string
		input string
		want  []string // substrings of the one error expected
	}{
		{"invalid address", head + "    dns:\n      nameservers: [192.0.2.53, 10.0.0.300]\n",
			[]string{"m.yaml:8", "spec.container.dns.nameservers[1]", `"10.0.0.300" is not an IP address`}},
		{"a name for an address", head + "    dns:\n      nameservers: [ns1.example]\n",
			[]string{"spec.container.dns.nameservers[0]", `"ns1.example" is not an IP address`}},
		{"four nameservers", head + "    dns:\n      nameservers: [192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4]\n",
			[]string{"spec.container.dns.nameservers", "must not have more than 3 nameservers, has 4"}},
		{"33 search domains", head + searches(at33...),
			[]string{"spec.container.dns.searches", "must not have more than 32 search domains, has 33"}},
		{"2051 characters of search domains", head + searches(at2051...),
			[]string{"spec.container.dns.searches", "must not have more than 2048 characters (including spaces) in the search list, has 2051"}},
		{"bad search domain", head + "    dns:\n      searches: [service.berth, Corp_Example]\n",
			[]string{"spec.container.dns.searches[1]", `"Corp_Example" is not a DNS subdomain`}},
		{"option without a name", head + "    dns:\n      options: [{value: \"2\"}]\n",
			[]string{"spec.container.dns.options[0].name", "is required"}},
		{"option with a space", head + "    dns:\n      options: [{name: ndots, value: \"2 rotate\"}]\n",
			[]string{"spec.container.dns.options[0].value", "must not contain spaces"}},
		{"option name with a colon", head + "    dns:\n      options: [{name: \"ndots:2\"}]\n",
			[]string{"spec.container.dns.options[0].name", "':'"}},
		{"joined network", head + "    networkMode: container:db\n    dns:\n      searches: [corp.example]\n",
			[]string{"spec.container.dns", "cannot be set with networkMode container:db"}},
		{"unknown field", head + "    dns:\n      servers: [192.0.2.53]\n",
			[]string{"spec.container.dns.servers", "unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantOneError(t, tt.input, tt.want) })
	}
}
