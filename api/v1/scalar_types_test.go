package v1

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A duration reads the same whether its string is plain or escaped, and
// anything but a string of a duration is refused with what it was.
func TestDurationUnmarshal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: `"10s"`, want: 10 * time.Second},
		{in: `"1m30s"`, want: 90 * time.Second},
		{in: `" 2h "`, want: 2 * time.Hour},
		{in: `"1\u0073"`, want: time.Second},
		{in: `"\"1s\""`, err: `invalid duration "\"1s\""`},
		{in: `""`, err: `invalid duration ""`},
		{in: `"-1s"`, err: "must not be negative"},
		{in: `10`, err: "a duration must be a string such as \"10s\" or \"5m\", not 10"},
		{in: `null`, err: `invalid duration ""`},
	} {
		var v struct {
			D Duration `json:"d"`
		}
		err := json.Unmarshal([]byte(`{"d":`+tc.in+`}`), &v)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err == "" && v.D.Duration != tc.want:
			t.Errorf("%s = %s; want %s", tc.in, v.D.Duration, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v; want one saying %q", tc.in, err, tc.err)
		}
	}
}
