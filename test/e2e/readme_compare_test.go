package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README's shell blocks, read as a user reads them, and the comparison
// of what they show with what the commands print. TestReadmeWalkThrough
// runs them; TestReadmeComparison checks the comparison itself.
//
// A block is a ```sh fence. Its commands are the lines that begin with
// "$ " (a line ending in "\" goes on); the lines after a command, up to the
// next one, are the output the README shows for it. A block preceded by
// "<!-- not run: REASON -->" is not run, and every block without a "$ "
// command must be. A command's comment may say "exit N": the exit code
// the README promises (0 when it says nothing).
//
// Output the README shows is compared line by line; a line "..." stands
// for any number of lines. Before comparing, both sides are normalized:
// what varies from run to run (ages, times, container and job ids, IP
// addresses, ephemeral ports, Consul's raft indexes) becomes a
// placeholder, runs of spaces become one, and progress lines ("waiting
// for ...", whose number depends on timing) and the "^C" of a user
// stopping a command are left out. A table (a line
// of upper-case column names, as applyctl prints them) is compared cell by
// cell under its header, so that alignment does not count, and its
// columns of machine facts and ages (AGE, CPUS, MEM, LOAD AVG, OS, ...)
// are not compared. States, names, counts, ports and messages are.

// readmeStep is one command of the README and what it shows.
type readmeStep struct {
	line int      // line of the README the command is on
	cmd  string   // as written, comment included
	want []string // the output shown after it
	exit int      // the exit code its comment promises
}

// readmeBlock is one ```sh block.
type readmeBlock struct {
	line   int
	notRun string // the reason of its "<!-- not run: ... -->"
	steps  []readmeStep
}

var (
	fenceRe  = regexp.MustCompile("^(\\s*)```sh\\s*$")
	notRunRe = regexp.MustCompile(`^\s*<!-- not run: (.+?) -->\s*$`)
	exitRe   = regexp.MustCompile(`\bexit (\d+)\b`)
)

// readmeBlocks reads the ```sh blocks of the Markdown file at path.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		blk := readmeBlock{line: i + 1}
		prev := i - 1
		for prev >= 0 && strings.TrimSpace(lines[prev]) == "" {
			prev--
		}
		if prev >= 0 {
			if n := notRunRe.FindStringSubmatch(lines[prev]); n != nil {
				blk.notRun = n[1]
			}
		}
		var step *readmeStep
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			l := strings.TrimPrefix(lines[i], m[1])
			switch {
			case strings.HasPrefix(l, "$ "):
				blk.steps = append(blk.steps, readmeStep{line: i + 1, cmd: strings.TrimPrefix(l, "$ ")})
				step = &blk.steps[len(blk.steps)-1]
				for strings.HasSuffix(step.cmd, "\\") && i+1 < len(lines) {
					i++
					step.cmd += "\n" + strings.TrimPrefix(lines[i], m[1])
				}
			case step != nil:
				step.want = append(step.want, l)
			}
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: the ```sh block is not closed", path, blk.line)
		}
		for j := range blk.steps {
			s := &blk.steps[j]
			s.want = trimBlankEnd(s.want)
			if m := exitRe.FindStringSubmatch(shellComment(s.cmd)); m != nil {
				s.exit, _ = strconv.Atoi(m[1])
			}
		}
		if len(blk.steps) == 0 && blk.notRun == "" {
			t.Fatalf("%s:%d: a ```sh block without a \"$ \" command must say why it is not run: <!-- not run: REASON --> before it", path, blk.line)
		}
		blocks = append(blocks, blk)
	}
	return blocks
}

// shellComment returns the comment of a shell command line: what follows
// a "#" that begins a word outside quotes.
func shellComment(cmd string) string {
	var quote rune
	prev := ' '
	for i, r := range cmd {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t' || prev == '\n'):
			return cmd[i+1:]
		}
		prev = r
	}
	return ""
}

func trimBlankEnd(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// progressRe matches the progress lines of apply --wait, wait and rollout
// status, which say what is being waited for as often as it changes.
var progressRe = regexp.MustCompile(`^\s*(waiting for|Waiting for) `)

// varying are what differs from run to run in a line, and its placeholder.
var varying = []struct {
	re   *regexp.Regexp
	with string
}{
	// Times: "Thu 2026-11-26 08:11:16 UTC", RFC 3339, "2026-12-05 06:45:55.705", "08:11:14".
	{regexp.MustCompile(`(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d| UTC)?`), "<time>"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "<time>"},
	// Ages and delays: "3s ago", "(x2 over 3s)", "restarting in 883ms".
	{regexp.MustCompile(`\b[\d.]+(?:ns|µs|us|ms|s|m|h|d)(?:[\d.]+(?:ms|s|m|h))* ago\b`), "<age> ago"},
	{regexp.MustCompile(`\(x\d+ over [^)]*\)`), "(x<n> over <age>)"},
	{regexp.MustCompile(`\bin [\d.]+(?:ns|µs|us|ms|s|m|h)(?:[\d.]+(?:ms|s|m|h))*\b`), "in <delay>"},
	// Ids: UUIDs, container ids and job hashes, whole or shortened.
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<uuid>"},
	{regexp.MustCompile(`\b[0-9a-f]{8,64}\b`), "<id>"},
	// Addresses, and the ports the kernel picks for clients (32768-60999).
	{regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`), "<ip>"},
	{regexp.MustCompile(`(<ip>|\]):(?:3[2-9]\d{3}|[4-6]\d{4})\b`), "$1:<port>"},
	// Consul's raft indexes.
	{regexp.MustCompile(`"(Create|Modify)Index": \d+`), `"${1}Index": <n>`},
}

// normalizeText replaces what varies in s by placeholders and runs of
// spaces by one.
func normalizeText(s string) string {
	for _, v := range varying {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return strings.Join(strings.Fields(s), " ")
}

// unequalColumns are the columns of applyctl's tables whose values differ
// between machines or runs: ages and the machine's own facts.
var unequalColumns = map[string]bool{
	"AGE": true, "LAST SEEN": true, "TIMESTAMP": true,
	"CPUS": true, "MEM": true, "LOAD AVG": true, "MEM USAGE": true, "OS": true, "BERTH": true, "DOCKER": true,
}

var headerRe = regexp.MustCompile(`^\s*[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*(?:  +[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*)+\s*$`)

type column struct {
	name  string
	start int // in runes
}

// tableHeader returns the columns of a table's header line, or nil.
func tableHeader(l string) []column {
	if !headerRe.MatchString(l) {
		return nil
	}
	r := []rune(l)
	var cols []column
	for i := 0; i < len(r); {
		if r[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(r) && !(r[j] == ' ' && (j+1 == len(r) || r[j+1] == ' ')) {
			j++
		}
		cols = append(cols, column{name: string(r[i:j]), start: i})
		i = j
	}
	return cols
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// canonical returns lines in the form compared: progress lines left out,
// table rows as "COLUMN=value | ...", every value and other line mapped
// by real (the test's names to the README's; identity for the README's
// side) and normalized.
func canonical(lines []string, real func(string) string) []string {
	var out []string
	var cols []column
	indent := 0
	for _, l := range lines {
		switch {
		case progressRe.MatchString(l), l == "^C":
			continue
		case strings.TrimSpace(l) == "...":
			out = append(out, "...")
			continue
		case strings.TrimSpace(l) == "" || indentOf(l) < indent:
			cols = nil
		}
		if h := tableHeader(l); h != nil {
			cols, indent = h, indentOf(l)
			var names []string
			for _, c := range cols {
				names = append(names, c.name)
			}
			out = append(out, "table: "+strings.Join(names, " | "))
			continue
		}
		if cols == nil {
			indent = 0
			out = append(out, normalizeText(real(l)))
			continue
		}
		r := []rune(l)
		var cells []string
		for i, c := range cols {
			end := len(r)
			if i+1 < len(cols) {
				end = min(cols[i+1].start, len(r))
			}
			v := "*"
			if !unequalColumns[strings.ToUpper(c.name)] {
				v = ""
				if c.start < len(r) {
					v = normalizeText(real(string(r[c.start:end])))
				}
			}
			cells = append(cells, c.name+"="+v)
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return out
}

// align aligns got with want, where a want line "..." stands for any
// number of lines, at the fewest lines missing or extra. It reports whether
// they match, and the alignment as a diff: "- " a line of want missing,
// "+ " a line of got too many.
func align(want, got []string) (bool, []string) {
	n, m := len(want), len(got)
	// cost[i][j]: lines missing or extra when aligning want[i:] with got[j:].
	cost := make([][]int, n+1)
	for i := range cost {
		cost[i] = make([]int, m+1)
	}
	for i := n; i >= 0; i-- {
		for j := m; j >= 0; j-- {
			switch {
			case i == n:
				cost[i][j] = m - j
			case want[i] == "...":
				cost[i][j] = cost[i+1][j]
				if j < m {
					cost[i][j] = min(cost[i][j], cost[i][j+1])
				}
			default:
				cost[i][j] = cost[i+1][j] + 1
				if j < m {
					cost[i][j] = min(cost[i][j], cost[i][j+1]+1)
					if want[i] == got[j] {
						cost[i][j] = min(cost[i][j], cost[i+1][j+1])
					}
				}
			}
		}
	}
	var diff []string
	for i, j, skipped := 0, 0, 0; i < n || j < m; {
		switch {
		case i < n && want[i] == "..." && j < m && cost[i][j] == cost[i][j+1]:
			j, skipped = j+1, skipped+1
		case i < n && want[i] == "...":
			diff = append(diff, fmt.Sprintf("  ... (%d lines)", skipped))
			i, skipped = i+1, 0
		case i < n && j < m && want[i] == got[j] && cost[i][j] == cost[i+1][j+1]:
			diff = append(diff, "  "+want[i])
			i, j = i+1, j+1
		case j < m && (i == n || cost[i][j] == cost[i][j+1]+1):
			diff = append(diff, "+ "+got[j])
			j++
		default:
			diff = append(diff, "- "+want[i])
			i++
		}
	}
	return cost[0][0] == 0, diff
}

// compareOutput returns "" when the output got, mapped by real, matches
// the README's want, else what differs, as a diff of their canonical
// forms followed by both as they are.
func compareOutput(want []string, got string, real func(string) string) string {
	gotLines := trimBlankEnd(strings.Split(strings.TrimRight(got, "\n"), "\n"))
	ok, diff := align(canonical(want, func(s string) string { return s }), canonical(gotLines, real))
	if ok {
		return ""
	}
	var b strings.Builder
	b.WriteString("the output differs from the README's (normalized; - README, + real):\n")
	for _, d := range diff {
		b.WriteString("    " + d + "\n")
	}
	b.WriteString("  the README shows:\n")
	for _, l := range want {
		b.WriteString("    | " + l + "\n")
	}
	b.WriteString("  the command printed:\n")
	for _, l := range gotLines {
		b.WriteString("    | " + l + "\n")
	}
	return b.String()
}

// TestReadmeComparison: the comparison lets through what varies between
// runs, and nothing else: a state, a name, a count or a line too many
// fails it.
func TestReadmeComparison(t *testing.T) {
	t.Parallel()
	host := func(s string) string { return strings.ReplaceAll(s, "e2e-readme-1a2b3c", "vm") }
	units := []string{
		"NAME  HOST  STATE    RESTARTS  CONTAINER     PORTS           AGE",
		"todo  vm    RUNNING  1         998a1bd5a641  8000->8000/tcp  3s",
	}
	for _, tc := range []struct {
		name string
		want []string
		got  string
		ok   bool
	}{
		{"same table, other host name, ages and ids", units,
			"NAME  HOST               STATE    RESTARTS  CONTAINER     PORTS           AGE\n" +
				"todo  e2e-readme-1a2b3c  RUNNING  1         be6f0c09b419  8000->8000/tcp  1m\n", true},
		{"another state", units,
			"NAME  HOST  STATE           RESTARTS  CONTAINER     PORTS           AGE\n" +
				"todo  vm    HEALTHCHECKING  1         be6f0c09b419  8000->8000/tcp  1m\n", false},
		{"another restart count", units,
			"NAME  HOST  STATE    RESTARTS  CONTAINER     PORTS           AGE\n" +
				"todo  vm    RUNNING  0         be6f0c09b419  8000->8000/tcp  1m\n", false},
		{"a row more", units,
			"NAME  HOST  STATE    RESTARTS  CONTAINER     PORTS           AGE\n" +
				"todo  vm    RUNNING  1         be6f0c09b419  8000->8000/tcp  1m\n" +
				"todo2 vm    RUNNING  1         be6f0c09b419  8000->8000/tcp  1m\n", false},
		{"another column", units,
			"NAME  HOST  STATE    RESTARTS  CONTAINER     PORTS           AGE  MESSAGE\n" +
				"todo  vm    RUNNING  1         be6f0c09b419  8000->8000/tcp  1m   x\n", false},
		{"progress lines left out, results kept", []string{"unit/todo created", "waiting for unit/todo: 0/1 ready (vm: CREATING)", "unit/todo ready"},
			"unit/todo created\nwaiting for unit/todo: 0/1 ready (no instance yet)\nwaiting for unit/todo: 0/1 ready (e2e-readme-1a2b3c: STARTING)\nunit/todo ready\n", true},
		{"a result missing", []string{"unit/todo created", "unit/todo ready"}, "unit/todo created\n", false},
		{"another object", []string{"unit/todo deleted"}, "unit/todos deleted\n", false},
		{"ellipsis", []string{"Name: todo", "...", "  Type     Reason  Age  From  Message", "...", "  Warning  Died    2s   vm    container 998a1bd5a641 exited with code 137", "..."},
			"Name: todo\nKind: Unit\nEvents:\n  Type     Reason   Age  From               Message\n  Normal   Created  1m   e2e-readme-1a2b3c  container be6f0c09b419 created\n" +
				"  Warning  Died     1m   e2e-readme-1a2b3c  container be6f0c09b419 exited with code 137\n  Normal   x        1m   e2e-readme-1a2b3c  y\n", true},
		{"ellipsis, another exit code", []string{"  Type     Reason  Age  From  Message", "...", "  Warning  Died    2s   vm    container 998a1bd5a641 exited with code 137", "..."},
			"  Type     Reason  Age  From  Message\n  Warning  Died    1m   vm    container be6f0c09b419 exited with code 143\n", false},
		{"addresses, ephemeral ports, times", []string{"todo: 192.168.240.1:37026 POST /api/todos 201", "State: RUNNING since Thu 2026-11-26 08:11:16 UTC; 1s ago"},
			"todo: 172.23.0.1:48042 POST /api/todos 201\nState: RUNNING since Sat 2026-12-05 06:43:27 UTC; 12s ago\n", true},
		{"a service's port is not ephemeral", []string{"1 1 8000 vm.node.berth."}, "1 1 8001 e2e-readme-1a2b3c.node.berth.\n", false},
		{"DNS answer", []string{"192.0.2.2"}, "10.0.0.7\n", true},
		{"Consul indexes", []string{`    "CreateIndex": 104,`}, `    "CreateIndex": 7,` + "\n", true},
	} {
		diff := compareOutput(tc.want, tc.got, host)
		if (diff == "") != tc.ok {
			t.Errorf("%s: compare ok = %v, want %v\n%s", tc.name, diff == "", tc.ok, diff)
		}
	}
}

// TestReadmeBlocks: commands, their output, "exit N" and "not run" are
// read as the walk-through writes them.
func TestReadmeBlocks(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/README.md"
	md := "intro\n\n<!-- not run: it starts the controller -->\n\n```sh\n./hack/run.sh\n```\n\n" +
		"- a list:\n\n  ```sh\n  $ bin/applyctl diff -f x.yaml   # exit 1: a difference\n  --- a\n  $ printf '# not a comment' | nc -q1 \\\n    127.0.0.1 1   # says hello\n  hello\n\n  ```\n"
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", readmeBlocks(t, path))
	want := "[{line:5 notRun:it starts the controller steps:[]} {line:11 notRun: steps:[" +
		"{line:12 cmd:bin/applyctl diff -f x.yaml   # exit 1: a difference want:[--- a] exit:1} " +
		"{line:14 cmd:printf '# not a comment' | nc -q1 \\\n  127.0.0.1 1   # says hello want:[hello] exit:0}]}]"
	if got != want {
		t.Errorf("blocks:\n%s\nwant\n%s", got, want)
	}
	if c := shellComment(`echo "a # b" 'c # d' e#f # g`); c != " g" {
		t.Errorf("shellComment = %q, want \" g\"", c)
	}
}
