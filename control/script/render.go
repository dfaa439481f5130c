package script

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
)

// Render writes print's output as the console shows it: a name: value block for single
// menus, a table for menus with columns, the detail form otherwise; terse one line each.
func Render(w io.Writer, rep *control.Reply, s *control.Sentence, width int) {
	m := rep.Menu
	if width <= 0 {
		width = 80
	}
	if m != nil && m.Kind == menu.Single || (m != nil && len(rep.Rows) == 1 && rep.Rows[0].ID == 0 && m.Kind == menu.Status && len(m.Flags) == 0 && len(m.Columns) == 0) {
		if len(rep.Rows) == 1 {
			renderSingle(w, &rep.Rows[0])
		}
		return
	}
	terse := hasFlag(s, "terse")
	// stats is a table of counters even where the menu's own print is the detail form.
	stats := m != nil && len(m.Stats) > 0 && hasFlag(s, "stats")
	detail := hasFlag(s, "detail") || (m != nil && len(m.Columns) == 0 && !hasFlag(s, "brief") && !stats)
	if !terse {
		renderFlags(w, m, detail)
	}
	if len(rep.Rows) == 0 {
		return
	}
	switch {
	case terse:
		for i := range rep.Rows {
			r := &rep.Rows[i]
			ps := pairs(r, false)
			if c := r.Props["comment"]; c != "" && len(r.Keys) == 0 {
				// Terse is one line per item: the comment is a property like the others.
				ps = append([]string{"comment=" + control.QuoteArg(c)}, ps...)
			}
			fmt.Fprintf(w, "%2d %s %s\n", i, flagCol(m, r.Flags), strings.Join(ps, " "))
		}
	case detail:
		for i := range rep.Rows {
			renderDetail(w, i, &rep.Rows[i], width)
		}
	case hasFlag(s, "brief") && m != nil && len(m.Columns) == 0 && len(m.Brief) > 0:
		bm := *m
		bm.Columns = briefColumns(m, rep.Rows)
		renderTable(w, &bm, rep.Rows, width)
	default:
		renderTable(w, m, rep.Rows, width)
	}
}

// briefColumns are the menu's brief columns the rows use: the first two always, the
// others when a row has a value there.
func briefColumns(m *menu.Menu, rows []control.Row) []string {
	var cols []string
	for i, c := range m.Brief {
		used := i < 2
		for j := 0; j < len(rows) && !used; j++ {
			v, _ := shown(&rows[j], c)
			used = v != ""
		}
		if used {
			cols = append(cols, c)
		}
	}
	return cols
}

// keys lists a row's properties in print order: the proplist, else the menu's order with
// runtime extras after, counters left to print stats.
func keys(r *control.Row) []string {
	if len(r.Keys) > 0 {
		return r.Keys
	}
	if r.Menu != nil && r.Menu.PrintKeys != nil {
		return r.Menu.PrintKeys(r.Props)
	}
	var out []string
	seen := map[string]bool{"comment": true}
	if r.Menu != nil {
		for _, k := range r.Menu.Stats {
			seen[k] = true
		}
		for _, p := range r.Menu.Props {
			if _, ok := r.Props[p.Name]; ok && !p.Hidden && !seen[p.Name] {
				out = append(out, p.Name)
				seen[p.Name] = true
			}
		}
	}
	var extra []string
	for k := range r.Props {
		if !seen[k] && k != "default" {
			if r.Menu != nil {
				if p, ok := r.Menu.Prop(k); ok && p.Hidden {
					continue
				}
			}
			extra = append(extra, k)
		}
	}
	return append(out, sortedStrings(extra)...)
}

// shown is a property's value as the console prints it: sizes in bytes as 22.6GiB,
// counters in groups of digits, bit rates with their unit, Hex ones as 0x8000.
func shown(r *control.Row, k string) (string, bool) {
	v, ok := r.Get(k)
	if ok && r.Menu != nil {
		if p, isProp := r.Menu.Prop(k); isProp && (p.Bytes || p.Count || p.BitRate || p.Hex) {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				switch {
				case p.Hex:
					v = value.FormatHex(n)
				case p.Bytes:
					v = value.FormatBytes(n)
				case p.Count:
					v = value.FormatCount(n)
				default:
					v = value.FormatBitRate(n)
				}
			}
		}
	}
	return v, ok
}

// numeric reports whether the console prints the property as a number, unquoted even
// with the spaces between its groups of digits.
func numeric(m *menu.Menu, k string) bool {
	if m == nil {
		return false
	}
	p, ok := m.Prop(k)
	return ok && (p.Count || p.BitRate)
}

func pairs(r *control.Row, quoteStrings bool) []string {
	var out []string
	for _, k := range keys(r) {
		v, ok := shown(r, k)
		if !ok {
			continue
		}
		if numeric(r.Menu, k) {
			out = append(out, k+"="+v)
		} else if quoteStrings && isStringProp(r.Menu, k) {
			out = append(out, k+"="+quoteAlways(v))
		} else {
			out = append(out, k+"="+control.QuoteArg(v))
		}
	}
	return out
}

func isStringProp(m *menu.Menu, k string) bool {
	if m == nil {
		return false
	}
	p, ok := m.Prop(k)
	return ok && p.Type != nil && p.Type.Name() == "string"
}

func quoteAlways(v string) string {
	q := control.Quote(v)
	if strings.HasPrefix(q, `"`) {
		return q
	}
	return `"` + q + `"`
}

func renderSingle(w io.Writer, r *control.Row) {
	ks := keys(r)
	n := 0
	for _, k := range ks {
		if len(k) > n {
			n = len(k)
		}
	}
	// Names are right-aligned two columns in from the longest: "  name: MikroTik".
	for _, k := range ks {
		v, _ := shown(r, k)
		fmt.Fprintf(w, "%*s: %s\n", n+2, k, control.PrintableText(v))
	}
}

func renderFlags(w io.Writer, m *menu.Menu, lower bool) {
	if m == nil {
		return
	}
	var fs []string
	for _, f := range m.Flags {
		name := f.Name
		if !lower {
			name = strings.ToUpper(name)
		}
		fs = append(fs, fmt.Sprintf("%c - %s", f.Letter, name))
	}
	if m.HasDisabled() && !hasLetter(m.Flags, 'X') {
		if lower {
			fs = append([]string{"X - disabled"}, fs...)
		} else {
			fs = append([]string{"X - DISABLED"}, fs...)
		}
	}
	if len(fs) > 0 {
		fmt.Fprintf(w, "Flags: %s\n", strings.Join(fs, "; "))
	}
}

func hasLetter(fs []menu.Flag, l byte) bool {
	for _, f := range fs {
		if f.Letter == l {
			return true
		}
	}
	return false
}

// flagCol is the flags column of a row, padded to the menu's flag count.
func flagCol(m *menu.Menu, flags string) string {
	n := 1
	if m != nil {
		n = len(m.Flags)
		if m.HasDisabled() && !hasLetter(m.Flags, 'X') {
			n++
		}
	}
	if n < 1 {
		n = 1
	}
	return fmt.Sprintf("%-*s", n, flags)
}

func renderDetail(w io.Writer, i int, r *control.Row, width int) {
	head := fmt.Sprintf("%2d %s ", i, flagCol(r.Menu, r.Flags))
	indent := strings.Repeat(" ", len(head))
	line := head
	if c := r.Props["comment"]; c != "" {
		fmt.Fprintf(w, "%s;;; %s\n", head, control.Printable(c))
		line = indent
	}
	col := len(line)
	for _, p := range pairs(r, true) {
		if col+len(p) > width && col > len(indent) {
			fmt.Fprintln(w, strings.TrimRight(line, " "))
			line, col = indent, len(indent)
		}
		line += p + " "
		col += len(p) + 1
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
	fmt.Fprintln(w)
}

func renderTable(w io.Writer, m *menu.Menu, rows []control.Row, width int) {
	cols := m.Columns
	if len(rows) > 0 && len(rows[0].Keys) > 0 {
		cols = rows[0].Keys
	}
	up := make([]string, len(cols))
	for i, c := range cols {
		up[i] = strings.ToUpper(c)
	}
	fmt.Fprintf(w, "Columns: %s\n", strings.Join(up, ", "))
	wd := make([]int, len(cols))
	cells := make([][]string, len(rows))
	for i, c := range up {
		wd[i] = len(c)
	}
	for j := range rows {
		cells[j] = make([]string, len(cols))
		for i, c := range cols {
			v, _ := shown(&rows[j], c)
			v = control.Printable(v)
			cells[j][i] = v
			if len(v) > wd[i] {
				wd[i] = len(v)
			}
		}
	}
	fc := flagCol(m, "")
	numW := len(fmt.Sprint(len(rows) - 1))
	if numW < 2 {
		numW = 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%*s %s", numW, "#", fc)
	for i, c := range up {
		fmt.Fprintf(&b, " %-*s", wd[i], c)
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	for j := range rows {
		b.Reset()
		if c := rows[j].Props["comment"]; c != "" {
			fmt.Fprintf(w, "%*d %s ;;; %s\n", numW, j, fc, control.Printable(c))
			fmt.Fprintf(&b, "%*s %s", numW, "", flagCol(m, rows[j].Flags))
		} else {
			fmt.Fprintf(&b, "%*d %s", numW, j, flagCol(m, rows[j].Flags))
		}
		for i := range cols {
			fmt.Fprintf(&b, " %-*s", wd[i], cells[j][i])
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
