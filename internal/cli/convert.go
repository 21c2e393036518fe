package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/convert"
)

func (a *app) convertCommand() *cobra.Command {
	var files, profiles, envFiles []string
	var output, project string
	var allowPartial bool
	cmd := &cobra.Command{
		Use:   "convert -f FILE|DIR|- [-f ...] [-o yaml|json] [--allow-partial] [--profile P] [--env-file F] [-p|--project-name N]",
		Short: "Print berth manifests made from compose files, systemd units that run docker run, and Helios jobs",
		Long: `convert reads what berth's users already run and prints berth manifests
that applyctl apply takes unchanged:

  - systemd unit files (*.service) whose ExecStart= runs docker run become
    Units; Requires=, Wants=, After= and Before= between the files given
    together become requires, wants and after; Restart=, RestartSec=,
    StartLimitBurst=, StartLimitIntervalSec= and Description= are kept;
    dependencies on docker.service are implied;
  - compose files (compose.yaml, docker-compose.yml, or any YAML file with
    services) go through the compose specification's loader (.env,
    interpolation, profiles, extends) as one project; each service becomes
    a Unit and each service with ports a Service;
  - Helios job files (*.json: helios inspect --json, a job config for helios
    create -f, or helios jobs --json) become Jobs.

A directory is read for its *.service and *.json files and its compose file
(compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml, with
its override file), as docker compose reads a directory.

What cannot be carried over is listed on standard error with its file,
line and the reason; notes say what was carried over in another form.
When anything was not carried over convert exits 1 and prints nothing,
unless --allow-partial: then the manifests are printed without it.`,
		Example: `  applyctl convert -f todo.service
  applyctl convert -f /etc/systemd/system/sqliteserver.service -f /etc/systemd/system/sqliteproxy.service
  applyctl convert -f compose.yaml --profile debug -o json
  applyctl convert -f netcat.json | applyctl apply -f -
  applyctl convert -f ./units --allow-partial > berth.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("convert needs -f FILE, DIR or - (standard input)")
			}
			switch output {
			case "", "yaml", "json":
			default:
				return usagef("unsupported output format %q: use yaml or json", output)
			}
			return a.convert(cmd, files, convertOptions{profiles: profiles, envFiles: envFiles, project: project, json: output == "json", allowPartial: allowPartial})
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "filename", "f", nil, "file or directory to convert, or - for standard input (repeatable)")
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json (a List)")
	f.BoolVar(&allowPartial, "allow-partial", false, "print the manifests even when settings were not carried over (they are still listed)")
	f.StringArrayVar(&profiles, "profile", nil, "compose profile to enable (repeatable), as docker compose --profile")
	f.StringArrayVar(&envFiles, "env-file", nil, "compose env file to read instead of the project's .env (repeatable)")
	f.StringVarP(&project, "project-name", "p", "", "compose project name, as docker compose -p")
	return cmd
}

type convertOptions struct {
	profiles, envFiles []string
	project            string
	json, allowPartial bool
}

// composeFileNames are the files docker compose looks for in a directory,
// in its order of preference.
var composeFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

func (a *app) convert(cmd *cobra.Command, paths []string, o convertOptions) error {
	files, workDir, err := a.convertInputs(paths)
	if err != nil {
		return err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var envFiles []convert.File
	for _, p := range o.envFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--env-file %s: %v", p, cleanPathError(err))
		}
		envFiles = append(envFiles, convert.File{Name: p, Data: b})
	}
	res, err := convert.Convert(cmd.Context(), files, convert.Options{
		Env: env, EnvFiles: envFiles, Profiles: o.profiles, ProjectName: o.project, WorkingDir: workDir,
		Host: convert.Host{ReadFile: readLimited, Stat: os.Stat},
	})
	if err != nil {
		return err
	}
	for _, f := range res.Findings {
		fmt.Fprintln(a.err, f)
	}
	if n := res.Dropped(); n > 0 && !o.allowPartial {
		what := "1 setting was"
		if n > 1 {
			what = fmt.Sprintf("%d settings were", n)
		}
		return fmt.Errorf("%s not carried over (listed above): nothing printed; --allow-partial prints the manifests without them", what)
	}
	if len(res.Objects) == 0 {
		return fmt.Errorf("no objects converted from %s", strings.Join(paths, ", "))
	}
	b, err := convert.Manifest(res.Objects, o.json)
	if err != nil {
		return err
	}
	_, err = a.out.Write(b)
	return err
}

// readLimited reads a file the input names (an env file), up to the size
// of a manifest.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, v1.MaxManifestBytes+1))
	if err == nil && len(b) > v1.MaxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, v1.MaxManifestBytes)
	}
	return b, err
}

// convertInputs reads every -f argument: a file, "-", or a directory's unit
// files, job files and compose file. It returns the compose project's
// directory, absolute: that of the first compose file, else the current
// directory.
func (a *app) convertInputs(paths []string) ([]convert.File, string, error) {
	var files []convert.File
	var errs v1.ErrorList
	fail := func(p string, err error) {
		errs = append(errs, &v1.Error{Source: p, Msg: cleanPathError(err).Error()})
	}
	add := func(p string) {
		b, err := readLimited(p)
		if err != nil {
			fail(p, err)
			return
		}
		files = append(files, convert.File{Name: p, Data: b})
	}
	workDir := ""
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(io.LimitReader(a.in, v1.MaxManifestBytes+1))
			if err != nil {
				fail(p, err)
				continue
			}
			files = append(files, convert.File{Name: "-", Data: b})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			fail(p, err)
			continue
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			fail(p, err)
			continue
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
				names = append(names, e.Name())
			}
		}
		found := 0
		for _, n := range names {
			if ext := filepath.Ext(n); ext == ".service" || ext == ".json" {
				add(filepath.Join(p, n))
				found++
			}
		}
		for _, n := range composeFileNames {
			if !slices.Contains(names, n) {
				continue
			}
			add(filepath.Join(p, n))
			found++
			override := strings.TrimSuffix(n, filepath.Ext(n)) + ".override" + filepath.Ext(n)
			if slices.Contains(names, override) {
				add(filepath.Join(p, override))
			}
			if workDir == "" {
				workDir = p
			}
			break
		}
		if found == 0 {
			errs = append(errs, &v1.Error{Source: p, Msg: "nothing to convert in this directory: no *.service, *.json or compose file"})
		}
	}
	if len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return nil, "", &problemsError{lines: lines, summary: "nothing converted"}
	}
	for _, f := range files {
		if format, err := convert.DetectFormat(f); workDir == "" && err == nil && format == convert.FormatCompose && f.Name != "-" {
			workDir = filepath.Dir(f.Name)
		}
	}
	if workDir == "" {
		workDir = "."
	}
	abs, err := filepath.Abs(workDir)
	if err != nil {
		return nil, "", err
	}
	return files, abs, nil
}
