package script

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
)

// richConfig touches every menu routerd stores, with values that need quoting and
// escaping, built-in items changed, disabled items and comments.
var richConfig = []string{
	`/system identity set name="core router 1"`,
	// A quoted multi-line source with quotes, $ and a backslash.
	`/system script add name=backup-check policy=read,write,test comment="checks \"backups\"" ` +
		`source=":local name \"x\$y\"\n:put \"line1\\nline2\"\n:log info \"cost: \\\$5 \\\\ done\"\n"`,
	// A {} source spanning lines.
	"/system script add name=block-src dont-require-permissions=yes source={\n" +
		"  :local a \"q\\\"x\"\n" +
		"  :if ($a != \"\") do={ :put \"a=$a\" }\n" +
		"}",
	`/interface gre add name=gre-a remote-address=10.0.0.2 local-address=10.0.0.1 mtu=1400 keepalive=5s,3 ` +
		`dscp=10 clamp-tcp-mss=no dont-fragment=inherit allow-fast-path=no ipsec-secret=s3cret comment="to site A"`,
	`/interface gre add name=gre-b remote-address=10.0.0.3 mtu=auto disabled=yes`,
	`/interface gre add name=other remote-address=10.0.0.4`,
	// RouterOS's export spellings: !keepalive (off), a bridge priority in hex.
	`/interface gre add name=nk-gre remote-address=10.0.0.5 !keepalive`,
	`/interface bridge add name=br-x priority=0x7000`,
	`/interface eoip add name=eoip1 remote-address=10.0.1.2 tunnel-id=7 mac-address=02:00:00:aa:bb:cc arp=proxy-arp ` +
		`loop-protect=on loop-protect-disable-time=10m arp-timeout=1m keepalive=20s,5`,
	`/interface ipip add name=ipip1 remote-address=10.0.2.2 local-address=10.0.2.1 mtu=1480 dscp=inherit`,
	`/interface 6to4 add name=sit1 local-address=194.105.56.170 remote-address=216.66.80.90 mtu=1280 ` +
		`comment="Hurricane Electric IPv6 Tunnel Broker"`,
	`/ip ipsec profile add name=p1 dh-group=modp2048,ecp256 enc-algorithm=aes-256,aes-128 lifetime=8h dpd-interval=disable-dpd`,
	`/ip ipsec profile set [find default=yes] lifetime=12h nat-traversal=no`,
	`/ip ipsec proposal set [find default=yes] pfs-group=modp2048 enc-algorithms=aes-128-gcm`,
	`/ip ipsec proposal add name=prop1 auth-algorithms=sha256 enc-algorithms=aes-256-cbc pfs-group=none lifetime=1h`,
	`/ip ipsec peer add name=peer1 address=192.0.2.1/32 profile=p1 exchange-mode=ike2`,
	`/ip ipsec peer add name=peer2 address=vpn.example.net passive=yes disabled=yes comment="road warriors"`,
	`/ip ipsec mode-config add name=mc1 address=192.168.99.2 address-prefix-length=32 ` +
		`split-include=192.168.99.1/32,10.0.0.0/8 system-dns=no static-dns=10.5.8.1`,
	`/ip ipsec mode-config set [find name=request-only] src-address-list=local`,
	`/ip ipsec policy group add name=grp1`,
	`/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.2.0.0/24 tunnel=yes peer=peer1 proposal=prop1 comment="site to site"`,
	`/ip ipsec policy add group=grp1 template=yes dst-address=192.168.99.0/24 proposal=prop1`,
	`/ip ipsec policy add src-address=1.1.1.1 dst-address=0.0.0.0/0 protocol=udp src-port=1701 tunnel=yes action=discard disabled=yes`,
	`/ip ipsec policy set [find default=yes] proposal=prop1 comment="default template; edited"`,
	`/ip ipsec identity add peer=peer1 secret="pre shared \"key\" \$1" my-id=fqdn:r1.example remote-id=fqdn:r2.example ` +
		`mode-config=mc1 policy-template-group=grp1 generate-policy=port-strict`,
	`/ip ipsec identity add peer=peer2 auth-method=eap-radius certificate=server1 disabled=yes`,
	`/ip ipsec settings set interim-update=1m`,
	`/ip service set www port=8080 address=10.0.0.0/8,2001:db8::/32`,
	`/ip service set telnet disabled=yes`,
	`/ip service set [find name=api-ssl] certificate=server1 tls-version=only-1.2`,
	`/system scheduler add name=sched1 interval=1h on-event=backup-check start-time=9:00:00 start-date=jan/01/2024`,
	`/system scheduler add name=inline on-event=":log info \"tick \$x\"" interval=30s disabled=yes comment="inline code"`,
	`/ip tftp add req-filename="(aaa.bin)|(bbb.bin)" real-filename="/sata1/ccc.bin\\0" read-only=yes ip-addresses=192.168.1.0/24`,
	`/ip tftp add req-filename=.* allow=no comment="deny the rest"`,
	`/ip tftp settings set max-block-size=1428`,
	`/system ptp add name=ptp1 profile=802.1as priority1=10 domain=5`,
	`/system ptp add name=ptp2 disabled=yes delay-mode=p2p`,
	`/system ptp port add interface=sfp28-1 ptp=ptp1`,
	`/system ptp port add interface=sfp28-2 ptp=ptp1 disabled=yes comment="spare port"`,
	`/user group add name=ops policy=read,test,winbox comment="network operators"`,
	`/user group set read skin=custom`,
	`/user add name=alice group=ops password="pa ss\$1" address=10.0.0.0/8`,
	`/user add name=bob group=full disabled=yes comment="on leave"`,
	`/user add name=carol group=read comment="# not a comment; {really} [no] ?x \\ ünï"`,
}

// exportText runs an export command and returns its text without the timestamp line.
func exportText(t *testing.T, in *Interp, c *Console, cmd string) string {
	t.Helper()
	out := mustRun(t, in, c, cmd)
	head, body, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(head, "# ") || !strings.Contains(head, " by routerd ") {
		t.Fatalf("%s: header %q", cmd, head)
	}
	if strings.HasPrefix(body, control.SensitiveExportLine) && (!strings.Contains(cmd, "show-sensitive") || !c.Sess.ShowSensitive) {
		t.Fatalf("%s: marked as holding secrets", cmd)
	}
	return strings.TrimPrefix(body, control.SensitiveExportLine)
}

func buildRich(t *testing.T) (*Interp, *Console) {
	t.Helper()
	in, c := newInterp(t)
	for _, cmd := range richConfig {
		mustRun(t, in, c, cmd)
	}
	return in, c
}

// reimport runs an export in a fresh interpreter and returns that interpreter.
func reimport(t *testing.T, text string) (*Interp, *Console) {
	t.Helper()
	in, c := newInterp(t)
	if _, err := runSrc(t, in, c, text); err != nil {
		t.Fatalf("import: %v\n%s", err, text)
	}
	c.Path = ""
	return in, c
}

func TestExportImportIdentical(t *testing.T) {
	in, c := buildRich(t)
	first := exportText(t, in, c, "/export show-sensitive")
	for _, want := range []string{
		`set name="core router 1"`,
		`source=":local name \"x\$y\"\n:put \"line1\\nline2\"\n`,
		`set [ find default=yes ] comment="default template; edited" proposal=prop1`,
		`set [ find default=yes ] enc-algorithms=aes-128-gcm pfs-group=modp2048`,
		`set [ find name=www ] address=10.0.0.0/8,2001:db8::/32 port=8080`,
		`secret="pre shared \"key\" \$1"`,
		`password="pa ss\$1"`,
		`ipsec-secret=s3cret`,
		`add comment="on leave" disabled=yes group=full name=bob`,
		`add !keepalive name=nk-gre remote-address=10.0.0.5`,
		`add name=br-x priority=0x7000`,
	} {
		if !strings.Contains(first, want) {
			t.Errorf("export lacks %s", want)
		}
	}
	if out := mustRun(t, in, c, "/interface bridge print detail where name=br-x"); !strings.Contains(out, "priority=0x7000") {
		t.Errorf("bridge priority not printed in hex:\n%s", out)
	}
	if got := mustRun(t, in, c, ":put [/interface bridge get br-x priority]"); got != "28672\n" {
		t.Errorf("get priority = %q, want the number 28672", got)
	}
	if out := mustRun(t, in, c, "/interface gre print detail where name=nk-gre"); strings.Contains(out, "keepalive") {
		t.Errorf("a keepalive that is off printed:\n%s", out)
	}
	in2, c2 := reimport(t, first)
	for _, tc := range []struct{ get, want string }{
		{`/system identity get name`, "core router 1"},
		{`/system script get backup-check source`, ":local name \"x$y\"\n:put \"line1\\nline2\"\n:log info \"cost: \\$5 \\\\ done\"\n"},
		{`/system script get block-src source`, ":local a \"q\\\"x\"\n  :if ($a != \"\") do={ :put \"a=$a\" }"},
		{`/ip ipsec identity get [find peer=peer1] secret`, `pre shared "key" $1`},
		{`/user get carol comment`, `# not a comment; {really} [no] ?x \ ünï`},
		{`/ip tftp get [find read-only] real-filename`, `/sata1/ccc.bin\0`},
	} {
		if got := mustRun(t, in2, c2, ":put ["+tc.get+"]"); got != tc.want+"\n" {
			t.Errorf("after import, %s = %q, want %q", tc.get, got, tc.want+"\n")
		}
	}
	if second := exportText(t, in2, c2, "/export show-sensitive"); second != first {
		t.Fatalf("export after import differs:\n--- first\n%s\n--- second\n%s", first, second)
	}
	// A restart seeds the built-in items again: changed ones are found, not duplicated.
	if err := in2.Ex.Seed(); err != nil {
		t.Fatal(err)
	}
	if again := exportText(t, in2, c2, "/export show-sensitive"); again != first {
		t.Fatalf("export after a second Seed differs:\n%s", again)
	}
	if n := mustRun(t, in2, c2, `/ip ipsec policy print count-only where default`); n != "1\n" {
		t.Errorf("default policy templates after a second Seed: %s", n)
	}

	t.Run("verbose", func(t *testing.T) {
		verbose := exportText(t, in, c, "/export verbose show-sensitive")
		if len(verbose) <= len(first) || !strings.Contains(verbose, "clamp-tcp-mss=yes") {
			t.Fatalf("verbose export shows no defaults:\n%s", verbose)
		}
		in3, c3 := reimport(t, verbose)
		if got := exportText(t, in3, c3, "/export show-sensitive"); got != first {
			t.Fatalf("export after importing the verbose export differs:\n--- want\n%s\n--- got\n%s", first, got)
		}
	})

	t.Run("terse", func(t *testing.T) {
		terse := exportText(t, in, c, "/export terse show-sensitive")
		for _, l := range strings.Split(strings.TrimSuffix(terse, "\n"), "\n") {
			if !strings.HasPrefix(l, "/") || strings.HasSuffix(l, "\\") {
				t.Fatalf("terse line without its path or wrapped: %q", l)
			}
		}
		if !strings.Contains(terse, "/interface gre add name=other remote-address=10.0.0.4\n") {
			t.Errorf("terse export:\n%s", terse)
		}
		in3, c3 := reimport(t, terse)
		if got := exportText(t, in3, c3, "/export show-sensitive"); got != first {
			t.Fatalf("export after importing the terse export differs:\n--- want\n%s\n--- got\n%s", first, got)
		}
	})

	t.Run("sensitive", func(t *testing.T) {
		hidden := exportText(t, in, c, "/export")
		for _, secret := range []string{"s3cret", "pre shared", "pa ss", "ipsec-secret=", "secret=", "password="} {
			if strings.Contains(hidden, secret) {
				t.Errorf("export without show-sensitive shows %q", secret)
			}
		}
		// Apart from the secrets it is the same configuration.
		if !strings.Contains(hidden, "add address=10.0.0.0/8 group=ops name=alice\n") {
			t.Errorf("export without show-sensitive:\n%s", hidden)
		}
		// A session without the sensitive policy gets no secrets even when it asks.
		c.Sess.ShowSensitive = false
		defer func() { c.Sess.ShowSensitive = true }()
		if got := exportText(t, in, c, "/export show-sensitive"); got != hidden {
			t.Errorf("show-sensitive without the policy:\n%s", got)
		}
	})

	t.Run("where", func(t *testing.T) {
		c.Path = "/interface/gre"
		defer func() { c.Path = "" }()
		got := exportText(t, in, c, `export where name~"^gre"`)
		want := "/interface gre\n" +
			"add allow-fast-path=no clamp-tcp-mss=no comment=\"to site A\" \\\n" +
			"    dont-fragment=inherit dscp=10 keepalive=5s,3 local-address=10.0.0.1 \\\n" +
			"    mtu=1400 name=gre-a remote-address=10.0.0.2\n" +
			"add disabled=yes mtu=auto name=gre-b remote-address=10.0.0.3\n"
		if got != want {
			t.Errorf("export where:\n%s\nwant:\n%s", got, want)
		}
		if got := exportText(t, in, c, `export where disabled`); !strings.Contains(got, "name=gre-b") || strings.Contains(got, "name=gre-a") {
			t.Errorf("export where disabled:\n%s", got)
		}
	})
}

// TestPrintForms pins the print forms of console-language.md §3.4-3.5.
func TestPrintForms(t *testing.T) {
	in, c := newInterp(t)
	// An engine-less menu shows a status line in detail and terse; pretend one runs gre.
	m, _ := in.Ex.Tree.Get("/interface/gre")
	m.Engine = "test"
	mustRun(t, in, c, `/interface gre add name=gre1 remote-address=10.0.0.2 comment="spare tunnel"`)
	mustRun(t, in, c, `/interface gre add name=gre2 remote-address=10.0.0.3 local-address=10.0.0.1 disabled=yes mtu=1400`)
	mustRun(t, in, c, `/interface gre add name=tunnel-to-the-datacenter remote-address=192.168.100.200 keepalive=5s,3`)

	for _, tc := range []struct{ cmd, want string }{
		{"/system identity print", "  name: MikroTik\n"},
		{"/interface gre print",
			"Flags: X - DISABLED; R - RUNNING\n" +
				"Columns: NAME, MTU, ACTUAL-MTU, LOCAL-ADDRESS, REMOTE-ADDRESS\n" +
				" #    NAME                     MTU  ACTUAL-MTU LOCAL-ADDRESS REMOTE-ADDRESS\n" +
				" 0    ;;; spare tunnel\n" +
				"      gre1                     1476            0.0.0.0       10.0.0.2\n" +
				" 1 X  gre2                     1400            10.0.0.1      10.0.0.3\n" +
				" 2    tunnel-to-the-datacenter 1476            0.0.0.0       192.168.100.200\n"},
		{"/interface gre print detail",
			"Flags: X - disabled; R - running\n" +
				" 0    ;;; spare tunnel\n" +
				"      name=\"gre1\" mtu=1476 l2mtu=65535 local-address=0.0.0.0\n" +
				"      remote-address=10.0.0.2 keepalive=10s,10 dscp=inherit clamp-tcp-mss=yes\n" +
				"      dont-fragment=no allow-fast-path=yes disabled=no\n" +
				"\n" +
				" 1 X  name=\"gre2\" mtu=1400 l2mtu=65535 local-address=10.0.0.1\n" +
				"      remote-address=10.0.0.3 keepalive=10s,10 dscp=inherit clamp-tcp-mss=yes\n" +
				"      dont-fragment=no allow-fast-path=yes disabled=yes\n" +
				"\n" +
				" 2    name=\"tunnel-to-the-datacenter\" mtu=1476 l2mtu=65535 local-address=0.0.0.0\n" +
				"      remote-address=192.168.100.200 keepalive=5s,3 dscp=inherit\n" +
				"      clamp-tcp-mss=yes dont-fragment=no allow-fast-path=yes disabled=no\n" +
				"\n"},
		{"/interface gre print terse",
			" 0    comment=\"spare tunnel\" name=gre1 mtu=1476 l2mtu=65535 local-address=0.0.0.0 remote-address=10.0.0.2 keepalive=10s,10 dscp=inherit clamp-tcp-mss=yes dont-fragment=no allow-fast-path=yes disabled=no\n" +
				" 1 X  name=gre2 mtu=1400 l2mtu=65535 local-address=10.0.0.1 remote-address=10.0.0.3 keepalive=10s,10 dscp=inherit clamp-tcp-mss=yes dont-fragment=no allow-fast-path=yes disabled=yes\n" +
				" 2    name=tunnel-to-the-datacenter mtu=1476 l2mtu=65535 local-address=0.0.0.0 remote-address=192.168.100.200 keepalive=5s,3 dscp=inherit clamp-tcp-mss=yes dont-fragment=no allow-fast-path=yes disabled=no\n"},
		{"/interface gre print count-only", "3\n"},
		{"/interface gre print count-only where mtu<1476", "1\n"},
		{":put [/interface gre print count-only where comment]", "1\n"},
		{"/interface gre print proplist=name,mtu",
			"Flags: X - DISABLED; R - RUNNING\n" +
				"Columns: NAME, MTU\n" +
				" #    NAME                     MTU\n" +
				" 0    ;;; spare tunnel\n" +
				"      gre1                     1476\n" +
				" 1 X  gre2                     1400\n" +
				" 2    tunnel-to-the-datacenter 1476\n"},
		{"/interface gre print detail proplist=remote-address,name where disabled or comment",
			"Flags: X - disabled; R - running\n" +
				" 0    ;;; spare tunnel\n" +
				"      remote-address=10.0.0.2 name=\"gre1\"\n" +
				"\n" +
				" 1 X  remote-address=10.0.0.3 name=\"gre2\"\n" +
				"\n"},
		{"/interface gre print where name=nothing", "Flags: X - DISABLED; R - RUNNING\n"},
		{":put [/interface gre get gre2 disabled]", "true\n"},
		{":put ([/interface gre print as-value where name=gre2]->0->\"mtu\")", "1400\n"},
		{":put [:typeof ([/interface gre print as-value where name=gre2]->0->\"mtu\")]", "num\n"},
		// print as-value at the prompt shows nothing (§3.4).
		{"/interface gre print as-value", ""},
	} {
		if got := mustRun(t, in, c, tc.cmd); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.cmd, got, tc.want)
		}
	}

	// A condition on a name the menu does not have is refused, not true for every item:
	// `remove [find where disbled]` must not empty the menu. A value on the right of `=`
	// is no name; a declared property unset on an item is false.
	for _, src := range []string{"/interface gre print where disbled", ":put [/interface gre find where nosuch]",
		"/interface gre remove [find where !nosuch or disabled]", "/interface gre print count-only where comment and nosuch"} {
		if _, err := runSrc(t, in, c, src); err == nil || !strings.Contains(err.Error(), "no such property") {
			t.Errorf("%s: %v, want no such property", src, err)
		}
	}
	if got := mustRun(t, in, c, "/interface gre print count-only where name=gre1 or local-address=nosuch"); got != "1\n" {
		t.Errorf("a value that is no property's name: %q", got)
	}
	if got := mustRun(t, in, c, "/interface gre print count-only"); got != "3\n" {
		t.Errorf("after the refused conditions: %q items", got)
	}

	// A menu without flags has no Flags line; a menu with a flag letter of its own lists
	// it in the menu's order, lower case in detail.
	if got := mustRun(t, in, c, "/user group print"); !strings.HasPrefix(got, "Columns: NAME, POLICY, SKIN\n #   NAME ") {
		t.Errorf("/user group print:\n%s", got)
	}
	if got := mustRun(t, in, c, "/ip ipsec policy print"); !strings.HasPrefix(got,
		"Flags: T - template; X - disabled; D - dynamic; I - invalid; A - active; * - default\n 0 T*     ") {
		t.Errorf("/ip ipsec policy print:\n%s", got)
	}
	// print numbers: "set 1" means the second item of the last print.
	mustRun(t, in, c, "/interface gre print where name~\"^gre\"")
	mustRun(t, in, c, "/interface gre set 1 mtu=1300")
	if got := mustRun(t, in, c, ":put [/interface gre get gre2 mtu]"); got != "1300\n" {
		t.Errorf("set by print number: mtu %s", got)
	}
}

// TestQuoteRoundTrip: a value written as export quotes it reads back as the same value,
// and survives export and import.
func TestQuoteRoundTrip(t *testing.T) {
	nasty := []string{
		"plain", "two words", `"quoted"`, `back\slash`, `$x $(1+1) $[:put x] $"y"`, "tab\there",
		"cr\r\nlf\n", "\x01\x1f\x7f", "?", "#hash", "semi;colon", "{brace} [bracket] (paren)",
		"ünïcödé ✓", "!bang", "/", "a=b", "*1A", "-", "trailing \\", " lead and trail ",
		// RouterOS exports write Latin-1 and CP1251 text as \HH escapes.
		"Ponte de Seguran\xe7a", "\xc2 \xf1\xf2\xee", "mixed \xe7 and ç",
	}
	in, c := newInterp(t)
	for i, s := range nasty {
		mustRun(t, in, c, "/system script add name=q"+itoa(i+1)+" comment="+control.Quote(s)+" source="+control.Quote(s))
	}
	check := func(in *Interp, c *Console) {
		t.Helper()
		for i, s := range nasty {
			for _, prop := range []string{"comment", "source"} {
				if got := mustRun(t, in, c, ":put [/system script get q"+itoa(i+1)+" "+prop+"]"); got != s+"\n" {
					t.Errorf("%s of %q reads back as %q", prop, s, got)
				}
			}
		}
	}
	check(in, c)
	text := exportText(t, in, c, "/system script export")
	if !strings.Contains(text, " comment=!bang ") {
		t.Errorf("export quotes a leading ! after name=:\n%s", text)
	}
	if !strings.Contains(text, `Seguran\E7a`) || !strings.Contains(text, `\C2 \F1\F2\EE`) {
		t.Errorf("export does not write the bytes as RouterOS's escapes:\n%s", text)
	}
	in2, c2 := reimport(t, text)
	check(in2, c2)
	if again := exportText(t, in2, c2, "/system script export"); again != text {
		t.Errorf("export after import differs:\n%s\n---\n%s", text, again)
	}
}

// TestRenamedDefaultReimports: the export of a renamed default profile renames the
// default profile of a fresh router (a find by name would match nothing there).
func TestRenamedDefaultReimports(t *testing.T) {
	in, c := newInterp(t)
	mustRun(t, in, c, `/ip ipsec profile set [ find default=yes ] name=renamed dh-group=ecp256`)
	in2, c2 := reimport(t, exportText(t, in, c, "/export"))
	if got := mustRun(t, in2, c2, `:put [/ip ipsec profile get [ find default=yes ] name]; :put [:len [/ip ipsec profile find]]`); got != "renamed\n1\n" {
		t.Fatalf("after the import: %q", got)
	}
}

// TestPrintDetailQuoting: print detail quotes free text (string properties: name,
// log-prefix) even when plain, as RouterOS prints name="gre1" and log-prefix="", and
// shows the names of chains, lists and marks bare unless they need quotes, as RouterOS
// prints "chain=srcnat action=masquerade out-interface=ether1" (reference
// 10-ip-ipsec.txt, /ip firewall nat print) and jump-target=, new-connection-mark=.
func TestPrintDetailQuoting(t *testing.T) {
	in, c := newInterp(t)
	mustRun(t, in, c, `/ip firewall nat add chain=srcnat action=masquerade out-interface=ether1`)
	mustRun(t, in, c, `/ip firewall filter add chain="my chain" action=jump jump-target=conmark log-prefix=x`)
	mustRun(t, in, c, `/ip firewall mangle add chain=prerouting action=mark-connection new-connection-mark=ssh`)
	mustRun(t, in, c, `/ip firewall address-list add list=test address=198.18.0.1`)
	mustRun(t, in, c, `/ip firewall filter add chain=forward in-interface-list=!LAN connection-nat-state=!dstnat action=drop`)
	for _, tc := range []struct{ cmd, want string }{
		{"/ip firewall nat print detail", " 0     chain=srcnat action=masquerade out-interface=ether1 log=no\n"},
		{"/ip firewall filter print detail", ` 0     chain="my chain" action=jump jump-target=conmark log=no log-prefix="x"` + "\n"},
		{"/ip firewall mangle print detail", " new-connection-mark=ssh "},
		{"/ip firewall address-list print detail", " 0     list=test address=198.18.0.1 disabled=no\n"},
		// A negated value needs no quotes after name= (RouterOS's defconf exports write
		// in-interface-list=!LAN).
		{"/ip firewall filter print detail", " in-interface-list=!LAN\n"},
		{"/ip firewall filter print detail", " connection-nat-state=!dstnat "},
		{"/ip firewall filter export", "in-interface-list=!LAN"},
	} {
		if got := mustRun(t, in, c, tc.cmd); !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n%s\nwant a line:\n%s", tc.cmd, got, tc.want)
		}
	}
}

// TestServicePortDetail: the SIP settings print on the sip helper only, as RouterOS
// prints them.
func TestServicePortDetail(t *testing.T) {
	in, c := newInterp(t)
	got := mustRun(t, in, c, "/ip firewall service-port print detail")
	for _, l := range strings.Split(got, "\n\n") {
		sip := strings.Contains(l, `name="sip"`) || strings.Contains(l, "name=sip ")
		if has := strings.Contains(l, "sip-timeout="); has != sip {
			t.Errorf("sip-timeout shown %v on:\n%s", has, l)
		}
	}
	if !strings.Contains(got, "sip-direct-media=yes sip-timeout=1h") {
		t.Errorf("the sip helper lost its settings:\n%s", got)
	}
}
