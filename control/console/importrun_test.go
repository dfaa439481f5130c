package console

import (
	"errors"
	"maps"
	"slices"
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

// TestSlashFormMenus: RouterOS 7's slash form of a menu routerd lacks is skipped as
// that menu, not refused: the parser answers "syntax error" at an unknown word after a
// slash (the space form gets "bad command name"), and one menu is counted once however
// the file spells it. A syntax error elsewhere stays a refusal.
func TestSlashFormMenus(t *testing.T) {
	src := `/interface/wireless security-profiles set [ find default=yes ] a=b
/interface/wireless/security-profiles/add name=x
/interface wireless security-profiles add name=y
/caps-man/configuration add name=c1
/caps-man configuration add name=c2
/interface/wifi
add name=w1
/ip/address/add address=198.18.0.1/24 interface=ether1 comment=x'
/ip/address add address=198.18.0.2/24 interface=ether1
/
:put done
`
	var ran []string
	run := func(stmt string) error {
		ran = append(ran, stmt)
		switch {
		case strings.HasPrefix(stmt, "/interface/wi"):
			return errors.New("syntax error (line 1 column 12)")
		case strings.HasPrefix(stmt, "/interface wireless"):
			return errors.New("bad command name wireless (line 1 column 12)")
		case strings.HasPrefix(stmt, "/caps-man"):
			return errors.New("bad command name caps-man (line 1 column 2)")
		case strings.Contains(stmt, "comment=x'"):
			return errors.New("syntax error (line 1 column 64)")
		}
		return nil
	}
	r := RunStatements(strings.Split(src, "\n"), 1, run, nil)
	if want := map[string]int{"/interface wireless security-profiles": 3, "/caps-man configuration": 2,
		"/interface wifi": 1}; !maps.Equal(r.Skipped, want) {
		t.Errorf("skipped = %v, want %v", r.Skipped, want)
	}
	if want := map[string]int{"syntax error": 1}; !maps.Equal(r.Refused, want) {
		t.Errorf("refused = %v, want %v", r.Refused, want)
	}
	if r.Applied != 2 {
		t.Errorf("applied = %d, want 2 (the second address, :put; '/' alone is no command)", r.Applied)
	}
	if slices.Contains(ran, "add name=w1") {
		t.Error("ran a statement of the missing /interface/wifi")
	}
}

// TestUnterminatedString: an open quote that runs to the end of the file runs none of
// it; the run goes on at the next menu line and the summary counts what was lost.
func TestUnterminatedString(t *testing.T) {
	for _, c := range []struct{ src, ran, report string }{
		{"/ip dhcp-server\nadd name=\"U3\nadd name=U5\n/ip pool\nadd name=U4 ranges=10.2.2.4\n",
			"/ip dhcp-server|/ip pool|add name=U4 ranges=10.2.2.4", "line 2: unterminated string or bracket (lines 2-3 not run)"},
		{"/ip pool\nadd name=\"U1 ranges=10.2.2.1\nadd name=U2 \\\n    ranges=10.2.2.2\n\n",
			"/ip pool", "line 2: unterminated string or bracket (lines 2-5 not run)"},
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
	f.Add("/interface ethernet\nset [ find default-name=ether9 ] name=x\nset [ find default-name=\"ether1\" ] mtu=1400\n")
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Split(src, "\n")
		ran := 0
		r := RunStatements(lines, 1, func(stmt string) error {
			if strings.HasPrefix(stmt, ":if ([:len [") { // the port check before a statement
				if strings.Contains(stmt, "default-name=ether9") {
					return errors.New(NoPort)
				}
				return nil
			}
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

// TestNoPort: a statement that finds a port by default-name that is not here (an export
// of a box with more ports) is not run and is counted apart, by port; one whose port is
// here runs; one whose menu is not here is skipped as such.
func TestNoPort(t *testing.T) {
	src := `/interface ethernet
set [ find default-name=ether1 ] name=ether1-wan
set [ find default-name=ether9 ] comment=\
    uplink name=ether9-lan
/interface ethernet set [ find default-name="sfp-sfpplus2" ] disabled=yes
/interface wireless set [ find default-name=wlan1 ] ssid=x
`
	var ran, checks []string
	run := func(stmt string) error {
		if strings.HasPrefix(stmt, ":if") {
			checks = append(checks, stmt)
			switch {
			case strings.Contains(stmt, "/interface wireless"):
				return errors.New("bad command name wireless (line 1 column 23)")
			case strings.Contains(stmt, "ether1]"):
				return nil
			}
			return errors.New(NoPort)
		}
		ran = append(ran, stmt)
		if strings.HasPrefix(stmt, "/interface wireless") {
			return errors.New("bad command name wireless (line 1 column 12)")
		}
		return nil
	}
	r := RunStatements(strings.Split(src, "\n"), 1, run, nil)
	if want := []string{
		`:if ([:len [/interface ethernet find default-name=ether1]] = 0) do={ :error "port does not exist here" }`,
		`:if ([:len [/interface ethernet find default-name=ether9]] = 0) do={ :error "port does not exist here" }`,
		`:if ([:len [/interface ethernet find default-name="sfp-sfpplus2"]] = 0) do={ :error "port does not exist here" }`,
		`:if ([:len [/interface wireless find default-name=wlan1]] = 0) do={ :error "port does not exist here" }`,
	}; !slices.Equal(checks, want) {
		t.Errorf("checks:\n%s", strings.Join(checks, "\n"))
	}
	if want := []string{"/interface ethernet", "set [ find default-name=ether1 ] name=ether1-wan",
		"/interface wireless set [ find default-name=wlan1 ] ssid=x"}; !slices.Equal(ran, want) {
		t.Errorf("ran %q, want %q", ran, want)
	}
	if want := map[string]int{"ether9": 1, "sfp-sfpplus2": 1}; !maps.Equal(r.NoPort, want) {
		t.Errorf("no port = %v, want %v", r.NoPort, want)
	}
	if r.Skipped["/interface wireless"] != 1 || r.Applied != 1 || r.Errors() != 3 {
		t.Errorf("skipped %v, applied %d, errors %d", r.Skipped, r.Applied, r.Errors())
	}
	if want := "line 3: port does not exist here (skipped): /interface ethernet set [ find default-name=ether9 ] comment=uplink name=ether9-lan"; r.Failures[0] != want {
		t.Errorf("failure %q, want %q", r.Failures[0], want)
	}
	sum := r.Summary()
	for _, w := range []string{"1 applied, 1 skipped (menu does not exist here), 2 skipped (port does not exist here), 0 refused\n",
		"  skipped    1  [ find default-name=ether9 ]\n", "  skipped    1  [ find default-name=sfp-sfpplus2 ]\n"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
}

// TestFailurePrintable: a failing line's control characters and bytes that are not UTF-8
// are shown escaped, never sent to the operator's terminal as they are.
func TestFailurePrintable(t *testing.T) {
	src := "/ip firewall address-list\nadd list=esc comment=\x1b[2J\x1b]0;pwned\x07 x=\xff\xfe\u00e9\n"
	r := RunStatements(strings.Split(src, "\n"), 1, func(string) error {
		return errors.New("syntax error \x1b[31m")
	}, nil)
	want := `line 2: syntax error \1B[31m: /ip firewall address-list add list=esc comment=\1B[2J\1B]0;pwned\07 x=\FF\FE` + "\u00e9"
	if len(r.Failures) != 2 || r.Failures[1] != want {
		t.Errorf("failures %q, want %q second", r.Failures, want)
	}
}

func TestExportVersion(t *testing.T) {
	for src, want := range map[string]int{
		"# jan/02/2021 10:00:00 by RouterOS 6.48.1\n# software id = X\n/ip address\n": 6,
		"# 2025-01-01 00:00:00 by RouterOS 7.20\r\n/ip address\n":                     7,
		"\n# dec/02/2026 10:00:00 by RouterOS 6.40.8\n":                               6,
		"/ip address\nadd address=198.18.0.1/24 interface=ether1\n":                   0,
		"/ip address\n\n\n# by RouterOS 6.49\n":                                       0, // only a header counts
	} {
		if got := ExportVersion(src); got != want {
			t.Errorf("ExportVersion(%q) = %d, want %d", src, got, want)
		}
	}
}

// TestInterruptedExport: RouterOS marks an export cut short on the router with
// "#interrupted"; the summary warns that what followed is not in the file.
func TestInterruptedExport(t *testing.T) {
	src := "# 2024-01-01 by RouterOS 6.47.4\n/interface bridge\nadd name=b1\n#interrupted\n"
	r := RunStatements(strings.Split(src, "\n"), 1, func(string) error { return nil }, nil)
	if r.Interrupted != 4 || !strings.Contains(r.Summary(), "warning: line 4: the export was interrupted on the router") {
		t.Errorf("interrupted %d, summary:\n%s", r.Interrupted, r.Summary())
	}
	if r := RunStatements([]string{"/interface bridge", "add name=b1"}, 1, func(string) error { return nil }, nil); strings.Contains(r.Summary(), "warning") {
		t.Errorf("a whole file warned:\n%s", r.Summary())
	}
}

// TestUnknownPropertyNamed: a refusal for a property routerd does not know names it and
// its menu, so the summary lists what a migration loses by property (QA: "refused 12
// expected end of command" said nothing of which).
func TestUnknownPropertyNamed(t *testing.T) {
	src := "/ipv6 nd prefix default\nset autonomous=yes \\\n    dhcp6-pd-preferred=no\n/ip address add address=198.18.0.1/24 x=1 interface=ether1\n"
	r := RunStatements(strings.Split(src, "\n"), 1, func(stmt string) error {
		switch {
		case strings.Contains(stmt, "dhcp6-pd-preferred"):
			return errors.New("expected end of command (line 2 column 5)")
		case strings.Contains(stmt, "x=1"):
			return errors.New("expected end of command (line 1 column 39)")
		}
		return nil
	}, nil)
	want := map[string]int{"expected end of command: unknown property dhcp6-pd-preferred in /ipv6 nd prefix default": 1,
		"expected end of command: unknown property x in /ip address": 1}
	if !maps.Equal(r.Refused, want) {
		t.Errorf("refused %v, want %v", r.Refused, want)
	}
}

// TestNamesSkippedItem: a statement refused only because it names an item of a skipped
// menu (a bridge port of a wifi interface, after /interface wifi was skipped) is counted
// as what that menu loses, not as a refusal; a name nothing skipped made stays refused.
func TestNamesSkippedItem(t *testing.T) {
	src := `/interface wifi
add configuration.mode=ap \
    name=wifi01
/interface/wifi add name=wifi02
/interface wifi
set [ find default-name=wifi3 ] comment="radio name=x" \
    disabled=no name=wifi03 .ssid=a
/interface bridge port
add bridge=bridge interface=wifi01
add bridge=bridge interface=wifi03
add bridge=bridge interface=nothere
/interface list member
add interface=wifi02 list=LAN
`
	r := RunStatements(strings.Split(src, "\n"), 1, func(stmt string) error {
		switch {
		case strings.HasPrefix(stmt, "/interface wifi"):
			return errors.New("bad command name wifi (line 1 column 12)")
		case strings.HasPrefix(stmt, "/interface/wifi"):
			return errors.New("syntax error (line 1 column 12)")
		case strings.Contains(stmt, "interface="):
			return errors.New("input does not match any value of interface")
		}
		return nil
	}, nil)
	if want := map[string]int{"wifi01 of /interface wifi": 1, "wifi02 of /interface wifi": 1, "wifi03 of /interface wifi": 1}; !maps.Equal(r.Follows, want) {
		t.Errorf("follows %v, want %v", r.Follows, want)
	}
	if want := map[string]int{"input does not match any value of interface": 1}; !maps.Equal(r.Refused, want) {
		t.Errorf("refused %v, want %v", r.Refused, want)
	}
	if sum := r.Summary(); !strings.Contains(sum, "3 skipped (names an item of a skipped menu), 1 refused") ||
		!strings.Contains(sum, "  skipped    1  names wifi01 of /interface wifi\n") {
		t.Errorf("summary:\n%s", sum)
	}
}

// TestAllUnknownPropertiesNamed: a statement with several properties routerd does not
// know names all of them (the parser stops at the first), through the real console, in
// a relative statement wrapped over lines, and nothing of the refused statement runs.
func TestAllUnknownPropertiesNamed(t *testing.T) {
	c := startServer(t).dial(t)
	src := "/interface bridge\nadd name=b1 foo-bar=\"a b\" \\\n    comment=x !baz-q \\\n    qux=[:len 1] protocol-mode=none zz=1\n" +
		"/interface bridge add name=b2 one=1\n"
	path := ""
	r := RunStatements(strings.Split(src, "\n"), 1, func(stmt string) error {
		var err error
		path, err = c.Run(path, stmt, false, 80, nil)
		return err
	}, nil)
	want := map[string]int{"expected end of command: unknown properties foo-bar, baz-q, qux, zz in /interface bridge": 1,
		"expected end of command: unknown property one in /interface bridge": 1}
	if !maps.Equal(r.Refused, want) {
		t.Errorf("refused %v, want %v", r.Refused, want)
	}
	var out strings.Builder
	if _, err := c.Run("", ":put [:len [/interface bridge find]]", false, 80, &out); err != nil || out.String() != "0\n" {
		t.Errorf("bridges after the refusals: %q %v", out.String(), err)
	}
}

// TestNamesSkippedForwarder: /ip dns static forward-to= takes an address or the name of
// a /ip dns forwarders entry (RouterOS 7.20); routerd has no such menu, so an entry
// naming a skipped forwarder is skipped with it (QA: it was refused 'invalid value for
// argument forward-to'), through the real console, while a forward-to that is neither
// an address nor a skipped name stays refused, and an address is applied.
func TestNamesSkippedForwarder(t *testing.T) {
	c := startServer(t).dial(t)
	src := `/ip dns forwarders
add dns-servers=198.18.100.1 name=corp-fwd
/ip dns static
add forward-to=corp-fwd name=corp2.example type=FWD
add forward-to=198.18.100.2 name=corp3.example type=FWD
add forward-to=elsewhere name=corp4.example type=FWD
`
	path := ""
	r := RunStatements(strings.Split(src, "\n"), 1, func(stmt string) error {
		var err error
		path, err = c.Run(path, stmt, false, 80, nil)
		return err
	}, nil)
	if want := map[string]int{"corp-fwd of /ip dns forwarders": 1}; !maps.Equal(r.Follows, want) {
		t.Errorf("follows %v, want %v", r.Follows, want)
	}
	if want := map[string]int{"invalid value for argument forward-to": 1}; !maps.Equal(r.Refused, want) {
		t.Errorf("refused %v, want %v", r.Refused, want)
	}
	if r.Applied != 1 {
		t.Errorf("%d applied, want 1", r.Applied)
	}
}
