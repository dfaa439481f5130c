package console

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestRunStatements(t *testing.T) {
	src := `# 2025-01-01 by RouterOS 7.20
/interface bridge
add name=b1 \
    comment=x
/ip firewall filter
add chain=input
add chain=forward
/ip address
add address=198.18.0.1/24 \
    interface=nope
/interface wireless security-profiles set [ find default=yes ] a=b
/snmp community
set [ find default=yes ] addresses=44.0.0.0/8
:put done
`
	var ran []string
	run := func(stmt string) error {
		ran = append(ran, stmt)
		switch {
		case strings.HasPrefix(stmt, "/ip firewall"):
			return errors.New("bad command name firewall (line 1 column 5)")
		case strings.HasPrefix(stmt, "/interface wireless"):
			return errors.New("bad command name wireless (line 1 column 12)")
		case strings.HasPrefix(stmt, "/snmp"):
			return errors.New("bad command name snmp (line 1 column 2)")
		case strings.Contains(stmt, "interface=nope"):
			return errors.New("input does not match any value of interface")
		}
		return nil
	}
	var reported []string
	r := RunStatements(strings.Split(src, "\n"), 1, run, func(s string) { reported = append(reported, s) })
	if r.Applied != 2 {
		t.Errorf("applied = %d, want 2 (add name=b1, :put)", r.Applied)
	}
	// The bad word may be the first after the slash (/snmp community: RouterOS's word
	// snmp is no menu here).
	if want := map[string]int{"/ip firewall filter": 2, "/interface wireless security-profiles": 1, "/snmp community": 1}; !maps.Equal(r.Skipped, want) {
		t.Errorf("skipped = %v, want %v", r.Skipped, want)
	}
	if want := map[string]int{"input does not match any value of interface": 1}; !maps.Equal(r.Refused, want) {
		t.Errorf("refused = %v, want %v", r.Refused, want)
	}
	for _, s := range ran {
		if strings.HasPrefix(s, "add chain=") || strings.HasPrefix(s, "set [ find default=yes ]") {
			t.Errorf("ran %q in a menu that does not exist", s)
		}
	}
	if !strings.Contains(strings.Join(ran, "|"), "add name=b1 \\\n    comment=x") {
		t.Errorf("continuation not joined: %q", ran)
	}
	// The failing statement is shown whole (continuations joined) in its menu.
	if len(reported) != 4 || !strings.HasPrefix(reported[0], "line 5: menu does not exist here (skipped): /ip firewall filter") ||
		reported[1] != "line 9: input does not match any value of interface: /ip address add address=198.18.0.1/24 interface=nope" {
		t.Errorf("reported = %q", reported)
	}
	if r.Errors() != 5 {
		t.Errorf("errors = %d, want 5", r.Errors())
	}
	sum := r.Summary()
	for _, w := range []string{"2 applied, 4 skipped", "1 refused", "skipped    2  /ip firewall filter"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
}

// TestUnterminatedString: an open quote that runs to the end of the file runs none of
// it; the run goes on at the next menu line and the summary counts what was lost.
func TestUnterminatedString(t *testing.T) {
	for _, c := range []struct{ src, ran, report string }{
		{"/ip dhcp-server\nadd name=\"U3\nadd name=U5\n/ip pool\nadd name=U4 ranges=10.2.2.4\n",
			"/ip dhcp-server|/ip pool|add name=U4 ranges=10.2.2.4", "line 2: unterminated string or bracket (lines 2-3 not run)"},
		{"/ip pool\nadd name=\"U1 ranges=10.2.2.1\nadd name=U2 \\\n    ranges=10.2.2.2\n\n",
			"/ip pool", "line 2: unterminated string or bracket (lines 2-6 not run)"},
	} {
		var ran, reported []string
		r := RunStatements(strings.Split(c.src, "\n"), 1, func(stmt string) error {
			ran = append(ran, stmt)
			return nil
		}, func(s string) { reported = append(reported, s) })
		if got := strings.Join(ran, "|"); got != c.ran {
			t.Errorf("ran %q, want %q", got, c.ran)
		}
		if r.Refused["unterminated string or bracket"] != 2 {
			t.Errorf("refused %v, want the 2 statements lost", r.Refused)
		}
		if len(reported) != 1 || !strings.HasPrefix(reported[0], c.report) {
			t.Errorf("reported %q, want %q", reported, c.report)
		}
	}
}

// FuzzRunStatements: any file splits into statements without a panic, every line is run
// at most once, and the counts add up.
func FuzzRunStatements(f *testing.F) {
	f.Add("/ip firewall filter\nadd chain=input\n/interface bridge\nadd name=b \\\n    comment=x\n")
	f.Add("/x y\n\"unterminated\n{ [ (\n# c\n\\")
	f.Add(":foreach i in={1;2} do={\n:put $i\n}\n/ip route add blackhole")
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Split(src, "\n")
		ran := 0
		r := RunStatements(lines, 1, func(stmt string) error {
			ran++
			switch {
			case strings.HasPrefix(stmt, "/x"):
				return errors.New("bad command name x (line 1 column 2)")
			case strings.Contains(stmt, "err"):
				return errors.New("failure: err")
			}
			return nil
		}, nil)
		if ran > len(lines) {
			t.Fatalf("ran %d statements of %d lines", ran, len(lines))
		}
		refused := 0
		for why, n := range r.Refused {
			if why != "unterminated string or bracket" { // refused without running
				refused += n
			}
		}
		if r.Applied+refused > ran {
			t.Fatalf("applied %d + refused %d > ran %d", r.Applied, refused, ran)
		}
		_ = r.Summary()
	})
}

// TestSummary: the counts, then the skipped menus and the refusal reasons, most first
// (ties by name), so an operator reads what a migration would lose at a glance.
func TestSummary(t *testing.T) {
	r := &ImportReport{Applied: 138,
		Skipped: map[string]int{"/ip dhcp-server": 3, "/interface wireguard": 1, "/tool mac-server": 1, "/snmp": 0},
		Refused: map[string]int{"expected end of command": 1, "failure: psd: not supported": 2}}
	want := "import summary: 138 applied, 5 skipped (menu does not exist here), 3 refused\n" +
		"  skipped    3  /ip dhcp-server\n" +
		"  skipped    1  /interface wireguard\n" +
		"  skipped    1  /tool mac-server\n" +
		"  skipped    0  /snmp\n" +
		"  refused    2  failure: psd: not supported\n" +
		"  refused    1  expected end of command\n"
	if got := r.Summary(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	if r.Errors() != 8 {
		t.Errorf("errors = %d, want 8", r.Errors())
	}
}
