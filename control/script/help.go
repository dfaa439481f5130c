package script

import (
	"fmt"
	"strings"

	"github.com/routerd/routerd/control/menu"
)

// commandHelp is the one line `?` shows for the generic commands and the common
// menu-specific ones.
var commandHelp = map[string]string{
	"add":             "Create a new item",
	"set":             "Change item properties",
	"unset":           "Return a property to its default",
	"remove":          "Remove an item",
	"enable":          "Enable items",
	"disable":         "Disable items",
	"comment":         "Set a comment for items",
	"print":           "Print values of item properties",
	"find":            "Find items by value",
	"get":             "Get the value of a property",
	"export":          "Print or save an export script that can be used to restore configuration",
	"move":            "Change the order of items",
	"edit":            "Edit a property in the editor",
	"monitor":         "Monitor the status of an item",
	"monitor-traffic": "Monitor the traffic of an interface",
	"run":             "Run a script",
	"save":            "Save a backup",
	"load":            "Load a backup",
	"import":          "Run a script file",
	"ping":            "Send ICMP echo requests",
	"password":        "Change the password of the logged-in user",
	"listen":          "Print changes as they are made",
}

// Help is what `?` prints for line typed at menu path: the menu's description, its
// sub-menus and commands; after a command, its arguments with their value syntax and a
// line of description each, from the menu schema. A word being typed narrows the list.
func (in *Interp) Help(path, line string) string {
	res := in.resolver()
	fields := strings.Fields(line)
	partial := ""
	if len(line) > 0 && line[len(line)-1] != ' ' && len(fields) > 0 {
		partial = fields[len(fields)-1]
		fields = fields[:len(fields)-1]
	}
	var words []string
	for i, f := range fields {
		if i == 0 && strings.HasPrefix(f, "/") {
			path, f = "", f[1:]
		}
		for _, w := range strings.Split(f, "/") {
			if w != "" {
				words = append(words, w)
			}
		}
	}
	if strings.HasPrefix(partial, "/") && len(fields) == 0 {
		path, partial = "", partial[1:]
	}
	if i := strings.LastIndexByte(partial, '/'); i >= 0 && !strings.Contains(partial, "=") {
		for _, w := range strings.Split(partial[:i], "/") {
			if w != "" {
				words = append(words, w)
			}
		}
		partial = partial[i+1:]
	}
	cmd := ""
	for _, w := range words {
		if cmd != "" {
			break // arguments after the command
		}
		if w == ".." {
			path = up(path)
		} else if c, ok := match(w, res.Children(path)); ok {
			path = join(path, c)
		} else if c, ok := match(w, res.Commands(path)); ok {
			cmd = c
		} else {
			return "bad command name " + w + "\n"
		}
	}
	if eq := strings.IndexByte(partial, '='); eq >= 0 {
		partial = partial[:eq]
	}
	m, _ := in.Ex.Tree.Get(path)
	var b strings.Builder
	type entry struct{ name, desc string }
	var list []entry
	if cmd == "" {
		if m != nil && m.Desc != "" {
			fmt.Fprintf(&b, "%s\n\n", m.Desc)
		}
		if path != "" && partial == "" {
			list = append(list, entry{"..", "go up to " + displayPath(up(path))})
		}
		for _, c := range res.Children(path) {
			desc := ""
			if cm, ok := in.Ex.Tree.Get(join(path, c)); ok {
				desc = cm.Desc
			}
			list = append(list, entry{c + "/", desc})
		}
		for _, c := range res.Commands(path) {
			list = append(list, entry{c, commandHelp[c]})
		}
	} else {
		if d := commandHelp[cmd]; d != "" {
			fmt.Fprintf(&b, "%s\n\n", d)
		}
		spec, _ := res.Command(path, cmd)
		seen := map[string]bool{}
		arg := func(name string, flag bool) {
			if seen[name] {
				return
			}
			seen[name] = true
			var p *menu.Prop
			if m != nil {
				p, _ = m.Prop(name)
			}
			desc := ""
			switch {
			case p != nil:
				desc = strings.TrimSuffix(p.Desc, ".")
				if p.Type != nil && !flag {
					desc += " (" + p.Type.Name() + ")"
				}
			case flag:
				desc = "flag"
			}
			list = append(list, entry{name, desc})
		}
		for _, a := range spec.Positional {
			arg(a, false)
		}
		for _, a := range spec.Args {
			arg(a, false)
		}
		if spec.Props && m != nil {
			for _, p := range m.Props {
				if !p.Hidden && !p.ReadOnly {
					arg(p.Name, false)
				}
			}
		}
		for _, a := range spec.Flags {
			arg(a, true)
		}
		if spec.Where {
			list = append(list, entry{"where", "only items for which the expression is true"})
		}
	}
	width := 0
	for _, e := range list {
		if strings.HasPrefix(e.name, partial) {
			width = max(width, len(e.name))
		}
	}
	for _, e := range list {
		if !strings.HasPrefix(e.name, partial) {
			continue
		}
		if e.desc == "" {
			fmt.Fprintf(&b, "%s\n", e.name)
		} else {
			fmt.Fprintf(&b, "%-*s -- %s\n", width, e.name, e.desc)
		}
	}
	return b.String()
}

func displayPath(p string) string {
	if p == "" {
		return "root"
	}
	return strings.ReplaceAll(p, "/", " ")[1:]
}
