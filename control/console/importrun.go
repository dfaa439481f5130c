package console

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/routerd/routerd/control"
)

// ImportReport is what a statement-by-statement run of a script file did: /import
// verbose=yes inside routerd and `routerctl -f FILE --continue` outside it. An operator
// moving a RouterOS export sees at once what the migration would lose.
type ImportReport struct {
	Applied int            // statements that ran without error
	Skipped map[string]int // statements not run because their menu is not in routerd, by menu
	Refused map[string]int // statements that failed, by reason
	// NoPort: statements not run because the port they name by default-name (an export
	// of a box with more ports) is not here, by port. RouterOS would run them and
	// change nothing; a migration loses what they set.
	NoPort map[string]int
	// Follows: statements refused only because they name an item a skipped statement
	// would have made (a bridge port of a wifi interface, after /interface wifi), by
	// "NAME of MENU": part of what the missing menu loses, not a refusal here.
	Follows  map[string]int
	Failures []string // one line per failure: "line N: reason: statement"
	// DryRun: nothing stays (dry-run): the summary says what would apply.
	DryRun bool
	// Interrupted is the line of RouterOS's "#interrupted" mark (0: none): the export
	// was cut short on the router, and what came after it is not in the file.
	Interrupted int
}

// Errors is the number of statements skipped or refused.
func (r *ImportReport) Errors() int {
	n := 0
	for _, c := range r.Skipped {
		n += c
	}
	for _, c := range r.Refused {
		n += c
	}
	for _, c := range r.NoPort {
		n += c
	}
	for _, c := range r.Follows {
		n += c
	}
	return n
}

// Summary renders the counts: applied, skipped by menu, refused by reason.
func (r *ImportReport) Summary() string {
	var b strings.Builder
	skipped, refused := 0, 0
	for _, c := range r.Skipped {
		skipped += c
	}
	for _, c := range r.Refused {
		refused += c
	}
	applied := "applied"
	if r.DryRun {
		applied = "would apply"
	}
	fmt.Fprintf(&b, "import summary: %d %s, %d skipped (%s), ", r.Applied, applied, skipped, NoMenu)
	if len(r.NoPort) > 0 {
		noPort := 0
		for _, c := range r.NoPort {
			noPort += c
		}
		fmt.Fprintf(&b, "%d skipped (%s), ", noPort, NoPort)
	}
	if len(r.Follows) > 0 {
		follows := 0
		for _, c := range r.Follows {
			follows += c
		}
		fmt.Fprintf(&b, "%d skipped (%s), ", follows, Follows)
	}
	fmt.Fprintf(&b, "%d refused\n", refused)
	for _, k := range sortedByCount(r.Skipped) {
		fmt.Fprintf(&b, "  skipped %4d  %s\n", r.Skipped[k], k)
	}
	for _, k := range sortedByCount(r.NoPort) {
		fmt.Fprintf(&b, "  skipped %4d  [ find default-name=%s ]\n", r.NoPort[k], k)
	}
	for _, k := range sortedByCount(r.Follows) {
		fmt.Fprintf(&b, "  skipped %4d  names %s\n", r.Follows[k], k)
	}
	for _, k := range sortedByCount(r.Refused) {
		fmt.Fprintf(&b, "  refused %4d  %s\n", r.Refused[k], k)
	}
	if r.Interrupted > 0 {
		fmt.Fprintf(&b, "warning: line %d: the export was interrupted on the router: the configuration after it is not in the file\n", r.Interrupted)
	}
	return b.String()
}

func sortedByCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// BOM is the UTF-8 byte order mark a Windows editor puts before a file's first line:
// no part of the script (it made the first command a syntax error, its menu line lost).
const BOM = "\uFEFF"

// exportHeader is the first line RouterOS writes in an export: "# 2025-01-01 00:00:00 by
// RouterOS 7.20" (v7), "# jan/02/2021 10:00:00 by RouterOS 6.48.1" (v6).
var exportHeader = regexp.MustCompile(`^#.* by RouterOS (\d+)\.`)

// ExportVersion is the major RouterOS version whose export src is, by its header (0 when
// it has none): the RouterOS 6 rewrites that change what a v7 line means apply to a v6
// export only (control.Session.V6).
func ExportVersion(src string) int {
	for i, l := range strings.SplitN(src, "\n", 4) {
		if m := exportHeader.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			v, _ := strconv.Atoi(m[1])
			return v
		}
		if i == 2 {
			break
		}
	}
	return 0
}

// NoMenu is the reason a statement of a menu routerd does not have is skipped, apart
// from the refusals of menus it has: what a migration would lose that no property fix
// brings back.
const NoMenu = "menu does not exist here"

// Follows is the reason a statement that names an item of a skipped statement is
// skipped: it failed only because that item is not here.
const Follows = "names an item of a skipped menu"

// NoPort is the reason a statement that finds a port by default-name (set [ find
// default-name=ether9 ] ...) is skipped when no port has that name here.
const NoPort = "port does not exist here"

// findDefault is an export's reference to a port by the name it had from the factory.
// The name is asked about in a script of its own: it may hold nothing that script
// would evaluate.
var findDefault = regexp.MustCompile(`\[\s*find\s+default-name=("[^"$\[\\]*"|[^\s\]"$\[\\;{}()]+)\s*\]`)

// position is the "(line N column M)" or "(line N)" an error message ends with.
var position = regexp.MustCompile(`\s*\(line \d+( column \d+)?\)$`)

// continuation is a backslash that ends a line, with the next line's indent: the
// parser joins the two.
var continuation = regexp.MustCompile(`\\\r?\n[ \t]*`)

// badCommand is the parser's answer to a word that is neither a menu nor a command.
var badCommand = regexp.MustCompile(`^bad command name (\S+)`)

// verbs are the command words that end the menu part of a statement.
var verbs = map[string]bool{"add": true, "set": true, "remove": true, "print": true, "enable": true,
	"disable": true, "unset": true, "edit": true, "export": true, "find": true, "get": true,
	"move": true, "comment": true, "reset": true, "monitor": true}

// menuWords returns the menu part of a statement's first line in space form: the words
// up to the first command verb, argument or bracket ("/ip firewall filter" of
// "/ip firewall filter add chain=input" and of "/ip/firewall/filter/add chain=input"),
// so that a menu is counted once however the file spells it. alone reports that the
// line holds nothing else (a menu line, which makes the menu current).
func menuWords(stmt string) (menu string, alone bool) {
	line, _, _ := strings.Cut(stmt, "\n")
	var out []string
	fields := strings.Fields(line)
	alone = true
words:
	for i, f := range fields {
		if strings.ContainsAny(f, "=[\"$:{") {
			alone = false
			break
		}
		for j, w := range strings.Split(f, "/") {
			if w == "" && (i > 0 || j > 0) {
				continue // the leading slash; a doubled or trailing one
			}
			if verbs[w] {
				alone = false
				break words
			}
			if w != "" {
				out = append(out, w)
			}
		}
	}
	if len(out) == 0 {
		return "", alone && strings.TrimSpace(line) == "/" // "/" alone goes to the root
	}
	return "/" + strings.Join(out, " "), alone
}

// slashMenu reports whether err (of statement t) is the parser's answer to an unknown
// word of a slash-form path, "syntax error (line 1 column 12)" of
// "/interface/wireless/security-profiles add", where the space form gets "bad command
// name wireless": the menu is not here either. It returns the word.
func slashMenu(t string, err error) (string, bool) {
	m := slashSyntax.FindStringSubmatch(strings.TrimSpace(err.Error()))
	if m == nil {
		return "", false
	}
	col, _ := strconv.Atoi(m[1])
	line, _, _ := strings.Cut(t, "\n")
	if col < 2 || col > len(line) || line[col-2] != '/' {
		return "", false
	}
	w := line[col-1:]
	if i := strings.IndexAny(w, "/ \t"); i >= 0 {
		w = w[:i]
	}
	return w, w != ""
}

// propertyAt is the argument name at the position err names in stmt ("dhcp6-pd-preferred"
// of "expected end of command (line 1 column 44)"), "" when it is none.
func propertyAt(stmt string, err error) string {
	m := linePos.FindStringSubmatch(strings.TrimSpace(err.Error()))
	if m == nil {
		return ""
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	ls := strings.Split(stmt, "\n")
	if line < 1 || line > len(ls) || col < 1 || col > len(ls[line-1]) {
		return ""
	}
	w := strings.TrimPrefix(ls[line-1][col-1:], "!")
	if i := strings.IndexAny(w, "= \t\\"); i >= 0 {
		w = w[:i]
	}
	if !propName.MatchString(w) {
		return ""
	}
	return w
}

// maxUnknown bounds how many unknown properties of one statement are looked for.
const maxUnknown = 32

// unknownAfter names the unknown properties of stmt after the one err points at: the
// parser stops at the first, and an operator fixing a migration wants all of them at
// once. Each is found by parsing (`:parse`, which runs nothing) the statement without
// the ones found before, in the same menu as the statement.
func unknownAfter(stmt string, err error, run func(string) error) []string {
	var more []string
	for len(more) < maxUnknown {
		at, ok := argAt(stmt, err)
		if !ok {
			break
		}
		stmt = stmt[:at] + stmt[argEnd(stmt, at):]
		err = run(":parse " + control.Quote(stmt))
		if err == nil || position.ReplaceAllString(strings.TrimSpace(err.Error()), "") != "expected end of command" {
			break
		}
		p := propertyAt(stmt, err)
		if p == "" {
			break
		}
		more = append(more, p)
	}
	return more
}

// argAt is the offset in stmt of the position err names.
func argAt(stmt string, err error) (int, bool) {
	m := linePos.FindStringSubmatch(strings.TrimSpace(err.Error()))
	if m == nil {
		return 0, false
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	off := 0
	for i, l := range strings.Split(stmt, "\n") {
		if i+1 == line {
			return off + col - 1, col >= 1 && col <= len(l)
		}
		off += len(l) + 1
	}
	return 0, false
}

// argEnd is the end of the argument that starts at stmt[at:] (`!name`, `name=value`
// with a quoted, bracketed or bare value, a value wrapped to the next line after
// `name=\`), with the blanks after it.
func argEnd(stmt string, at int) int {
	i := at
	if i < len(stmt) && stmt[i] == '!' {
		i++
	}
	for i < len(stmt) && isPropByte(stmt[i]) {
		i++
	}
	if i < len(stmt) && stmt[i] == '=' {
		i++
		if m := continuation.FindStringIndex(stmt[i:]); m != nil && m[0] == 0 {
			i += m[1]
		}
		depth := 0
		quoted := false
	value:
		for ; i < len(stmt); i++ {
			c := stmt[i]
			switch {
			case quoted && c == '\\':
				i++
			case c == '"':
				quoted = !quoted
			case quoted:
			case c == '[' || c == '(' || c == '{':
				depth++
			case c == ']' || c == ')' || c == '}':
				depth--
			case depth > 0:
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '\\':
				break value
			}
		}
	}
	for i < len(stmt) && (stmt[i] == ' ' || stmt[i] == '\t') {
		i++
	}
	if m := continuation.FindStringIndex(stmt[i:]); m != nil && m[0] == 0 {
		i += m[1]
	}
	return i
}

func isPropByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

var (
	linePos  = regexp.MustCompile(`\(line (\d+) column (\d+)\)$`)
	propName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// itemName is the name= an add gives its item, or a set gives an item it renames (`set
// [ find default-name=wifi1 ] name=wifi01`, how every v7 wifi export names its radios).
var itemName = regexp.MustCompile(`(?s)(?:^|\s)(?:add|set)\s(?:.*\s)?name=("[^"]*"|[^\s"]+)`)

// refusedRef are the refusals of a property's value that a name of an item no menu here
// holds gets: a reference that matches nothing, and a value of a property that takes an
// address or the name of an item of a menu routerd lacks (/ip dns static forward-to=,
// an address or a /ip dns forwarders entry).
var refusedRef = []string{"input does not match any value of ", "invalid value for argument "}

// namesMade reports whether a statement refused with msg failed for naming an item that
// only a skipped statement would have made: a refused value (refusedRef) that is such a
// name. It returns the name and the skipped menu.
func namesMade(stmt, msg string, made map[string]string) (string, string, bool) {
	if len(made) == 0 {
		return "", "", false
	}
	prop := ""
	for _, p := range refusedRef {
		if strings.HasPrefix(msg, p) {
			prop = strings.TrimPrefix(msg, p)
		}
	}
	if prop == "" {
		return "", "", false
	}
	m := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(prop) + `=("[^"]*"|[^\s"]+)`).FindStringSubmatch(stmt)
	if m == nil {
		return "", "", false
	}
	for _, v := range strings.Split(strings.Trim(m[1], `"`), ",") {
		if in, ok := made[v]; ok {
			return v, in, true
		}
	}
	return "", "", false
}

// slashSyntax is the parser's error at an unknown word after a slash, on the first line.
var slashSyntax = regexp.MustCompile(`^syntax error \(line 1 column (\d+)\)$`)

// RunStatements runs lines (the first one being line number first) statement by
// statement: a statement spans lines while it is incomplete (blocks, continuation
// backslashes). run runs one statement; an error is reported and the run goes on.
// When a menu line ("/ip firewall filter") names a menu routerd does not have, the
// statements after it that rely on it (up to the next absolute one) are skipped rather
// than run in whatever menu was current. report, when not nil, gets each failure as
// it happens.
func RunStatements(lines []string, first int, run func(stmt string) error, report func(string)) *ImportReport {
	r := &ImportReport{Skipped: map[string]int{}, Refused: map[string]int{}, NoPort: map[string]int{}, Follows: map[string]int{}}
	made := map[string]string{} // names skipped statements would have given items, with their menu
	skip := ""
	cur := "" // the menu the last menu line made current, named before a failing relative statement
	fail := func(n int, why, stmt string) {
		// The statement as the parser reads it (continuations joined), in its menu, so
		// that an operator finds the item without opening the file.
		first, _, _ := strings.Cut(strings.TrimSpace(continuation.ReplaceAllString(stmt, "")), "\n")
		if cur != "" && !strings.HasPrefix(first, "/") && !strings.HasPrefix(first, ":") {
			first = cur + " " + first
		}
		if len(first) > 160 {
			first = first[:157] + "..."
		}
		msg := printable(fmt.Sprintf("line %d: %s: %s", n, why, first))
		r.Failures = append(r.Failures, msg)
		if report != nil {
			report(msg)
		}
	}
	for i := 0; i < len(lines); {
		j := i + 1
		for j < len(lines) && Incomplete(strings.Join(lines[i:j], "\n")) {
			j++
		}
		stmt := strings.Join(lines[i:j], "\n")
		n := first + i
		if j == len(lines) && j-i > 1 && Incomplete(stmt) {
			// An open quote or bracket swallowed the rest of the file: run nothing of
			// it, say so, and go on at the next menu line, where an export's next
			// statement starts.
			k := i + 1
			for k < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[k]), "/") {
				k++
			}
			why := "unterminated string or bracket"
			r.Refused[why] += statements(lines[i:k])
			last := k
			if k == len(lines) && last > i+1 && lines[k-1] == "" {
				last-- // the empty string after the file's final newline is no line
			}
			fail(n, fmt.Sprintf("%s (lines %d-%d not run)", why, n, first+last-1), stmt)
			i = k
			continue
		}
		i = j
		t := strings.TrimSpace(stmt)
		if strings.HasPrefix(t, "#interrupted") && r.Interrupted == 0 {
			r.Interrupted = n
		}
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		// Absolute statements and scripting (:global, :foreach) do not depend on the
		// current menu.
		absolute := strings.HasPrefix(t, "/") || strings.HasPrefix(t, ":")
		menu, alone := menuWords(t)
		if strings.HasPrefix(t, "/") && alone {
			cur = menu
		}
		if absolute {
			skip = ""
		} else if skip != "" {
			r.Skipped[skip]++
			if nm := itemName.FindStringSubmatch(t); nm != nil {
				made[strings.Trim(nm[1], `"`)] = skip
			}
			continue
		}
		if port, ok := portAbsent(t, cur, run); ok {
			r.NoPort[port]++
			fail(n, NoPort+" (skipped)", stmt)
			continue
		}
		err := run(stmt)
		if err == nil {
			if !(absolute && alone) { // a menu line alone is no command
				r.Applied++
			}
			continue
		}
		msg := position.ReplaceAllString(strings.TrimSpace(err.Error()), "")
		// Only absolute statements name menus (exports write them so); a bad word in
		// a relative one is a bad command.
		word := ""
		if m := badCommand.FindStringSubmatch(msg); m != nil {
			word = m[1]
		} else if w, ok := slashMenu(t, err); ok {
			word = w
		}
		// "/snmp community", "/interface/wireless": the bad word is one of the menu's.
		if word != "" && strings.HasPrefix(t, "/") && strings.Contains(" "+strings.TrimPrefix(menu, "/")+" ", " "+word+" ") {
			if alone {
				skip = menu // a menu line alone: the statements after it are in it
				r.Skipped[menu] += 0
			} else {
				r.Skipped[menu]++
				if nm := itemName.FindStringSubmatch(t); nm != nil {
					made[strings.Trim(nm[1], `"`)] = menu
				}
			}
			fail(n, NoMenu+" (skipped)", stmt)
			continue
		}
		if name, in, ok := namesMade(t, msg, made); ok {
			r.Follows[name+" of "+in]++
			fail(n, Follows+" (skipped): "+name+" of "+in, stmt)
			continue
		}
		if msg == "expected end of command" {
			// Name the property, so the summary says what a migration loses by name.
			in := menu
			if !strings.HasPrefix(t, "/") {
				in = cur
			}
			if p := propertyAt(stmt, err); p != "" && in != "" {
				if more := unknownAfter(stmt, err, run); len(more) > 0 {
					msg += ": unknown properties " + strings.Join(append([]string{p}, more...), ", ") + " in " + in
				} else {
					msg += ": unknown property " + p + " in " + in
				}
			}
		}
		r.Refused[msg]++
		fail(n, msg, stmt)
	}
	return r
}

// portAbsent reports whether stmt (in menu cur unless absolute) finds a port by
// default-name that is not here, asking with run itself (inside routerd and through
// routerctl alike). Any other answer (the menu is not here either, no right to read)
// lets the statement run and report for itself.
func portAbsent(stmt, cur string, run func(string) error) (string, bool) {
	m := findDefault.FindStringSubmatch(stmt)
	if m == nil {
		return "", false
	}
	menu := cur
	if strings.HasPrefix(stmt, "/") {
		menu, _ = menuWords(stmt)
	}
	if menu == "" {
		return "", false
	}
	port := strings.Trim(m[1], `"`)
	err := run(fmt.Sprintf(`:if ([:len [%s find default-name=%s]] = 0) do={ :error "%s" }`, menu, m[1], NoPort))
	return port, err != nil && strings.Contains(err.Error(), NoPort)
}

// printable escapes what a terminal would act on (control characters, bytes that are
// not UTF-8) as RouterOS escapes them in strings, \HH: a failing line of a file picked
// from a forum is shown, never run by the operator's terminal.
func printable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, "\\%02X", s[0])
		case r >= 0x80 && r < 0xa0: // C1 controls
			for i := 0; i < size; i++ {
				fmt.Fprintf(&b, "\\%02X", s[i])
			}
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// statements counts the lines that hold a statement (not blank, not a comment, not
// continued from the line before).
func statements(lines []string) int {
	n := 0
	cont := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") && !cont {
			n++
		}
		cont = strings.HasSuffix(t, "\\")
	}
	return max(n, 1)
}
