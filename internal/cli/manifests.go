package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	v1 "berth.dev/berth/api/v1"
)

// source is one manifest file as read.
type source struct {
	name string
	data []byte
}

// manifestExts are the extensions read from a directory.
var manifestExts = []string{".yaml", ".yml", ".json"}

// readSources reads every -f argument: a file, a directory (its *.yaml,
// *.yml and *.json files in name order, recursively with -R) or "-" for
// standard input. A directory without manifests is a problem unless
// emptyOK (apply --prune: an empty input prunes the whole set). Problems
// are returned located by path.
func (a *app) readSources(paths []string, recursive, emptyOK bool) ([]source, v1.ErrorList) {
	var out []source
	var errs v1.ErrorList
	fail := func(path string, format string, args ...any) {
		errs = append(errs, &v1.Error{Source: path, Msg: fmt.Sprintf(format, args...)})
	}
	for _, p := range paths {
		if p == "-" {
			b, err := readManifest(a.in)
			if err != nil {
				fail(p, "read standard input: %v", err)
				continue
			}
			out = append(out, source{p, b})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			fail(p, "%v", cleanPathError(err))
			continue
		}
		if !fi.IsDir() {
			b, err := readManifestFile(p)
			if err != nil {
				fail(p, "%v", cleanPathError(err))
				continue
			}
			out = append(out, source{p, b})
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if slices.Contains(manifestExts, strings.ToLower(filepath.Ext(path))) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			fail(p, "%v", cleanPathError(err))
			continue
		}
		if len(files) == 0 && !emptyOK {
			hint := ""
			if !recursive {
				hint = " (use -R for subdirectories)"
			}
			fail(p, "no manifests (*.yaml, *.yml, *.json) in this directory%s", hint)
			continue
		}
		for _, f := range files {
			b, err := readManifestFile(f)
			if err != nil {
				fail(f, "%v", cleanPathError(err))
				continue
			}
			out = append(out, source{f, b})
		}
	}
	return out, errs
}

// readManifest reads r to its end, or refuses it once it holds more than a
// manifest source may (v1.MaxManifestBytes), without reading further.
func readManifest(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, v1.MaxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > v1.MaxManifestBytes {
		return nil, fmt.Errorf("more than the limit of %d bytes (16 MiB) for one manifest source", v1.MaxManifestBytes)
	}
	return b, nil
}

// readManifestFile reads the file p as readManifest does.
func readManifestFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readManifest(f)
}

// cleanPathError drops the path from an fs.PathError: the caller names it.
func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeAll decodes every source strictly (v1.Decode).
func decodeAll(srcs []source) ([]*v1.Document, v1.ErrorList) {
	var docs []*v1.Document
	var errs v1.ErrorList
	for _, s := range srcs {
		d, e := v1.Decode(s.name, s.data)
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	return docs, errs
}

// sortProblems orders problems by source (in the order given), document
// and line, so each file's problems read together.
func sortProblems(errs v1.ErrorList, srcs []source) {
	order := map[string]int{}
	for i, s := range srcs {
		if _, ok := order[s.name]; !ok {
			order[s.name] = i
		}
	}
	pos := func(e *v1.Error) int {
		if i, ok := order[e.Source]; ok {
			return i
		}
		return -1 // unreadable sources first
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if pa, pb := pos(a), pos(b); pa != pb {
			return pa < pb
		}
		if a.Doc != b.Doc {
			return a.Doc < b.Doc
		}
		return a.Line < b.Line
	})
}

// problems turns manifest problems into the error printed for them.
func problems(errs v1.ErrorList, what string) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	n := "1 problem"
	if len(errs) != 1 {
		n = fmt.Sprintf("%d problems", len(errs))
	}
	return &problemsError{lines: lines, summary: fmt.Sprintf("%s in the manifests: %s", n, what)}
}

// objectRef is the kind and name of one document, as delete -f needs them.
type objectRef struct {
	kind, name string
}

// refsOf reads the kind and name of every document of a manifest without
// checking the rest of it: what delete -f needs from a file that may be
// older or newer than this applyctl. The manifest is held to the limits of
// a source first, as apply holds it.
func refsOf(s source) ([]objectRef, v1.ErrorList) {
	if errs := new(v1.Decoder).Check(s.name, s.data); len(errs) > 0 {
		return nil, errs
	}
	type head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Items []yaml.Node `yaml:"items"`
	}
	var refs []objectRef
	var errs v1.ErrorList
	var add func(n *yaml.Node, index int, path string)
	add = func(n *yaml.Node, index int, path string) {
		fail := func(field, msg string) {
			if path != "" {
				field = path + "." + field
			}
			errs = append(errs, &v1.Error{Source: s.name, Doc: index, Line: n.Line, Field: field, Msg: msg})
		}
		var h head
		if err := n.Decode(&h); err != nil {
			fail("", "a document must be a mapping with apiVersion, kind and metadata")
			return
		}
		if h.Kind == "List" {
			for i := range h.Items {
				p := fmt.Sprintf("items[%d]", i)
				if path != "" {
					p = path + "." + p
				}
				add(&h.Items[i], index, p)
			}
			return
		}
		kind, ok := kindNames[strings.ToLower(h.Kind)]
		if !ok || kind == v1.KindHost || h.Kind != kind {
			fail("kind", fmt.Sprintf("unsupported kind %q: supported kinds: %s", h.Kind, strings.Join(v1.AppliableKinds, ", ")))
			return
		}
		if h.Metadata.Name == "" {
			fail("metadata.name", "is required")
			return
		}
		refs = append(refs, objectRef{kind, h.Metadata.Name})
	}
	dec := yaml.NewDecoder(bytes.NewReader(s.data))
	for index := 1; ; index++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &v1.Error{Source: s.name, Doc: index, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			break
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue
		}
		add(n.Content[0], index, "")
	}
	return refs, errs
}
