package convert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/convert"
)

// The converters take what users wrote, so no input may make them panic,
// and every object they return must be one applyctl apply accepts.

// seed adds the fixtures of testdata/ that match glob.
func seed(f *testing.F, glob string) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// valid fails the fuzz test when an object converted does not validate.
func valid(t *testing.T, res convert.Result) {
	t.Helper()
	objs := make([]v1.Object, len(res.Objects))
	for i, o := range res.Objects {
		v1.Default(o.Object)
		for _, e := range v1.Validate(o.Object) {
			t.Errorf("%s/%s: %v", v1.KindOf(o.Object), o.Object.GetObjectMeta().Name, e)
		}
		objs[i] = o.Object
	}
	for _, e := range v1.ValidateSet(objs, nil) {
		t.Errorf("%s: %v", objs[e.Index].GetObjectMeta().Name, e.FieldError)
	}
	for _, fd := range res.Findings {
		if fd.Msg == "" {
			t.Errorf("a finding without a message at %s:%d", fd.File, fd.Line)
		}
	}
}

func FuzzSystemd(f *testing.F) {
	seed(f, "*.service")
	f.Add([]byte("[Service]\nExecStart=docker run -p 80:80 -p 80:80 -v /a:/b -v /c:/b x\n"))
	f.Add([]byte("[Unit]\nRequires=a.service\n[Service]\nExecStart=/bin/sh -c 'docker run --name \"$x\" i'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res := convert.Systemd([]convert.File{{Name: "fuzz.service", Data: data}, {Name: "other.service", Data: []byte("[Service]\nExecStart=docker run --name a x\n")}}, convert.Host{})
		valid(t, res)
	})
}

func FuzzDockerRun(f *testing.F) {
	f.Add("--name web -p 8080:80 -v /data:/data -e A=b --restart on-failure:3 --health-cmd true nginx:1 -g daemon")
	f.Add("-it --rm --mount type=bind,src=/a,dst=/b,ro -p [::1]:80:80/udp --cap-add net_admin --memory 1g --cpus .5 img")
	f.Add("--network container:x --link a:b --stop-timeout 5 --stop-signal 9 -l a=b -w /x -u 1 img")
	f.Fuzz(func(t *testing.T, line string) {
		if run, err := convert.ParseDockerRun(strings.Fields(line), convert.RunContext{}); err == nil {
			for _, is := range run.Issues {
				if is.Msg == "" {
					t.Errorf("an issue without a message")
				}
			}
		}
		// As the ExecStart= of a unit, what it converts to must apply.
		unit := "[Service]\nExecStart=docker run " + strings.NewReplacer("\n", " ", "\r", " ", "\\", "").Replace(line) + "\n"
		valid(t, convert.Systemd([]convert.File{{Name: "fuzz.service", Data: []byte(unit)}}, convert.Host{}))
	})
}

func FuzzCompose(f *testing.F) {
	seed(f, "compose*.yaml")
	f.Add([]byte("services:\n  a:\n    image: x\n    ports: ['80:80', '80:80']\n    depends_on: [a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := convert.Compose(ctx, convert.ComposeInput{
			Files: []convert.File{{Name: "compose.yaml", Data: data}}, WorkingDir: "/nonexistent/fuzz", Env: map[string]string{},
		}, convert.Host{})
		if err != nil {
			return
		}
		valid(t, res)
	})
}

func FuzzHelios(f *testing.F) {
	seed(f, "*.json")
	f.Add([]byte(`{"id":"a:1","image":"x","ports":{"p":{"internalPort":80,"externalPort":80},"q":{"internalPort":80,"externalPort":80}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := convert.Helios(convert.File{Name: "fuzz.json", Data: data})
		if err != nil {
			return
		}
		valid(t, res)
	})
}
