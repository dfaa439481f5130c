package control

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Version is routerd's version, shown in export headers and /system resource.
var Version = "0.1.0"

func cmdExport(ctx context.Context, c *Call) (*Reply, error) {
	opt := ExportOptions{
		Verbose:       c.S.Bool("verbose"),
		Terse:         c.S.Bool("terse"),
		ShowSensitive: c.S.Bool("show-sensitive") && c.Sess.ShowSensitive,
		Filter:        c.S.Filter,
	}
	text, err := c.Ex.Export(ctx, c.Sess, c.Menu.Path, opt)
	if err != nil {
		return nil, err
	}
	if f, ok := c.S.Get("file"); ok && f != "" {
		return nil, errf(CatFailure, "failure: export to file is handled by the console")
	}
	return &Reply{Menu: c.Menu, Text: text, Ret: text}, nil
}

// ExportOptions are export's parameters.
type ExportOptions struct {
	Verbose       bool // defaults too
	Terse         bool // full path on every line, no wrapping
	ShowSensitive bool
	Filter        Filter // export where (applies to the menu exported)
	// Backup: the export is a backup's, which alone carries Secret properties.
	Backup bool
}

// Export renders the configuration at and below path as a script that import restores.
func (x *Executor) Export(ctx context.Context, sess *Session, path string, opt ExportOptions) (string, error) {
	var b strings.Builder
	// In the router's time, as /system clock shows it and RouterOS writes it.
	fmt.Fprintf(&b, "# %s by routerd %s\n", x.Now().In(x.ClockZone(sess)).Format("2006-01-02 15:04:05"), Version)
	if opt.ShowSensitive && !opt.Backup {
		b.WriteString(SensitiveExportLine)
	}
	err := x.View(sess, func(tx *store.Tx) error {
		for _, m := range x.Tree.All() {
			if m.Path != path && !strings.HasPrefix(m.Path, path+"/") && path != "" {
				continue
			}
			if m.NoExport || (m.BackupOnly && !opt.Backup) || m.Kind == menu.Dir || m.Kind == menu.Status {
				continue
			}
			lines, hidden, err := x.exportMenu(tx, m, opt, m.Path == path)
			if err != nil {
				return err
			}
			if len(lines) == 0 {
				continue
			}
			head := menuWords(m.Path)
			if !opt.Terse {
				b.WriteString(head + "\n")
			}
			for _, h := range hidden {
				fmt.Fprintf(&b, "# %s %s hidden: export show-sensitive to include it\n", head, h)
			}
			for _, l := range lines {
				if opt.Terse {
					b.WriteString(head + " " + l + "\n")
				} else {
					b.WriteString(wrap(l) + "\n")
				}
			}
		}
		return nil
	})
	return b.String(), err
}

// menuWords renders a path as export writes it: space separated ("/ip ipsec peer").
func menuWords(path string) string {
	if path == "" {
		return "/"
	}
	return "/" + strings.ReplaceAll(path[1:], "/", " ")
}

// exportMenu returns the menu's lines and the NoteHidden properties some item has that
// the export left out.
func (x *Executor) exportMenu(tx *store.Tx, m *menu.Menu, opt ExportOptions, filtered bool) ([]string, []string, error) {
	var items []store.Item
	if m.Kind == menu.Single {
		it, err := tx.Get(m.Path, singleID)
		if err == store.ErrNotFound {
			it, err = store.Item{ID: singleID, Props: map[string]string{}}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		items = []store.Item{it}
	} else {
		var err error
		if items, err = tx.List(m.Path); err != nil {
			return nil, nil, err
		}
	}
	var lines, hidden []string
	np := m.NameProp()
	for _, it := range items {
		if m.Dynamic != nil && !opt.Backup && m.Dynamic(it.Props) {
			continue
		}
		if filtered && opt.Filter != nil {
			r := x.Row(m, it, opt.ShowSensitive)
			if ok, err := opt.Filter(&r); err != nil || !ok {
				if err != nil {
					return nil, nil, err
				}
				continue
			}
		}
		builtin := it.Props[builtinKey] != ""
		var decl map[string]string
		declIdx := 0
		if builtin {
			for i, d := range m.Builtin {
				if sameBuiltin(it.Props, m, i) {
					decl, declIdx = d, i
				}
			}
		}
		if !opt.ShowSensitive && !opt.Backup {
			for _, p := range m.Props {
				if p.NoteHidden && it.Props[p.Name] != "" && !slices.Contains(hidden, p.Name) {
					hidden = append(hidden, p.Name)
				}
			}
		}
		var args []string
		for _, k := range sortedKeys(exportProps(m, it.Props, decl, opt)) {
			v := exportValue(m, k, it.Props, decl, opt)
			p, _ := m.Prop(k)
			if p.Negatable && v == "" {
				args = append(args, "!"+k)
				continue
			}
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && p.Hex {
				v = value.FormatHex(n) // as RouterOS writes it (priority=0x8000)
			}
			args = append(args, k+"="+QuoteArg(v))
		}
		switch {
		case m.Kind == menu.Single:
			if len(args) > 0 {
				lines = append(lines, "set "+strings.Join(args, " "))
			}
		case builtin || m.Kind == menu.Fixed:
			if len(args) == 0 {
				continue
			}
			sel := "[ find default=yes ]"
			switch {
			case builtin && len(m.Builtin) == 1 && hasFlag(m, "default"):
				// RouterOS's own words for its default profile, proposal, group...: they
				// find it again after a rename.
			case m.Selector != "" && it.Props[m.Selector] != "":
				sel = "[ find " + m.Selector + "=" + QuoteArg(it.Props[m.Selector]) + " ]"
			case np != "" && decl != nil:
				sel = "[ find " + np + "=" + QuoteArg(decl[np]) + " ]"
			case np != "":
				sel = "[ find " + np + "=" + QuoteArg(it.Props[np]) + " ]"
			case len(m.Builtin) > 1:
				// Several unnamed built-in items (the default /system logging rules):
				// RouterOS writes their numbers, which they keep as they are seeded
				// first and cannot be removed.
				sel = strconv.Itoa(declIdx)
			}
			lines = append(lines, "set "+sel+" "+strings.Join(args, " "))
		default:
			lines = append(lines, "add "+strings.Join(args, " "))
		}
	}
	return lines, hidden, nil
}

// exportProps is the set of properties an item's export line carries: those that differ
// from the default (or from a built-in item's declaration), every writable one when
// verbose.
func exportProps(m *menu.Menu, props, decl map[string]string, opt ExportOptions) map[string]string {
	out := map[string]string{}
	for _, p := range m.Props {
		if p.ReadOnly || (p.Sensitive && !opt.ShowSensitive) || (p.Secret && !opt.Backup) {
			continue
		}
		v, set := props[p.Name]
		if decl != nil && p.Name == m.NameProp() && v == decl[p.Name] {
			continue // the selector names it
		}
		if m.Selector != "" && p.Name == m.NameProp() && (v == props[m.Selector] || props[m.Selector] == "") {
			continue // not renamed: the selector names it
		}
		def := p.Default
		if d, ok := decl[p.Name]; ok {
			def = d
		}
		switch {
		case set && (v != def || opt.Verbose):
			out[p.Name] = v
		case !set && opt.Verbose && def != "":
			out[p.Name] = def
		case set && decl != nil && v != def:
			out[p.Name] = v
		}
	}
	return out
}

func exportValue(m *menu.Menu, k string, props, decl map[string]string, opt ExportOptions) string {
	if v, ok := props[k]; ok {
		return v
	}
	if v, ok := decl[k]; ok {
		return v
	}
	p, _ := m.Prop(k)
	return p.Default
}

// Printable escapes the control characters of a user's string for a terminal or a log
// line, as Quote does inside quotes (\n, \r, \t, \1B...), so that a name with a newline
// and ESC cannot forge a line or move the cursor. Other text is kept.
func Printable(v string) string {
	clean := utf8.ValidString(v)
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	var b strings.Builder
	for i, r := range v {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD"):
			// A byte that is not UTF-8 (a Latin-1 or CP1251 name from RouterOS) is
			// shown as export writes it, \E9, never as U+FFFD.
			fmt.Fprintf(&b, `\%02X`, v[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\%02X`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PrintableText is Printable for multi-line text (a note, a value shown alone): its
// newlines stay line breaks, every other control character is escaped.
func PrintableText(v string) string {
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		lines[i] = Printable(l)
	}
	return strings.Join(lines, "\n")
}

// Quote renders a value as the console reads it back: bare when it is one plain word,
// otherwise in double quotes with RouterOS escapes.
func Quote(v string) string {
	if v != "" && plainWord(v) && v[0] != '!' {
		return v
	}
	return quoted(v)
}

// QuoteArg is Quote for a value written after name=, where a leading ! is part of the
// value (a negated matcher, `in-interface-list=!LAN`) and RouterOS writes it bare.
func QuoteArg(v string) string {
	if v != "" && plainWord(v) {
		return v
	}
	return quoted(v)
}

func quoted(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '"', '\\', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '?':
			b.WriteString(`?`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%02X`, c)
			} else if r, n := utf8.DecodeRuneInString(v[i:]); r == utf8.RuneError && n <= 1 {
				// A byte that is not UTF-8 (RouterOS's Latin-1 and CP1251 text) goes
				// back out as the escape it came in as.
				fmt.Fprintf(&b, `\%02X`, c)
			} else {
				b.WriteString(v[i : i+n])
				i += n - 1
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// plainWord reports whether v can be written without quotes: characters that never
// start or end a token in the console grammar.
func plainWord(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.,:/*+@!%^&|~<>", c) >= 0:
		default:
			return false
		}
	}
	// A bare / reads as a menu path; keep it quoted. A leading ! reads as syntax only
	// where no name= precedes it (Quote).
	return v != "/"
}

// wrap breaks an export line before an argument once it passes 80 columns, with ` \`
// and a 4-space continuation, as RouterOS does.
func wrap(line string) string {
	if len(line) <= 80 {
		return line
	}
	parts := splitArgs(line)
	var b strings.Builder
	col := 0
	for i, p := range parts {
		if i > 0 {
			if col+1+len(p) > 78 {
				b.WriteString(" \\\n    ")
				col = 4
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(p)
		col += len(p)
	}
	return b.String()
}

// splitArgs splits an export line on the spaces between arguments (outside quotes and
// brackets).
func splitArgs(line string) []string {
	var out []string
	depth, inq, start := 0, false, 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inq && c == '\\':
			i++
		case c == '"':
			inq = !inq
		case !inq && c == '[':
			depth++
		case !inq && c == ']':
			depth--
		case !inq && depth == 0 && c == ' ':
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

func hasFlag(m *menu.Menu, name string) bool {
	for _, f := range m.Flags {
		if f.Name == name {
			return true
		}
	}
	return false
}
