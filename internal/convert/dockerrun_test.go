package convert_test

import (
	"encoding/json"
	"strings"
	"testing"

	"berth.dev/berth/internal/convert"
)

// TestParseDockerRun: docker run's flags, parsed as Docker parses them,
// land in the container template; the rest are reported by name.
func TestParseDockerRun(t *testing.T) {
	env := map[string]string{"FROM_ENV": "yes"}
	rc := convert.RunContext{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for _, tc := range []struct {
		args    string
		want    string // a fragment of the template as JSON
		issue   string // a fragment of an issue, "" for none
		wantErr string
	}{
		{"-p 127.0.0.1:80:8080/udp img", `"ports":[{"containerPort":8080,"hostPort":80,"hostIP":"127.0.0.1","protocol":"udp"}]`, "", ""},
		{"-p 8000 img", `"ports":[{"containerPort":8000}]`, "", ""},
		{"-e A=1 -e FROM_ENV -e MISSING img", `"env":[{"name":"A","value":"1"},{"name":"FROM_ENV","value":"yes"}]`, "", ""},
		{"--mount type=volume,src=data,dst=/d,readonly img", `"volumes":[{"name":"data","containerPath":"/d","readOnly":true}]`, "", ""},
		{"-v data:/d -v /h:/c:ro img", `"volumes":[{"name":"data","containerPath":"/d"},{"hostPath":"/h","type":"DirectoryOrCreate","containerPath":"/c","readOnly":true}]`, "", ""},
		{"--entrypoint /bin/app img a b", `"command":["/bin/app"],"args":["a","b"]`, "", ""},
		{"-itd --rm img", `"image":"img"`, "--interactive: not converted", ""},
		{"--restart=on-failure:2 img", `"image":"img"`, "restart on-failure:2: berth does not count retries", ""},
		{"--memory 1g --cpus 0.25 img", `"resources":{"cpus":"0.25","memory":"1Gi"}`, "", ""},
		{"--network host img", `"networkMode":"host"`, "", ""},
		{"--health-cmd 'pg_isready' --health-timeout 2s img", `"healthCheck":{"exec":{"command":["/bin/sh","-c","'pg_isready'"]},"interval":"30s","timeout":"2s","retries":3}`, "", ""},
		{"--sysctl net.core.somaxconn=1024 img", `"image":"img"`, "--sysctl net.core.somaxconn=1024: not converted", ""},
		{"--no-such-flag img", "", "", "unknown flag: --no-such-flag"},
		{"--name x", "", "", "no image"},
		{"img --name x", `"args":["--name","x"]`, "", ""},
	} {
		run, err := convert.ParseDockerRun(strings.Fields(tc.args), rc)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("docker run %s: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("docker run %s: %v", tc.args, err)
			continue
		}
		b, _ := json.Marshal(run.Template)
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("docker run %s: template %s, want %s in it", tc.args, b, tc.want)
		}
		var issues []string
		for _, is := range run.Issues {
			issues = append(issues, is.Msg)
		}
		all := strings.Join(issues, "\n")
		if tc.issue == "" && len(issues) > 0 || !strings.Contains(all, tc.issue) {
			t.Errorf("docker run %s: issues %q, want %q", tc.args, all, tc.issue)
		}
	}
}
