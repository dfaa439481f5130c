package security

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/api"
)

//go:generate go test -run TestPolicyTable -update-policies .

var updatePolicies = flag.Bool("update-policies", false, "rewrite docs/policies.md from routerd --policy-table")

// TestPolicyTable checks that docs/policies.md is what routerd --policy-table writes
// (every command and the policies it needs, with whether each built-in group may run
// it), then walks it over the API for the full, write and read groups: each store
// command of each menu is refused with "not enough permissions" exactly where the
// table says no.
func TestPolicyTable(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "routerd"), "--data-dir", filepath.Join(tmp, "data"),
		"--socket", filepath.Join(tmp, "s.sock"), "--metrics-listen", "", "--bpffs", filepath.Join(tmp, "bpf"),
		"--service-bind", "127.0.0.1", "--policy-table")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	table, err := cmd.Output()
	if err != nil {
		t.Fatalf("routerd --policy-table: %v\n%s", err, stderr.String())
	}
	doc := filepath.Join("..", "..", "docs", "policies.md")
	if *updatePolicies {
		if err := os.WriteFile(doc, table, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A row of the committed table that contradicts routerd (another policy, another
	// answer for a group) is an error; commands added or removed since the table was
	// generated are reported, so that a new menu elsewhere does not fail this test.
	old, _ := os.ReadFile(doc)
	rows := func(b []byte) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Split(l, "|"); len(f) == 8 && strings.HasPrefix(strings.TrimSpace(f[1]), "/") {
				m[strings.TrimSpace(f[1])+" "+strings.TrimSpace(f[2])] = l
			}
		}
		return m
	}
	have, want := rows(old), rows(table)
	stale := 0
	for k, l := range want {
		switch h, ok := have[k]; {
		case !ok:
			stale++
		case h != l:
			t.Errorf("docs/policies.md says %q, routerd %q: run go generate ./test/security", h, l)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			stale++
		}
	}
	if stale > 0 {
		t.Logf("docs/policies.md misses or has %d commands more than routerd: run go generate ./test/security", stale)
	}

	r := newRouter(t, []string{"api"})
	var ws []*walker
	for _, g := range []string{"full", "write", "read"} {
		r.addUser("u"+g, g, "pw-"+g+"-123")
		c, err := net.Dial("tcp", r.addr("api"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w := &walker{group: g, c: c, w: api.NewWriter(c), rd: api.NewReader(c)}
		if reply := w.call(t, "/login", "=name=u"+g, "=password=pw-"+g+"-123"); !strings.HasPrefix(reply, "!done") {
			t.Fatalf("login as u%s: %s", g, reply)
		}
		ws = append(ws, w)
	}
	col := map[string]int{"full": 4, "write": 5, "read": 6}
	walked := 0
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 8 || !strings.HasPrefix(strings.TrimSpace(f[1]), "/") {
			continue
		}
		cells := make([]string, len(f))
		for i := range f {
			cells[i] = strings.TrimSpace(f[i])
		}
		path, command := cells[1], cells[2]
		var args []string
		switch command {
		case "print", "find", "export":
		case "set", "remove", "enable", "disable":
			// An id no item has: allowed, it fails as no such item and changes nothing.
			args = []string{"=.id=*FFFFFFF"}
		default:
			continue
		}
		word := strings.TrimSuffix(path, "/") + "/" + command
		for _, w := range ws {
			reply := w.call(t, append([]string{word}, args...)...)
			denied := strings.Contains(reply, "not enough permissions")
			if want := cells[col[w.group]] == "no"; denied != want {
				t.Errorf("%s as %s: table says allowed=%v, the API answered %s", word, w.group, !want, reply)
			}
			walked++
		}
	}
	t.Logf("walked %d command and group pairs", walked)
	if walked < 300 {
		t.Errorf("walked only %d pairs", walked)
	}
}

// walker is a logged-in API connection of one group's user.
type walker struct {
	group string
	c     net.Conn
	w     *api.Writer
	rd    *api.Reader
}

// call sends one sentence and returns the reply sentences up to !done, joined.
func (w *walker) call(t *testing.T, words ...string) string {
	t.Helper()
	w.c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := w.w.WriteSentence(words...); err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		s, err := w.rd.ReadSentence()
		if err != nil {
			t.Fatalf("%v: %v", words, err)
		}
		out = append(out, strings.Join(s, " "))
		if len(s) > 0 && (s[0] == "!done" || s[0] == "!fatal") {
			return strings.Join(out, "\n")
		}
	}
}
