package v1

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// listBomb is a List whose items are Lists of aliases of the List before:
// levels Lists of width items each, the first holding a small Unit, so it
// names width + width^2 + ... + width^levels Units in a few hundred bytes.
func listBomb(width, levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: berth.dev/v1\nkind: List\nitems:\n")
	b.WriteString("- &l1 {kind: List, items: [&u {apiVersion: berth.dev/v1, kind: Unit, metadata: {name: a}, spec: {container: {image: x}}}")
	b.WriteString(strings.Repeat(", *u", width-1) + "]}\n")
	for i := 2; i <= levels; i++ {
		fmt.Fprintf(&b, "- &l%d {kind: List, items: [*l%d%s]}\n", i, i-1, strings.Repeat(fmt.Sprintf(", *l%d", i-1), width-1))
	}
	return b.String()
}

// aliasChain nests a label value depth lists deep through aliases.
func aliasChain(depth int) string {
	var b strings.Builder
	b.WriteString("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: deep}\nspec:\n  container:\n    image: x\n    labels:\n      a0: &a0 [x]\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "      a%d: &a%d [*a%d]\n", i, i, i-1)
	}
	return b.String()
}

// nestedLists nests a Unit depth Lists deep, without aliases.
func nestedLists(depth int) string {
	doc := "{apiVersion: berth.dev/v1, kind: Unit, metadata: {name: a}, spec: {container: {image: x}}}"
	for range depth {
		doc = "{kind: List, items: [" + doc + "]}"
	}
	return doc + "\n"
}

// valuesDoc is a Unit of about n values: its env lists n/3 aliases of one
// variable (a mapping of three values), anchored as &env<name>.
func valuesDoc(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  container:\n    image: x\n", name)
	fmt.Fprintf(&b, "    env: &env%s [&e%s {name: A, value: x}%s]\n", name, name, strings.Repeat(", *e"+name, n/3-1))
	return b.String()
}

// aliasOf is a Unit whose env is an alias of another's (valuesDoc).
func aliasOf(name, of string) string {
	return fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec: {container: {image: x, env: *env%s}}\n", name, of)
}

// TestDecodeLimits: a manifest source is refused, naming the file and the
// limit with its value, when it holds more values (YAML aliases and List
// items expanded), more documents, deeper nesting or more bytes than a
// source may; and refusing it costs little memory, however much it would
// expand to. The cases run in order and stop at the first that fails, so
// that a decoder without these limits fails on a small bomb instead of
// running out of memory on a large one.
func TestDecodeLimits(t *testing.T) {
	type file struct{ name, data string }
	tests := []struct {
		name  string
		files []file // decoded in order by one Decoder: one source
		want  []string
		// mib bounds the memory allocated to decode the files (0: 16 MiB),
		// whatever their aliases expand to: a source refused by its
		// limits costs its parse tree and the documents decoded before the
		// one that went over.
		mib uint64
	}{
		{"a hundred thousand Units through nested Lists",
			[]file{{"bomb.yaml", listBomb(10, 5)}},
			[]string{"bomb.yaml", "more than the limit of 200000 values", "aliases"}, 0},
		{"a million Units through nested Lists, under 1 KiB",
			[]file{{"bomb.yaml", listBomb(10, 6)}},
			[]string{"bomb.yaml", "more than the limit of 200000 values"}, 0},
		{"ten billion values through nested aliases, as before",
			[]file{{"labels.yaml", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: x}\nspec: {container: {image: x, labels: {l: &l0 [a, a, a, a, a, a, a, a, a, a]}, stopTimeout: " +
				func() string {
					s := ""
					for i := 1; i <= 10; i++ {
						s += fmt.Sprintf("&l%d [%s*l%d], ", i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
					}
					return "[" + s + "x]"
				}() + "}}\n"}},
			[]string{"labels.yaml", "more than the limit of 200000 values"}, 0},
		{"a List that contains itself",
			[]file{{"self.yaml", "&l {kind: List, items: [*l]}\n"}},
			[]string{"self.yaml", "document 1", "contains itself"}, 0},
		{"a value that contains itself",
			[]file{{"self.yaml", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: x}\nspec: {container: {image: x, labels: &l {a: *l}}}\n"}},
			[]string{"self.yaml", "document 1", "contains itself"}, 0},
		{"more documents than a source may hold",
			[]file{{"many.yaml", listBomb(22, 3)}},
			[]string{"many.yaml", "more than the limit of 10000 documents"}, 0},
		{"Lists nested too deep",
			[]file{{"deep.yaml", nestedLists(9)}},
			[]string{"deep.yaml", "document 1", "Lists nested more than 8 deep"}, 0},
		{"values nested too deep",
			[]file{{"deep.yaml", aliasChain(120)}},
			[]string{"deep.yaml", "document 1", "nested more than 100 deep"}, 0},
		{"values of several documents add up",
			[]file{{"docs.yaml", valuesDoc("a", 90000) + "---\n" + valuesDoc("b", 90000) + "---\n" + valuesDoc("c", 90000)}},
			[]string{"docs.yaml", "document 3", "more than the limit of 200000 values"}, 160},
		{"an alias of an earlier document counts again",
			[]file{{"docs.yaml", valuesDoc("a", 90000) + "---\n" + aliasOf("b", "a") + "---\n" + aliasOf("c", "a")}},
			[]string{"docs.yaml", "document 3", "more than the limit of 200000 values"}, 160},
		{"values of the files of one source add up",
			[]file{{"a.yaml", valuesDoc("a", 150000)}, {"b.yaml", valuesDoc("b", 150000)}, {"c.yaml", "kind: Unit\nspec: {bogus: 1}\n"}},
			[]string{"b.yaml", "more than the limit of 200000 values"}, 160},
		{"bytes of the files of one source add up",
			[]file{{"a.yaml", "# " + strings.Repeat("x", 10<<20) + "\n"}, {"b.yaml", "# " + strings.Repeat("x", 10<<20) + "\n"}},
			[]string{"b.yaml", "more than the limit of 16777216 bytes"}, 128},
	}
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.files {
				if strings.Contains(tt.name, "under 1 KiB") && len(f.data) >= 1024 {
					t.Fatalf("%s is %d bytes, want under 1 KiB", f.name, len(f.data))
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var dec Decoder
			var docs []*Document
			var errs ErrorList
			for _, f := range tt.files {
				d, e := dec.Decode(f.name, []byte(f.data))
				docs = append(docs, d...)
				errs = append(errs, e...)
			}
			runtime.ReadMemStats(&after)
			if len(errs) != 1 {
				t.Fatalf("got %d documents and %d errors, want one error: %.300v", len(docs), len(errs), errs)
			}
			msg := errs[0].Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			limit := max(tt.mib, 16) << 20
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("decoding allocated %d MiB, want at most %d MiB", got>>20, limit>>20)
			}
		})
		if !ok {
			break
		}
	}
}

// TestDecodeWithinLimits: a source just within the limits decodes, and a
// fresh Decoder starts with a full budget.
func TestDecodeWithinLimits(t *testing.T) {
	var dec Decoder
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if _, errs := dec.Decode(f, []byte(valuesDoc("a", 90000))); len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
	}
	docs, errs := Decode("c.yaml", []byte(valuesDoc("c", 190000)+"---\n"+nestedLists(8)+"---\n"+listBomb(10, 3)))
	if len(errs) > 0 || len(docs) != 2+1110 {
		t.Fatalf("got %d documents, %.300v; want 1112 and no error", len(docs), errs)
	}
	_, errs = Decode("d.yaml", []byte(aliasChain(90)))
	for _, e := range errs {
		if strings.Contains(e.Msg, "nested") || strings.Contains(e.Msg, "limit") {
			t.Errorf("values nested 90 deep: %v", e)
		}
	}
}

// TestDecoderCheck: Check refuses what Decode refuses for its limits and
// its YAML, and nothing else: a document with a wrong field passes.
func TestDecoderCheck(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"bomb", listBomb(10, 6), "more than the limit of 200000 values"},
		{"itself", "&l {kind: List, items: [*l]}\n", "contains itself"},
		{"invalid YAML", "a: [\n", "invalid YAML"},
		{"a wrong field", "apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: a}\nspec: {bogus: 1}\n", ""},
	} {
		errs := new(Decoder).Check("m.yaml", []byte(tc.data))
		if tc.want == "" && len(errs) > 0 || tc.want != "" && (len(errs) != 1 || !strings.Contains(errs.Error(), tc.want)) {
			t.Errorf("%s: Check = %v, want %q", tc.name, errs, tc.want)
		}
	}
}
