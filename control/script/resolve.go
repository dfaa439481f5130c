package script

import (
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
)

// exResolver answers the parser's questions from the executor's menu tree and commands.
type exResolver struct{ ex *control.Executor }

func (in *Interp) resolver() Resolver { return exResolver{in.Ex} }

func (r exResolver) Children(path string) []string { return r.ex.Tree.Children(path) }
func (r exResolver) Commands(path string) []string { return r.ex.Commands(path) }
func (r exResolver) Command(path, cmd string) (control.CommandSpec, bool) {
	return r.ex.Command(path, cmd)
}

func (r exResolver) Props(path string) []string {
	m, ok := r.ex.Tree.Get(path)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range m.Props {
		if !p.Hidden {
			out = append(out, p.Name)
		}
	}
	return out
}

func (r exResolver) IsCode(path, prop string) bool {
	m, ok := r.ex.Tree.Get(path)
	if !ok {
		return false
	}
	p, ok := m.Prop(prop)
	return ok && p.Code
}

// Complete returns the words that can complete the last word of line typed at menu path:
// menus and commands while the line is still a path, argument names (with "=") after a
// command, and enum values after "name=".
func (in *Interp) Complete(path, line string) []string {
	res := in.resolver()
	fields := strings.Fields(line)
	partial := ""
	if len(line) > 0 && line[len(line)-1] != ' ' && len(fields) > 0 {
		partial = fields[len(fields)-1]
		fields = fields[:len(fields)-1]
	}
	// Split slash-joined paths into words.
	var words []string
	for i, f := range fields {
		if i == 0 && strings.HasPrefix(f, "/") {
			path = ""
			f = f[1:]
		}
		for _, w := range strings.Split(f, "/") {
			if w != "" {
				words = append(words, w)
			}
		}
	}
	prefix := ""
	if strings.HasPrefix(partial, "/") && len(fields) == 0 {
		path, partial, prefix = "", partial[1:], "/"
	}
	if i := strings.LastIndexByte(partial, '/'); i >= 0 && !strings.Contains(partial, "=") {
		for _, w := range strings.Split(partial[:i], "/") {
			if w != "" {
				words = append(words, w)
			}
		}
		prefix += partial[:i+1]
		partial = partial[i+1:]
	}
	cmd := ""
	for _, w := range words {
		if cmd != "" {
			break
		}
		if w == ".." {
			path = up(path)
		} else if c, ok := match(w, res.Children(path)); ok {
			path = join(path, c)
		} else if c, ok := match(w, res.Commands(path)); ok {
			cmd = c
		} else {
			return nil
		}
	}
	var cands []string
	if cmd == "" {
		cands = append(cands, res.Children(path)...)
		cands = append(cands, res.Commands(path)...)
	} else {
		spec, _ := res.Command(path, cmd)
		if eq := strings.IndexByte(partial, '='); eq >= 0 {
			name := partial[:eq]
			if m, ok := in.Ex.Tree.Get(path); ok {
				if p, ok := m.Prop(name); ok {
					for _, v := range propValues(p) {
						cands = append(cands, name+"="+v)
					}
				}
			}
		} else {
			for _, a := range spec.Args {
				cands = append(cands, a+"=")
			}
			cands = append(cands, spec.Flags...)
			if spec.Props {
				for _, p := range res.Props(path) {
					cands = append(cands, p+"=")
				}
			}
			if spec.Where {
				cands = append(cands, "where")
			}
		}
	}
	var out []string
	for _, c := range sortedStrings(cands) {
		if strings.HasPrefix(c, partial) {
			out = append(out, prefix+c)
		}
	}
	return out
}

func propValues(p *menu.Prop) []string {
	type lister interface{ Values() []string }
	var vals []string
	if l, ok := p.Type.(lister); ok {
		vals = l.Values()
	}
	if p.Auto {
		vals = append(vals, "auto")
	}
	return vals
}
