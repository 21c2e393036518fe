package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Document is one object decoded from a manifest.
type Document struct {
	// Source is the file the document came from ("-" for standard input).
	Source string
	// Index is the document's 1-based position in Source.
	Index int
	// Object is the decoded object, not yet defaulted.
	Object Object
	node   *yaml.Node
	path   string // "" for a top-level document, "items[3]" inside a List
}

// Error is one problem with a manifest, located as precisely as is known:
// source, document, line, object and field.
type Error struct {
	Source string
	Doc    int
	Line   int
	Kind   string
	Name   string
	Field  string
	Msg    string
}

// Error formats the problem as "file:line: document N (unit/name): field: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Doc > 0 {
		fmt.Fprintf(&b, "document %d", e.Doc)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%s/%s)", strings.ToLower(e.Kind), e.Name)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem of one manifest or one apply.
type ErrorList []*Error

// Error joins the problems one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Err returns l as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Errorf returns an Error about field of the document, with its line.
func (d *Document) Errorf(field, format string, args ...any) *Error {
	e := &Error{Source: d.Source, Doc: d.Index, Field: field, Msg: fmt.Sprintf(format, args...), Line: d.LineOf(field)}
	if d.Object != nil {
		e.Kind = KindOf(d.Object)
		e.Name = d.Object.GetObjectMeta().Name
	}
	return e
}

// Decode reads every document of a YAML or JSON manifest (several YAML
// documents separated by "---", or a berth List). Empty documents are
// skipped. It returns the objects that decoded and one Error for each
// problem, with file, document, field and line. The manifest is one source
// with the limits of a Decoder.
func Decode(source string, data []byte) ([]*Document, ErrorList) {
	var d Decoder
	return d.Decode(source, data)
}

// Decode decodes one file of the Decoder's source, as the package-level
// Decode does, against what remains of the source's limits. Each document
// is measured before it is decoded: a document that goes over a limit is
// refused with an Error naming the file, the document, the limit and its
// value, and nothing after it in the file is read. Documents before it are
// still returned, with their problems, so the caller sees every problem
// (and writes nothing when there is one).
func (d *Decoder) Decode(source string, data []byte) ([]*Document, ErrorList) {
	var docs []*Document
	errs := d.each(source, data, func(index int, n *yaml.Node) ErrorList {
		ds, derrs := decodeDocument(source, index, n, "")
		docs = append(docs, ds...)
		return derrs
	})
	return docs, errs
}

// Check measures one file of the Decoder's source against the limits, as
// Decode does, without decoding it: invalid YAML, and the first document
// over a limit, are its problems. A reader that takes less of a manifest
// than Decode (the kind and name of each document, as delete -f does) calls
// it before walking the YAML itself.
func (d *Decoder) Check(source string, data []byte) ErrorList {
	return d.each(source, data, func(int, *yaml.Node) ErrorList { return nil })
}

// each parses data and calls fn with each non-empty document of it, once
// measured within the source's limits, until one is not; it returns the
// problems of parsing and measuring, and those fn returns.
func (d *Decoder) each(source string, data []byte, fn func(index int, n *yaml.Node) ErrorList) ErrorList {
	if d.over {
		return nil
	}
	d.files++
	if d.bytes+len(data) > MaxManifestBytes {
		d.over = true
		msg := fmt.Sprintf("manifest is %d bytes, more than the limit of %d bytes (16 MiB) for one manifest source", len(data), MaxManifestBytes)
		if d.bytes > 0 {
			msg = fmt.Sprintf("manifest of %d bytes brings its source to %d bytes, more than the limit of %d bytes (16 MiB) for %s", len(data), d.bytes+len(data), MaxManifestBytes, d.source())
		}
		return ErrorList{{Source: source, Msg: msg}}
	}
	d.bytes += len(data)
	var errs ErrorList
	sizes := newSizer()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 1; ; index++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &Error{Source: source, Doc: index, Line: yamlErrorLine(err), Msg: "invalid YAML: " + yamlErrorMsg(err)})
			break // the parser cannot go on after a syntax error
		}
		n := &root
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				continue
			}
			n = n.Content[0]
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		if problem := d.count(sizes, source, index, n); problem != nil {
			errs = append(errs, problem)
			break // read nothing more of a source over its limits
		}
		errs = append(errs, fn(index, n)...)
	}
	return errs
}

// decodeDocument decodes the document n, a List's items one by one; the
// Decoder has measured it, so its Lists and aliases are within limits.
func decodeDocument(source string, index int, n *yaml.Node, prefix string) ([]*Document, ErrorList) {
	bad := func(line int, field, format string, args ...any) ErrorList {
		return ErrorList{{Source: source, Doc: index, Line: line, Field: joinPath(prefix, field), Msg: fmt.Sprintf(format, args...)}}
	}
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return nil, bad(n.Line, "", "a document must be a mapping with apiVersion, kind, metadata and spec")
	}
	apiVersion, kind := scalarField(n, "apiVersion"), scalarField(n, "kind")
	if kind == nil {
		return nil, bad(n.Line, "kind", "is required: supported kinds: %s", strings.Join(AppliableKinds, ", "))
	}
	if kind.Value == "List" {
		items := mapValue(n, "items")
		if items == nil || resolveAlias(items).Kind != yaml.SequenceNode {
			return nil, bad(kind.Line, "items", "a List needs a sequence of items")
		}
		var docs []*Document
		var errs ErrorList
		for i, it := range resolveAlias(items).Content {
			d, e := decodeDocument(source, index, it, joinPath(prefix, idx("items", i)))
			docs = append(docs, d...)
			errs = append(errs, e...)
		}
		return docs, errs
	}
	if apiVersion == nil {
		return nil, bad(n.Line, "apiVersion", "is required: supported: %s", APIVersion)
	}
	if apiVersion.Value != APIVersion {
		return nil, bad(apiVersion.Line, "apiVersion", "unsupported apiVersion %q: supported: %s", apiVersion.Value, APIVersion)
	}
	if kind.Value == KindHost {
		return nil, bad(kind.Line, "kind", "Host objects are written by berth's controllers and cannot be applied")
	}
	obj := New(kind.Value)
	if obj == nil {
		return nil, bad(kind.Line, "kind", "unsupported kind %q: supported kinds: %s", kind.Value, strings.Join(AppliableKinds, ", "))
	}
	d := &Document{Source: source, Index: index, Object: obj, node: n, path: prefix}
	c := converter{doc: d}
	v := c.convert(n, reflect.TypeOf(obj).Elem(), "")
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, obj)
	}
	if err != nil {
		return nil, bad(n.Line, "", "%v", err)
	}
	if obj.GetObjectMeta().Name == "" {
		return nil, ErrorList{d.Errorf("metadata.name", "is required")}
	}
	return []*Document{d}, nil
}

var (
	unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	timeType        = reflect.TypeOf(time.Time{})
)

// converter turns a YAML node into JSON values of exactly the shape of a Go
// type, reporting unknown fields and wrong types with their path and line.
type converter struct {
	doc  *Document
	errs ErrorList
}

func (c *converter) fail(n *yaml.Node, path, format string, args ...any) {
	e := &Error{Source: c.doc.Source, Doc: c.doc.Index, Line: n.Line, Field: joinPath(c.doc.path, path), Msg: fmt.Sprintf(format, args...)}
	if c.doc.Object != nil {
		e.Kind = KindOf(c.doc.Object)
		if name := scalarField(mapValue(c.doc.node, "metadata"), "name"); name != nil {
			e.Name = name.Value
		}
	}
	c.errs = append(c.errs, e)
}

func (c *converter) convert(n *yaml.Node, t reflect.Type, path string) any {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		if n.Kind != yaml.ScalarNode {
			c.fail(n, path, "must be a time such as 2026-12-31T23:00:00Z")
			return nil
		}
		if _, err := time.Parse(time.RFC3339, n.Value); err != nil {
			c.fail(n, path, "invalid time %q: use RFC 3339, such as 2026-12-31T23:00:00Z", n.Value)
			return nil
		}
		return n.Value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		v := c.generic(n)
		b, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b)
		}
		if err != nil {
			c.fail(n, path, "%v", err)
			return nil
		}
		return v
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "must be a mapping, not %s", describe(n))
			return nil
		}
		fields := jsonFields(t)
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				c.fail(k, joinPath(path, k.Value), "unknown field %q", k.Value)
				continue
			}
			if _, dup := out[k.Value]; dup {
				c.fail(k, joinPath(path, k.Value), "field %q is set twice", k.Value)
				continue
			}
			out[k.Value] = c.convert(v, f, joinPath(path, k.Value))
		}
		return out
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "must be a mapping, not %s", describe(n))
			return nil
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolveAlias(n.Content[i]), n.Content[i+1]
			kp := key(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				c.fail(k, path, "keys must be strings")
				continue
			}
			if _, dup := out[k.Value]; dup {
				c.fail(k, kp, "key %q is set twice", k.Value)
				continue
			}
			out[k.Value] = c.convert(v, t.Elem(), kp)
		}
		return out
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "must be a list, not %s", describe(n))
			return nil
		}
		out := make([]any, len(n.Content))
		for i, it := range n.Content {
			out[i] = c.convert(it, t.Elem(), idx(path, i))
		}
		return out
	case reflect.Array:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "must be a list, not %s", describe(n))
			return nil
		}
		out := make([]any, len(n.Content))
		for i, it := range n.Content {
			out[i] = c.convert(it, t.Elem(), idx(path, i))
		}
		return out
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.fail(n, path, "must be a string, not %s", describe(n))
			return nil
		}
		// A number or a boolean where text is expected is taken as written
		// ("1.10" stays "1.10").
		return n.Value
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			c.fail(n, path, "must be true or false, not %s", describe(n))
			return nil
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return b
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			c.fail(n, path, "must be a whole number, not %s", describe(n))
			return nil
		}
		i, err := strconv.ParseInt(n.Value, 0, t.Bits())
		if err != nil {
			c.fail(n, path, "%s is not a whole number in range", n.Value)
			return nil
		}
		return i
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			c.fail(n, path, "must be a number, not %s", describe(n))
			return nil
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			c.fail(n, path, "%s is not a number", n.Value)
			return nil
		}
		return f
	case reflect.Interface:
		return c.generic(n)
	}
	c.fail(n, path, "cannot decode into %s", t)
	return nil
}

// jsonFields maps the JSON names of a struct's fields, embedded ones
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// generic converts a node into plain JSON values without a target type.
func (c *converter) generic(n *yaml.Node) any {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[resolveAlias(n.Content[i]).Value] = c.generic(n.Content[i+1])
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, it := range n.Content {
			out[i] = c.generic(it)
		}
		return out
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			b, _ := strconv.ParseBool(strings.ToLower(n.Value))
			return b
		case "!!int", "!!float":
			if _, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
				return json.Number(strings.ReplaceAll(n.Value, "_", ""))
			}
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10))
			}
		}
		return n.Value
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!null":
		return "null"
	}
	return n.Value
}

func mapValue(n *yaml.Node, k string) *yaml.Node {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalarField(n *yaml.Node, k string) *yaml.Node {
	v := resolveAlias(mapValue(n, k))
	if v == nil || v.Kind != yaml.ScalarNode {
		return nil
	}
	return v
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

var pathTokenRe = regexp.MustCompile(`^(?:\.?([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])`)

// LineOf returns the line of a field path (as in FieldError.Field) in the
// document, or of its nearest parent that is written, or 0.
func (d *Document) LineOf(field string) int {
	if d.node == nil {
		return 0
	}
	n := d.node
	line := n.Line
	rest := field
	for rest != "" {
		m := pathTokenRe.FindStringSubmatch(rest)
		if m == nil {
			break
		}
		rest = rest[len(m[0]):]
		n = resolveAlias(n)
		var next *yaml.Node
		switch {
		case m[1] != "":
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == m[1] {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		case m[2] != "":
			i, _ := strconv.Atoi(m[2])
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		case m[3] != "":
			k, _ := strconv.Unquote(m[3])
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		l, _ := strconv.Atoi(m[1])
		return l
	}
	return 0
}

var yamlLinePrefixRe = regexp.MustCompile(`^(yaml: )?line \d+: `)

func yamlErrorMsg(err error) string {
	return strings.TrimPrefix(yamlLinePrefixRe.ReplaceAllString(err.Error(), ""), "yaml: ")
}
