package main

import (
	"os"
	"regexp"

	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/menu"
)

// openHistory makes the history file private before readline appends to it: the lines
// an operator types are commands, and the file outlives the session.
func openHistory(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	return os.Chmod(path, 0o600) // a file an older routerctl made 0644
}

// sensitiveNames are the properties whose values the history never keeps: those the
// schema hides from print (secrets, passwords, keys), and any name whose words say
// secret (eventlog.Secret), for commands outside the schema (/password new-password=).
var sensitiveNames = func() map[string]bool {
	out := map[string]bool{}
	for _, m := range menu.Default().All() {
		for _, p := range m.Props {
			if p.Sensitive || p.Secret {
				out[p.Name] = true
			}
		}
	}
	return out
}()

// argRE is one name=value argument of a console line, the value bare or quoted.
var argRE = regexp.MustCompile(`(^|[\s;{\[])([a-z][a-z0-9-]*)=("(?:[^"\\]|\\.)*"?|[^\s;\]}]*)`)

// historyLine is what the history keeps of a typed line: the values of sensitive
// properties are replaced by ***, as print shows them without show-sensitive.
func historyLine(line string) string {
	return argRE.ReplaceAllStringFunc(line, func(arg string) string {
		m := argRE.FindStringSubmatch(arg)
		if !sensitiveNames[m[2]] && !eventlog.Secret(m[2]) {
			return arg
		}
		return m[1] + m[2] + "=***"
	})
}
