package rest

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
)

// maxColumns keeps a table readable when a menu declares no columns.
const maxColumns = 10

// section is one menu's table on the status page.
type section struct {
	Title   string
	Columns []string
	Rows    [][]string
	Error   string
}

type statusPage struct {
	Identity string
	Sections []section
	// Empty names the menus that have no items, on one line rather than a heading each.
	Empty string
}

var statusTmpl = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<title>{{.Identity}} - routerd status</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#e8eef4}tr:nth-child(even) td{background:#f7f7f7}
.empty{color:#777}.err{color:#a00}
</style></head><body>
<h1>{{.Identity}}</h1>
{{range .Sections}}<h2>{{.Title}}</h2>
{{if .Error}}<p class="err">{{.Error}}</p>
{{else}}<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{end}}{{if .Empty}}<p class="empty">No items: {{.Empty}}</p>
{{end}}</body></html>
`))

// serveStatus renders the read-only status page. It shows configuration and state, so
// it takes the same login as the REST API, and the web and read policies.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "")
		return
	}
	sess, ok := s.login(w, r)
	if !ok {
		return
	}
	if !sess.Can("web") || !sess.Can("read") {
		writeError(w, http.StatusUnauthorized, "not enough permissions (9)")
		return
	}
	page := statusPage{Identity: "MikroTik"}
	if s.Identity != nil {
		if id := s.Identity(); id != "" {
			page.Identity = id
		}
	}
	var empty []string
	for _, m := range statusMenuList(s.Ex.Tree) {
		sec := renderMenu(r.Context(), s.Ex, sess, m)
		if sec.Error == "" && len(sec.Rows) == 0 {
			empty = append(empty, sec.Title)
			continue
		}
		page.Sections = append(page.Sections, sec)
	}
	page.Empty = strings.Join(empty, ", ")
	var b bytes.Buffer
	if err := statusTmpl.Execute(&b, page); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// statusMenuList is the interface menus (tunnels included) then the menus declared for
// the status page (IPsec peers and SAs, PTP), in declaration order.
func statusMenuList(t *menu.Tree) []*menu.Menu {
	var out, more []*menu.Menu
	for _, m := range t.All() {
		switch {
		case (m.Path == link.IfacePath || strings.HasPrefix(m.Path, "/interface/")) && m.Kind != menu.Dir && m.Kind != menu.Single:
			out = append(out, m)
		case m.StatusPage:
			more = append(more, m)
		}
	}
	return append(out, more...)
}

func renderMenu(ctx context.Context, ex *control.Executor, sess *control.Session, m *menu.Menu) section {
	sec := section{Title: strings.TrimPrefix(m.Path, "/")}
	rows, err := ex.Rows(ctx, sess, m, false)
	if err != nil {
		sec.Error = control.AsError(err).Msg
		return sec
	}
	cols := columns(m, rows)
	sec.Columns = append([]string{"flags"}, cols...)
	for i := range rows {
		r := &rows[i]
		line := []string{r.Flags}
		for _, c := range cols {
			v, _ := r.Get(c)
			line = append(line, v)
		}
		sec.Rows = append(sec.Rows, line)
	}
	return sec
}

// columns are the menu's table columns, or its first properties, then the counters and
// status that engines report (rx-/tx- properties), which the operator comes here for.
func columns(m *menu.Menu, rows []control.Row) []string {
	var cols []string
	seen := map[string]bool{}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			cols = append(cols, c)
		}
	}
	for _, c := range m.Columns {
		add(c)
	}
	if len(cols) == 0 {
		for _, p := range m.Props {
			if len(cols) == maxColumns {
				break
			}
			if !p.Hidden && !p.Sensitive {
				add(p.Name)
			}
		}
	}
	var extra []string
	for _, r := range rows {
		for k := range r.Props {
			if strings.HasPrefix(k, "rx-") || strings.HasPrefix(k, "tx-") || k == "status" {
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		add(k)
	}
	if m.Kind == menu.Status && len(cols) == 0 {
		for _, r := range rows {
			for k := range r.Props {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			add(k)
		}
	}
	return cols
}
