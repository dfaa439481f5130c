package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
)

// Exec runs one API request through the executor and returns the reply sentences: !re
// rows, then !done (with =ret= for add, get and find), !empty before !done when print
// matched nothing (RouterOS 7.18+), or !trap with =category= and =message= then !done.
// The console and every other entry point go through the same executor, so a command
// behaves alike everywhere.
func Exec(ctx context.Context, ex *control.Executor, sess *control.Session, req Request) [][]string {
	return ExecStream(ctx, ex, sess, req, nil)
}

// ExecStream is Exec for a command that goes on (print follow, monitor, ping): with send
// set, each update's rows go to send as tagged !re sentences as they come, and the
// returned sentences end the reply.
func ExecStream(ctx context.Context, ex *control.Executor, sess *control.Session, req Request, send func(words []string)) [][]string {
	tag, hasTag := req.API[".tag"]
	reply := func(words ...string) []string {
		if hasTag {
			// RouterOS puts the tag right after the reply word (`!trap`, `.tag=2`,
			// `=category=2`); mikronode's parsers read it only there.
			words = append([]string{words[0], ".tag=" + tag}, words[1:]...)
		}
		return words
	}
	s, err := Sentence(req)
	var rep *control.Reply
	if err == nil {
		if send != nil {
			s.Emit = func(rep *control.Reply) error {
				for i := range rep.Rows {
					send(reply(append([]string{"!re"}, rowWords(&rep.Rows[i], s.Proplist)...)...))
				}
				return ctx.Err()
			}
		}
		rep, err = ex.Exec(ctx, sess, s)
	}
	if err != nil {
		e := control.AsError(err)
		return [][]string{
			reply("!trap", "=category="+strconv.Itoa(e.Category), "=message="+e.Msg),
			reply("!done"),
		}
	}
	var out [][]string
	for i := range rep.Rows {
		out = append(out, reply(append([]string{"!re"}, rowWords(&rep.Rows[i], s.Proplist)...)...))
	}
	switch {
	case s.Cmd == "print" && len(rep.Rows) == 0 && rep.Ret == "":
		out = append(out, reply("!empty"))
	case s.Cmd == "find":
		return append(out, reply("!done", "=ret="+strings.Join(rep.List, ";")))
	}
	if rep.Ret != "" {
		return append(out, reply("!done", "=ret="+rep.Ret))
	}
	return append(out, reply("!done"))
}

// streamingCmds are the commands that go on until cancelled or their count or duration
// is done; print joins them with follow, follow-only or interval=.
var streamingCmds = map[string]bool{"listen": true, "monitor": true, "monitor-traffic": true, "ping": true}

// Streams reports whether req runs on after its first reply: such commands run beside
// the connection's other commands and end with /cancel.
func Streams(req Request) bool {
	i := strings.LastIndexByte(req.Command, '/')
	cmd := req.Command[i+1:]
	if streamingCmds[cmd] {
		return true
	}
	if cmd != "print" {
		return false
	}
	for _, a := range req.Attrs {
		switch a.Name {
		case "follow", "follow-only", "interval":
			return true
		}
	}
	return false
}

// Sentence converts an API request to an executor sentence.
func Sentence(req Request) (*control.Sentence, error) {
	path := req.Command
	i := strings.LastIndexByte(path, '/')
	s := &control.Sentence{Path: path[:i], Cmd: path[i+1:]}
	if s.Cmd == "" {
		return nil, &control.Error{Msg: "no such command", Category: control.CatMissing}
	}
	for _, a := range req.Attrs {
		switch a.Name {
		case ".proplist":
			s.Proplist = splitList(a.Value)
			continue
		}
		// .id stays as it came: the executor names it for the command (numbers, or
		// number for get and script run) from the command's arguments.
		// =!name= unsets, as the console's !name does (Ansible's community.routeros
		// unsets this way); a value after it stays an unknown parameter.
		if n, ok := strings.CutPrefix(a.Name, "!"); ok && n != "" && a.Value == "" {
			s.Args = append(s.Args, control.Arg{Name: n, Unset: true})
			continue
		}
		s.Args = append(s.Args, control.Arg{Name: a.Name, Value: a.Value})
	}
	if pl, ok := req.API[".proplist"]; ok {
		s.Proplist = splitList(pl)
	}
	if len(req.Queries) > 0 {
		f, err := compileQuery(req.Queries)
		if err != nil {
			return nil, err
		}
		s.Filter = f
	}
	return s, nil
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// rowWords renders a row as =name=value words; yes/no properties and flags read as
// true/false, as RouterOS's API shows them.
func rowWords(r *control.Row, proplist []string) []string {
	words := []string{"=.id=" + control.FormatID(r.ID)}
	keys := proplist
	if len(keys) == 0 {
		// print chose the properties itself (stats, proplist=).
		keys = r.Keys
	}
	if len(keys) == 0 {
		keys = rowKeys(r)
	}
	for _, k := range keys {
		if k == ".id" {
			continue
		}
		v, ok := r.Get(k)
		if !ok {
			continue
		}
		if isBool(r.Menu, k) {
			v = apiBool(v)
		}
		words = append(words, "="+k+"="+v)
	}
	if len(proplist) > 0 {
		has := false
		for _, k := range proplist {
			has = has || k == ".id"
		}
		if !has {
			words = words[1:]
		}
	}
	return words
}

func rowKeys(r *control.Row) []string {
	var out []string
	seen := map[string]bool{}
	if r.Menu != nil {
		for _, p := range r.Menu.Props {
			if _, ok := r.Props[p.Name]; ok && !p.Hidden {
				out = append(out, p.Name)
				seen[p.Name] = true
			}
		}
	}
	for k := range r.Props {
		if !seen[k] {
			out = append(out, k)
			seen[k] = true
		}
	}
	if r.Menu != nil {
		for _, f := range r.Menu.Flags {
			if !seen[f.Name] {
				out = append(out, f.Name)
				seen[f.Name] = true
			}
		}
		if r.Menu.HasDisabled() && !seen["disabled"] {
			out = append(out, "disabled")
		}
	}
	return out
}

func isBool(m *menu.Menu, k string) bool {
	if m == nil {
		return false
	}
	if p, ok := m.Prop(k); ok {
		return p.Type != nil && p.Type.Name() == "yes | no"
	}
	for _, f := range m.Flags {
		if f.Name == k {
			return true
		}
	}
	return k == "disabled" || k == "default"
}

func apiBool(v string) string {
	switch v {
	case "yes":
		return "true"
	case "no":
		return "false"
	}
	return v
}

// compileQuery builds a filter from ?-words: each pushes a test on a stack, ?# words
// combine the stack (| or, & and, ! not, . duplicate), and the remaining entries are
// ANDed.
func compileQuery(qs []string) (control.Filter, error) {
	type test func(r *control.Row) bool
	var stack []test
	bad := &control.Error{Msg: "unknown query", Category: control.CatAPI}
	pop := func() (test, bool) {
		if len(stack) == 0 {
			return nil, false
		}
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return t, true
	}
	for _, q := range qs {
		switch {
		case strings.HasPrefix(q, "#"):
			for _, op := range q[1:] {
				switch op {
				case '|', '&':
					b, ok1 := pop()
					a, ok2 := pop()
					if !ok1 || !ok2 {
						return nil, bad
					}
					if op == '|' {
						stack = append(stack, func(r *control.Row) bool { return a(r) || b(r) })
					} else {
						stack = append(stack, func(r *control.Row) bool { return a(r) && b(r) })
					}
				case '!':
					a, ok := pop()
					if !ok {
						return nil, bad
					}
					stack = append(stack, func(r *control.Row) bool { return !a(r) })
				case '.':
					if len(stack) == 0 {
						return nil, bad
					}
					stack = append(stack, stack[len(stack)-1])
				default:
					return nil, bad
				}
			}
		case strings.HasPrefix(q, "-"):
			name := q[1:]
			stack = append(stack, func(r *control.Row) bool { v, ok := r.Get(name); return !ok || v == "" })
		case strings.HasPrefix(q, "<") || strings.HasPrefix(q, ">"):
			name, val, ok := strings.Cut(q[1:], "=")
			if !ok {
				return nil, bad
			}
			less := q[0] == '<'
			stack = append(stack, func(r *control.Row) bool {
				v, ok := r.Get(name)
				if !ok {
					return false
				}
				c := compareValues(v, val)
				if less {
					return c < 0
				}
				return c > 0
			})
		default:
			// ?=name=value is the explicit form of ?name=value (librouteros sends it).
			q = strings.TrimPrefix(q, "=")
			name, val, hasVal := strings.Cut(q, "=")
			if !hasVal {
				stack = append(stack, func(r *control.Row) bool { v, ok := r.Get(name); return ok && v != "" })
				continue
			}
			stack = append(stack, func(r *control.Row) bool {
				v, ok := r.Get(name)
				if !ok {
					return val == ""
				}
				return v == val || apiBool(v) == val
			})
		}
	}
	return func(r *control.Row) (bool, error) {
		for _, t := range stack {
			if !t(r) {
				return false, nil
			}
		}
		return true, nil
	}, nil
}

func compareValues(a, b string) int {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
