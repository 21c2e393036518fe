package convert

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// splitCommand splits a command line into words as systemd splits
// ExecStart= (and as a shell splits a simple command): words separated by
// blanks, single and double quotes grouping, C-style backslash escapes.
// spec resolves a %-specifier ("%n"); nil leaves '%' as written.
func splitCommand(s string, spec func(byte) (string, bool)) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
			inWord = true
			continue
		case quote != 0 && c == quote:
			quote = 0
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("a backslash ends the line")
			}
			n, r := unescape(s[i+1:])
			cur.WriteString(r)
			i += n
			inWord = true
			continue
		case c == '%' && spec != nil:
			if i+1 >= len(s) {
				return nil, fmt.Errorf("'%%' ends the line")
			}
			v, ok := spec(s[i+1])
			if !ok {
				return nil, fmt.Errorf("specifier %%%c is not known here", s[i+1])
			}
			cur.WriteString(v)
			i++
			inWord = true
			continue
		}
		cur.WriteByte(c)
		inWord = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unescape reads one C-style escape after a backslash and returns how many
// bytes it took and what it stands for.
func unescape(s string) (int, string) {
	switch s[0] {
	case 'a':
		return 1, "\a"
	case 'b':
		return 1, "\b"
	case 'f':
		return 1, "\f"
	case 'n':
		return 1, "\n"
	case 'r':
		return 1, "\r"
	case 't':
		return 1, "\t"
	case 'v':
		return 1, "\v"
	case 's':
		return 1, " "
	case 'x':
		if len(s) >= 3 {
			if b, err := strconv.ParseUint(s[1:3], 16, 8); err == nil {
				return 3, string(rune(b))
			}
		}
	case '0', '1', '2', '3':
		if len(s) >= 3 {
			if b, err := strconv.ParseUint(s[0:3], 8, 8); err == nil {
				return 3, string(rune(b))
			}
		}
	}
	return 1, s[:1]
}

var (
	wholeVarRe  = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
	bracedVarRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$`)
)

// expandEnv substitutes environment variables in split words as systemd
// does in ExecStart=: a word that is exactly $NAME becomes the value split
// at blanks (zero or more words), ${NAME} anywhere becomes the value as one
// piece, $$ is a '$'. Names lookup does not know are reported in missing
// and expand to nothing, as systemd expands them.
func expandEnv(words []string, lookup func(string) (string, bool)) (out []string, missing []string) {
	get := func(name string) string {
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	}
	for _, w := range words {
		if m := wholeVarRe.FindStringSubmatch(w); m != nil {
			out = append(out, strings.Fields(get(m[1]))...)
			continue
		}
		out = append(out, bracedVarRe.ReplaceAllStringFunc(w, func(s string) string {
			if s == "$$" {
				return "$"
			}
			return get(s[2 : len(s)-1])
		}))
	}
	return out, missing
}
