package consulapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// object is a JSON object whose keys are matched as Consul matches them:
// case-insensitively and with or without underscores, so ScriptArgs,
// scriptArgs and script_args are one field. Fields no one asks for are
// ignored.
type object struct {
	where  string                     // prefix of error messages: "", "Check.", "Checks[1]."
	fields map[string]json.RawMessage // by normalised key
	names  map[string]string          // normalised key -> key as sent
}

// normKey is a key's normalised form: lower case, without '_' and '-'.
func normKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// parseObject decodes raw, which must be a JSON object.
func parseObject(raw []byte, where string) (object, error) {
	o := object{where: where}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return o, fmt.Errorf("%sempty body: want a JSON object", where)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return o, fmt.Errorf("%sdecode: %w", where, err)
	}
	if m == nil {
		return o, fmt.Errorf("%snull: want a JSON object", where)
	}
	o.fields = make(map[string]json.RawMessage, len(m))
	o.names = make(map[string]string, len(m))
	for k, v := range m {
		n := normKey(k)
		if prev, dup := o.names[n]; dup {
			a, b := min(prev, k), max(prev, k) // a stable message whatever the map's order
			return o, fmt.Errorf("%s%q and %q are the same field: give one", where, a, b)
		}
		o.fields[n] = v
		o.names[n] = k
	}
	return o, nil
}

// raw returns the first of the named fields present and not null, and the
// name it was sent as.
func (o object) raw(names ...string) (json.RawMessage, string) {
	for _, n := range names {
		v, ok := o.fields[normKey(n)]
		if ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return v, o.names[normKey(n)]
		}
	}
	return nil, ""
}

// has reports whether any of the named fields is present and not null.
func (o object) has(names ...string) bool {
	v, _ := o.raw(names...)
	return v != nil
}

// get decodes the first of the named fields that is present into dst; it
// leaves dst alone when none is.
func (o object) get(dst any, names ...string) error {
	v, sent := o.raw(names...)
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%s%s: %w", o.where, sent, unwrapJSON(err))
	}
	return nil
}

// duration decodes a duration given as a Go duration string ("10s") or a
// number of nanoseconds, as Consul accepts both. Negative is an error.
func (o object) duration(dst *time.Duration, names ...string) error {
	v, sent := o.raw(names...)
	if v == nil {
		return nil
	}
	var d time.Duration
	var str string
	if err := json.Unmarshal(v, &str); err == nil {
		if str != "" {
			if d, err = time.ParseDuration(str); err != nil {
				return fmt.Errorf("%s%s: %w", o.where, sent, err)
			}
		}
	} else {
		var n int64
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("%s%s: want a duration such as \"10s\"", o.where, sent)
		}
		d = time.Duration(n)
	}
	if d < 0 {
		return fmt.Errorf("%s%s: %s is negative", o.where, sent, d)
	}
	*dst = d
	return nil
}

// unwrapJSON trims what encoding/json says about Go types the sender does
// not know.
func unwrapJSON(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("cannot use a JSON %s here", te.Value)
	}
	return err
}

// checkDef is a check as sent: AgentServiceCheck, or AgentCheckRegistration
// (which adds ID, ServiceID).
type checkDef struct {
	ID, Name, Notes, ServiceID, Status string

	Args      []string // ScriptArgs, or Args
	Container string   // DockerContainerID
	HTTP      string
	Method    string
	Header    map[string][]string
	TCP       string

	Interval, Timeout, TTL, DeregisterAfter time.Duration

	SuccessBeforePassing, FailuresBeforeCritical int
}

// unsupportedCheckFields are check types berth does not run: asking for one
// is a 400, not a check that silently never runs.
var unsupportedCheckFields = []string{"GRPC", "UDP", "H2PING", "AliasNode", "AliasService", "OSService", "Script"}

func parseCheck(raw []byte, where string) (checkDef, error) {
	var d checkDef
	o, err := parseObject(raw, where)
	if err != nil {
		return d, err
	}
	for _, f := range unsupportedCheckFields {
		var s string
		if v, sent := o.raw(f); v != nil && (json.Unmarshal(v, &s) != nil || s != "") {
			return d, fmt.Errorf("%s%s: berth does not run %s checks (it runs HTTP, TCP, TTL and script checks inside a container)", where, sent, f)
		}
	}
	for _, g := range []struct {
		dst   any
		names []string
	}{
		{&d.ID, []string{"CheckID", "ID"}},
		{&d.Name, []string{"Name"}},
		{&d.Notes, []string{"Notes"}},
		{&d.ServiceID, []string{"ServiceID"}},
		{&d.Status, []string{"Status"}},
		{&d.Args, []string{"ScriptArgs", "Args"}},
		{&d.Container, []string{"DockerContainerID"}},
		{&d.HTTP, []string{"HTTP"}},
		{&d.Method, []string{"Method"}},
		{&d.Header, []string{"Header"}},
		{&d.TCP, []string{"TCP"}},
		{&d.SuccessBeforePassing, []string{"SuccessBeforePassing"}},
		{&d.FailuresBeforeCritical, []string{"FailuresBeforeCritical"}},
	} {
		if err := o.get(g.dst, g.names...); err != nil {
			return d, err
		}
	}
	for _, g := range []struct {
		dst   *time.Duration
		names []string
	}{
		{&d.Interval, []string{"Interval"}},
		{&d.Timeout, []string{"Timeout"}},
		{&d.TTL, []string{"TTL"}},
		{&d.DeregisterAfter, []string{"DeregisterCriticalServiceAfter"}},
	} {
		if err := o.duration(g.dst, g.names...); err != nil {
			return d, err
		}
	}
	return d, nil
}

// serviceDef is an AgentServiceRegistration as sent.
type serviceDef struct {
	ID, Name, Kind, Address string
	Port                    int
	Tags                    []string
	Meta                    map[string]string
	Weights                 *weightsJSON
	Checks                  []checkDef // Check, then Checks
}

func parseService(raw []byte) (serviceDef, error) {
	var d serviceDef
	o, err := parseObject(raw, "")
	if err != nil {
		return d, err
	}
	for _, g := range []struct {
		dst  any
		name string
	}{
		{&d.ID, "ID"}, {&d.Name, "Name"}, {&d.Kind, "Kind"}, {&d.Address, "Address"},
		{&d.Port, "Port"}, {&d.Tags, "Tags"}, {&d.Meta, "Meta"},
	} {
		if err := o.get(g.dst, g.name); err != nil {
			return d, err
		}
	}
	if v, _ := o.raw("Weights"); v != nil {
		w, err := parseObject(v, "Weights.")
		if err != nil {
			return d, err
		}
		d.Weights = &weightsJSON{Passing: 1, Warning: 1}
		if err := w.get(&d.Weights.Passing, "Passing"); err != nil {
			return d, err
		}
		if err := w.get(&d.Weights.Warning, "Warning"); err != nil {
			return d, err
		}
	}
	if v, _ := o.raw("Check"); v != nil {
		c, err := parseCheck(v, "Check.")
		if err != nil {
			return d, err
		}
		d.Checks = append(d.Checks, c)
	}
	var list []json.RawMessage
	if err := o.get(&list, "Checks"); err != nil {
		return d, err
	}
	for i, v := range list {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		c, err := parseCheck(v, fmt.Sprintf("Checks[%d].", i))
		if err != nil {
			return d, err
		}
		d.Checks = append(d.Checks, c)
	}
	return d, nil
}

// checkUpdate is the body of PUT /v1/agent/check/update/{id}.
func parseCheckUpdate(raw []byte) (status, output string, err error) {
	o, err := parseObject(raw, "")
	if err != nil {
		return "", "", err
	}
	if err := o.get(&status, "Status"); err != nil {
		return "", "", err
	}
	if err := o.get(&output, "Output"); err != nil {
		return "", "", err
	}
	return status, output, nil
}
