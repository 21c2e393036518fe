package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string such as "10s" or "5m".
// A bare number is refused: the unit must be said.
type Duration struct {
	time.Duration
}

// D returns a Duration of d.
func D(d time.Duration) Duration { return Duration{d} }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Duration.String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, ok := plainString(b)
	if !ok {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("a duration must be a string such as \"10s\" or \"5m\", not %s", bytes.TrimSpace(b))
		}
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// plainString returns the string a JSON value holds when it is a string
// with no escapes, as durations are: it needs no decoder. ok is false for
// anything else, which the decoder is then asked to read.
func plainString(b []byte) (s string, ok bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b[1:len(b)-1], '\\') >= 0 || bytes.IndexByte(b[1:len(b)-1], '"') >= 0 {
		return "", false
	}
	return string(b[1 : len(b)-1]), true
}

// ParseDuration parses a duration such as "10s", "1m30s" or "2h".
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit such as \"10s\", \"5m\" or \"1h\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return v, nil
}

// Quantity is a size in bytes written as "256Mi", "1Gi", "512M", "100k" or
// a plain number of bytes. The text form is kept as written.
type Quantity string

var quantitySuffixes = []struct {
	suffix string
	mult   float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// Bytes returns the size in bytes.
func (q Quantity) Bytes() (int64, error) {
	s := strings.TrimSpace(string(q))
	if s == "" {
		return 0, nil
	}
	mult := 1.0
	for _, sf := range quantitySuffixes {
		if strings.HasSuffix(s, sf.suffix) {
			mult = sf.mult
			s = strings.TrimSuffix(s, sf.suffix)
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional suffix such as \"256Mi\", \"1Gi\" or \"512M\"", string(q))
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", string(q))
	}
	return int64(v), nil
}

// UnmarshalJSON accepts a string or a number of bytes.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s, err := stringOrNumber(b, "a size")
	if err != nil {
		return err
	}
	*q = Quantity(s)
	return nil
}

// CPUs is a number of CPUs, such as 0.5 or "1.5"; "500m" means half a CPU.
type CPUs string

// Value returns the number of CPUs.
func (c CPUs) Value() (float64, error) {
	s := strings.TrimSpace(string(c))
	if s == "" {
		return 0, nil
	}
	div := 1.0
	if strings.HasSuffix(s, "m") {
		s, div = strings.TrimSuffix(s, "m"), 1000
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f/div > 1e6 {
		return 0, fmt.Errorf("invalid cpus %q: want a number such as 0.5, 2 or \"500m\"", string(c))
	}
	return f / div, nil
}

// UnmarshalJSON accepts a string or a number.
func (c *CPUs) UnmarshalJSON(b []byte) error {
	s, err := stringOrNumber(b, "cpus")
	if err != nil {
		return err
	}
	*c = CPUs(s)
	return nil
}

func stringOrNumber(b []byte, what string) (string, error) {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", fmt.Errorf("%s must be a string or a number, not %s", what, bytes.TrimSpace(b))
	}
	return n.String(), nil
}

// IntOrString holds a port number or a port name.
type IntOrString struct {
	IntVal int32
	StrVal string
	IsStr  bool
}

// FromInt returns an IntOrString holding a number.
func FromInt(i int) IntOrString { return IntOrString{IntVal: int32(i)} }

// FromString returns an IntOrString holding a name.
func FromString(s string) IntOrString { return IntOrString{StrVal: s, IsStr: true} }

// IsZero reports whether nothing is set.
func (v IntOrString) IsZero() bool { return !v.IsStr && v.IntVal == 0 }

// String returns the name or the number as text.
func (v IntOrString) String() string {
	if v.IsStr {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// MarshalJSON writes a number or a string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsStr {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = FromString(s)
		return nil
	}
	var i int64
	if err := json.Unmarshal(b, &i); err != nil {
		return fmt.Errorf("must be a port number or a port name, not %s", bytes.TrimSpace(b))
	}
	if i < math.MinInt32 || i > math.MaxInt32 {
		return fmt.Errorf("port %d out of range", i)
	}
	*v = FromInt(int(i))
	return nil
}
