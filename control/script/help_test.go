package script

import (
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	in, _ := newInterp(t)
	for _, c := range []struct{ path, line, want, not string }{
		{"", "/system ", "script/", ""},
		{"", "/system sc", "script/", "identity/"},
		{"/system/script", "add ", "dont-require-permissions -- ", "run-count"},
		{"/system/script", "add pol", "(list of ", "name"},
		{"", "/nosuch ", "bad command name nosuch", ""},
		{"/system", ".. ", "system/", ""},
	} {
		got := in.Help(c.path, c.line)
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("Help(%q, %q) =\n%s\nwant %q, not %q", c.path, c.line, got, c.want, c.not)
		}
	}
}

// FuzzHelp: whatever a console user has typed, help answers without panicking.
func FuzzHelp(f *testing.F) {
	for _, s := range []string{"/system ", "/ip address add ", "add name=\"x", "../../ ", "/ / /", "set [find] ", ".."} {
		f.Add("", s)
		f.Add("/system/script", s)
	}
	in, _ := newInterp(f)
	f.Fuzz(func(t *testing.T, path, line string) {
		if len(line) > 4096 {
			return
		}
		if _, ok := in.Ex.Tree.Get(path); !ok {
			path = ""
		}
		in.Help(path, line)
	})
}
