package convert

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	yaml2 "sigs.k8s.io/yaml/goyaml.v2"

	v1 "berth.dev/berth/api/v1"
)

// Format is the kind of an input file.
type Format string

// Values of Format.
const (
	FormatSystemd Format = "systemd"
	FormatCompose Format = "compose"
	FormatHelios  Format = "helios"
)

// Options are what Convert needs beyond the files.
type Options struct {
	// Env is the environment of the command: compose interpolates with
	// it, over the project's .env.
	Env map[string]string
	// EnvFiles replace the compose project's .env (docker compose
	// --env-file).
	EnvFiles []File
	// Profiles are compose's active profiles.
	Profiles []string
	// ProjectName overrides the compose project's name.
	ProjectName string
	// WorkingDir is the compose project's directory, absolute; "" is the
	// directory of the first compose file.
	WorkingDir string
	Host       Host
}

// DetectFormat tells what a file is from its name, then its content:
// *.service (and the other unit suffixes) is a systemd unit, a YAML file
// with top-level services a compose file, a JSON object with image or id
// (or a map or list of them) a Helios job.
func DetectFormat(f File) (Format, error) {
	base := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
	ext := strings.ToLower(path.Ext(base))
	switch ext {
	case ".service":
		return FormatSystemd, nil
	case ".json":
		return FormatHelios, nil
	case ".yaml", ".yml":
		var top map[string]any
		if err := yaml.Unmarshal(f.Data, &top); err == nil {
			if _, ok := top["services"]; ok {
				return FormatCompose, nil
			}
			if _, ok := top["apiVersion"]; ok {
				return "", fmt.Errorf("%s is a berth manifest already: apply it", f.Name)
			}
		}
		if strings.Contains(base, "compose") {
			return FormatCompose, nil
		}
		return "", fmt.Errorf("%s is YAML without services: not a compose file", f.Name)
	}
	trimmed := bytes.TrimSpace(f.Data)
	switch {
	case bytes.Contains(f.Data, []byte("[Service]")) || bytes.HasPrefix(trimmed, []byte("[Unit]")):
		return FormatSystemd, nil
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
		return FormatHelios, nil
	}
	var top map[string]any
	if err := yaml.Unmarshal(f.Data, &top); err == nil {
		if _, ok := top["services"]; ok {
			return FormatCompose, nil
		}
	}
	return "", fmt.Errorf("cannot tell what %s is: name a systemd unit *.service, a compose file compose.yaml and a Helios job *.json", f.Name)
}

// Convert converts every file by its format: the systemd units together
// (their dependencies link them), the compose files as one project (merged
// in order, from the directory of the first), and each Helios job file.
// Objects come in the order of the files. A compose project that does not
// load, or a file of no known format, is an error and nothing is returned.
func Convert(ctx context.Context, files []File, opts Options) (Result, error) {
	var unitFiles, composeFiles, heliosFiles []File
	for _, f := range files {
		format, err := DetectFormat(f)
		if err != nil {
			return Result{}, err
		}
		switch format {
		case FormatSystemd:
			unitFiles = append(unitFiles, f)
		case FormatCompose:
			composeFiles = append(composeFiles, f)
		case FormatHelios:
			heliosFiles = append(heliosFiles, f)
		}
	}
	var res Result
	if len(unitFiles) > 0 {
		res.add(Systemd(unitFiles, opts.Host))
	}
	if len(composeFiles) > 0 {
		dir := opts.WorkingDir
		if dir == "" {
			dir = path.Dir(composeFiles[0].Name)
		}
		envFiles := opts.EnvFiles
		if envFiles == nil && opts.Host.ReadFile != nil {
			dotenvPath := path.Join(dir, ".env")
			b, err := opts.Host.ReadFile(dotenvPath)
			switch {
			case err == nil:
				envFiles = []File{{Name: dotenvPath, Data: b}}
			case !errors.Is(err, fs.ErrNotExist):
				return Result{}, fmt.Errorf("%s: %v", dotenvPath, unwrapPath(err))
			}
		}
		env, err := ComposeEnv(opts.Env, envFiles)
		if err != nil {
			return Result{}, err
		}
		r, err := Compose(ctx, ComposeInput{Files: composeFiles, WorkingDir: dir, Env: env, Profiles: opts.Profiles, ProjectName: opts.ProjectName}, opts.Host)
		if err != nil {
			return Result{}, err
		}
		res.add(r)
	}
	for _, f := range heliosFiles {
		r, err := Helios(f)
		if err != nil {
			return Result{}, err
		}
		res.add(r)
	}
	sortFindings(res.Findings, files)
	return res, nil
}

// sortFindings orders findings by file, in the order the files were
// given, then by line.
func sortFindings(fs []Finding, files []File) {
	order := map[string]int{}
	for i, f := range files {
		order[f.Name] = i
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(order[a.File], order[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
}

// Manifest writes the objects as YAML documents that applyctl apply
// takes, each after a comment naming the file it came from; or, with
// asJSON, as one berth List.
func Manifest(objs []Object, asJSON bool) ([]byte, error) {
	if asJSON {
		items := make([]v1.Object, len(objs))
		for i, o := range objs {
			items[i] = o.Object
		}
		list := struct {
			APIVersion string      `json:"apiVersion"`
			Kind       string      `json:"kind"`
			Items      []v1.Object `json:"items"`
		}{v1.APIVersion, "List", items}
		b, err := json.MarshalIndent(list, "", "    ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	}
	var out bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			out.WriteString("---\n")
		}
		if o.Source != "" {
			fmt.Fprintf(&out, "# Source: %s\n", o.Source)
		}
		b, err := json.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		var m yaml2.MapSlice
		if err := yaml2.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		y, err := yaml2.Marshal(m)
		if err != nil {
			return nil, err
		}
		out.Write(y)
	}
	return out.Bytes(), nil
}
