package v1

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Limits of one manifest source: one file (or standard input) of an
// apply, or every file a GitSource syncs together. A source that goes over
// one is refused, naming the file, the document and the limit, before its
// documents are converted, so that what a source costs to decode is bounded
// by these, not by what its YAML aliases would expand to.
const (
	// MaxManifestBytes bounds the bytes of a source's files together.
	MaxManifestBytes = 16 << 20
	// MaxManifestValues bounds the values of a source (every scalar,
	// sequence and mapping but mapping keys), counted as if every YAML
	// alias were replaced by what it names: the items of a List, and Lists
	// in Lists, included.
	MaxManifestValues = 200000
	// MaxManifestDocuments bounds the documents of a source, counting the
	// items of Lists rather than the Lists.
	MaxManifestDocuments = 10000
	// MaxListNesting bounds how deep Lists may hold Lists.
	MaxListNesting = 8
	// MaxValueNesting bounds how deep values may be nested, aliases
	// expanded.
	MaxValueNesting = 100
)

// A Decoder decodes the files of one manifest source against one budget of
// the limits above: what one file used is not available to the next. Once
// a file went over a limit, later files of the source are not decoded (the
// one error says why). The zero value is ready to use; a Decoder is not
// safe for concurrent use.
//
//	var dec v1.Decoder
//	for _, f := range files {
//		docs, errs := dec.Decode(f.Name, f.Data)
//		...
//	}
type Decoder struct {
	files, bytes, values, documents int
	// over is set once the source went over a limit: the rest of it is
	// not decoded.
	over bool
}

// source names the source in a message: a file alone, or all the files
// decoded so far together.
func (d *Decoder) source() string {
	if d.files > 1 {
		return "one manifest source (all its files together)"
	}
	return "one manifest source"
}

// count measures the document n (index in source) and counts its values
// and documents against d's budget. It returns the problem, located, when
// the document goes over a limit or an alias in it names a value that
// contains the alias; then nothing more of the source should be decoded.
func (d *Decoder) count(s *sizer, source string, index int, n *yaml.Node) *Error {
	sz, problem := s.measure(n, 1)
	switch {
	case problem != nil:
	case d.values+sz.values > MaxManifestValues:
		problem = &Error{Line: n.Line, Msg: fmt.Sprintf("more than the limit of %d values in %s, YAML aliases expanded and the items of Lists included", MaxManifestValues, d.source())}
	case d.documents+sz.documents > MaxManifestDocuments:
		problem = &Error{Line: n.Line, Msg: fmt.Sprintf("more than the limit of %d documents in %s, the items of Lists counted and YAML aliases expanded", MaxManifestDocuments, d.source())}
	}
	if problem != nil {
		problem.Source, problem.Doc = source, index
		d.over = true
		return problem
	}
	d.values += sz.values
	d.documents += sz.documents
	return nil
}

// size is what a node holds once aliases are expanded: its values (up to
// MaxManifestValues+1) and its height; as a document, the documents it
// stands for (the items of a List, Lists in it expanded; up to
// MaxManifestDocuments+1) and how deep its Lists are nested.
type size struct {
	values, height   int
	documents, lists int
	// items are the documents and List nesting of a sequence's items, which
	// a List's items are.
	items struct{ documents, lists int }
}

// sizer measures the nodes of one file, each anchored node once: a node
// that no alias names is reached only from its parent, so measuring is
// linear in the file, however far the aliases would expand.
type sizer struct {
	anchored map[*yaml.Node]size // measured anchored nodes
	open     map[*yaml.Node]bool // anchored nodes being measured
}

func newSizer() *sizer {
	return &sizer{anchored: map[*yaml.Node]size{}, open: map[*yaml.Node]bool{}}
}

// measure returns the size of n at depth (1 for a document), or the
// problem that makes it too big to decode: values nested deeper than
// MaxValueNesting, Lists deeper than MaxListNesting, or an alias of a
// value that contains the alias.
func (s *sizer) measure(n *yaml.Node, depth int) (size, *Error) {
	if depth > MaxValueNesting {
		return size{}, tooDeep(n)
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return size{values: 1, height: 1, documents: 1}, nil
		}
		if s.open[n.Alias] {
			return size{}, &Error{Line: n.Line, Msg: fmt.Sprintf("alias *%s names a value that contains itself", n.Value)}
		}
		n = n.Alias
	}
	if sz, ok := s.anchored[n]; ok {
		if depth-1+sz.height > MaxValueNesting {
			return size{}, tooDeep(n)
		}
		return sz, nil
	}
	if n.Anchor != "" {
		s.open[n] = true
		defer delete(s.open, n)
	}
	sz := size{values: 1, documents: 1}
	add := func(c *yaml.Node) (size, *Error) {
		csz, err := s.measure(c, depth+1)
		if err != nil {
			return size{}, err
		}
		sz.values = min(sz.values+csz.values, MaxManifestValues+1)
		sz.height = max(sz.height, csz.height)
		return csz, nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			csz, err := add(c)
			if err != nil {
				return size{}, err
			}
			sz.items.documents = min(sz.items.documents+csz.documents, MaxManifestDocuments+1)
			sz.items.lists = max(sz.items.lists, csz.lists)
		}
	case yaml.MappingNode:
		// Keys are not expanded by the decoder: only values count.
		list := isList(n) // its items are what the decoder reads: the first "items"
		for i := 1; i < len(n.Content); i += 2 {
			csz, err := add(n.Content[i])
			if err != nil {
				return size{}, err
			}
			if list && n.Content[i-1].Value == "items" {
				sz.documents, sz.lists = csz.items.documents, csz.items.lists+1
				list = false
			}
		}
		if sz.lists > MaxListNesting {
			return size{}, &Error{Line: n.Line, Msg: fmt.Sprintf("Lists nested more than %d deep, the limit of a manifest", MaxListNesting)}
		}
	}
	sz.height++
	if n.Anchor != "" {
		s.anchored[n] = sz
	}
	return sz, nil
}

// isList reports whether the mapping n is a List.
func isList(n *yaml.Node) bool {
	kind := scalarField(n, "kind")
	return kind != nil && kind.Value == "List"
}

func tooDeep(n *yaml.Node) *Error {
	return &Error{Line: n.Line, Msg: fmt.Sprintf("values nested more than %d deep (YAML aliases expanded), the limit of a manifest", MaxValueNesting)}
}
