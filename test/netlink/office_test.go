package netlink

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Exports assembled in the shape RouterOS 6.49 and 7.20 write them for an office and a
// shop router: headers, `\` continuations (values RouterOS has to break are quoted),
// `[ find default-name=... ]`, the defconf firewall of each version, the properties
// RouterOS writes in the menus routerd implements, and the menus routerd lacks (DHCP
// server, NTP client, MAC server ...) where an export has them. Imported with
// verbose=yes, statements of the menus routerd lacks are skipped and named in the
// summary, as is a port the box had that is not here; nothing in a menu routerd implements is refused beyond officeGaps; the
// export of the result imports into a fresh routerd without a failure and exports the
// same.

// gap is a refusal in a menu routerd implements that an engineer still has to close:
// the failure line import verbose=yes prints, and who owns it.
type gap struct{ owner, line string }

// officeGaps are the refusals still known, per export. The test fails when one closes
// (remove it here) or a new one appears.
var officeGaps = map[string][]gap{
	"v7.20-office.rsc": nil,
	"v6.49-office.rsc": nil,
}

// officeSkipped are the menus each export has that routerd lacks, with the statements
// of each: the summary must list exactly these.
var officeSkipped = map[string]map[string]string{
	"v7.20-office.rsc": {"/interface wireguard": "1", "/interface lte apn": "1", "/ip dhcp-server": "1",
		"/ip dhcp-server network": "1", "/ip neighbor discovery-settings": "1",
		"/system ntp client": "1", "/system ntp client servers": "1", "/system routerboard settings": "1",
		"/tool mac-server": "1", "/tool mac-server mac-winbox": "1", "/user settings": "1"},
	"v6.49-office.rsc": {"/interface wireless security-profiles": "1", "/ip hotspot profile": "1",
		"/ip dhcp-server": "1", "/routing ospf instance": "1", "/snmp community": "1",
		"/ip neighbor discovery-settings": "1", "/ip cloud": "1", "/ip dhcp-server network": "1", "/ip ssh": "1",
		"/ip upnp": "1", "/system ntp client": "1", "/tool mac-server": "1", "/tool mac-server mac-winbox": "1",
		"/tool netwatch": "1", "/user aaa": "1"},
}

// skippedLine is a summary line of a skipped menu.
var skippedLine = regexp.MustCompile(`(?m)^  skipped +(\d+)  (/.+)$`)

// refusals are the failure lines of an import's output that are not skips.
func refusals(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^line \d+: `).MatchString(l) && !strings.Contains(l, ": menu does not exist here (skipped): ") &&
			!strings.Contains(l, ": port does not exist here (skipped): ") {
			got = append(got, l)
		}
	}
	return got
}

func TestImportOfficeExports(t *testing.T) {
	need(t)
	for file, gaps := range officeGaps {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("../testdata/exports", file))
			if err != nil {
				t.Fatal(err)
			}
			ns := portsNS(t, "oa")
			r := startRouter(t, ns, t.TempDir())
			out, _ := importFile(t, r, "in.rsc", string(src))
			var want, owned []string
			for _, g := range gaps {
				want = append(want, g.line)
				owned = append(owned, g.owner+" "+g.line)
			}
			if got := refusals(out); !slices.Equal(got, want) {
				t.Errorf("refused in menus routerd implements:\n%s\nknown gaps (officeGaps):\n%s\nimport output:\n%s",
					strings.Join(got, "\n"), strings.Join(owned, "\n"), out)
			}
			skipped := map[string]string{}
			for _, m := range skippedLine.FindAllStringSubmatch(out, -1) {
				skipped[m[2]] = m[1]
			}
			if wantSkipped := officeSkipped[file]; !mapsEqual(skipped, wantSkipped) {
				t.Errorf("skipped menus in the summary: %v, want %v\n%s", skipped, wantSkipped, out)
			}
			// The RB5009's ether8 is not among the test's ports: its line is skipped and
			// counted apart.
			if noPort := file == "v7.20-office.rsc"; noPort != strings.Contains(out, "1 skipped (port does not exist here)") ||
				noPort != strings.Contains(out, "  skipped    1  [ find default-name=ether8 ]\n") {
				t.Errorf("absent port ether8 in the summary:\n%s", out)
			}
			if check := officeChecks[file]; check != nil {
				check(t, r, ns)
			}
			first := body(r.must("/export show-sensitive"))

			// The export of the result loads into a fresh routerd as it is, and exports
			// the same.
			r2 := startRouter(t, portsNS(t, "ob"), t.TempDir())
			out, err = importFile(t, r2, "in.rsc", first)
			if err != nil || !strings.Contains(out, "0 skipped (menu does not exist here), 0 refused") {
				t.Fatalf("re-import of the export: %v\n%s", err, out)
			}
			if second := body(r2.must("/export show-sensitive")); second != first {
				t.Errorf("export of the re-import differs:\n%s\n---\n%s", first, second)
			}
		})
	}
}

// TestImportOfficeContinue: `routerctl -f FILE --continue` from the shell reports the
// same failures and summary as /import verbose=yes inside routerd.
func TestImportOfficeContinue(t *testing.T) {
	need(t)
	f, err := filepath.Abs("../testdata/exports/v7.20-office.rsc")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for i, how := range []string{"import", "routerctl"} {
		r := startRouter(t, portsNS(t, "oc"+string(rune('a'+i))), t.TempDir())
		var out string
		if how == "import" {
			out, err = importFile(t, r, "in.rsc", string(src))
		} else {
			out, err = r.ctl("-f", f, "--continue")
		}
		if err == nil {
			t.Errorf("%s: succeeded although statements were skipped:\n%s", how, out)
		}
		// /import ends with RouterOS's "Script Error" line, routerctl with its exit status.
		out, _, _ = strings.Cut(out, "Script Error")
		outs = append(outs, strings.TrimSpace(out))
	}
	if outs[0] != outs[1] {
		t.Errorf("routerctl --continue reports differently from /import verbose=yes:\n%s\n---\n%s", outs[0], outs[1])
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// officeChecks check what each export did beyond loading: the ports renamed by
// default-name, the RouterOS 6 properties mapped (a log line each).
var officeChecks = map[string]func(t *testing.T, r *router, ns string){
	"v7.20-office.rsc": func(t *testing.T, r *router, ns string) {
		eventually(t, "ether1 renamed to ether1-isp1", func() (bool, string) {
			out := run(t, "ip", "-n", ns, "-o", "link", "show")
			return strings.Contains(out, "ether1-isp1:") && strings.Contains(out, "ether2-isp2:"), out
		})
		out := r.must("/ip firewall filter print count-only where !dynamic")
		if strings.TrimSpace(out) != "25" {
			t.Errorf("filter rules: %s, want 25", out)
		}
		// content= applies (the kernel's string match); psd= is kept and shows invalid.
		eventually(t, "psd= rule invalid with the reason, content= rule valid", func() (bool, string) {
			out := r.must("/ip firewall filter print detail where invalid")
			return strings.Contains(out, "psd: no kernel support") && !strings.Contains(out, "content=badstring"), out
		})
	},
	"v6.49-office.rsc": func(t *testing.T, r *router, ns string) {
		eventually(t, "ether2 renamed to ether2-isp2", func() (bool, string) {
			out := run(t, "ip", "-n", ns, "-o", "link", "show")
			return strings.Contains(out, "ether1-gateway:") && strings.Contains(out, "ether2-isp2:"), out
		})
		if out := r.must("/tool e-mail export"); !strings.Contains(out, "server=198.18.5.25") || !strings.Contains(out, "tls=starttls") {
			t.Errorf("v6 e-mail not mapped:\n%s", out)
		}
		if out := r.must("/ip ipsec policy print detail where dst-address=198.18.60.0/24"); !strings.Contains(out, `peer="shop"`) {
			t.Errorf("v6 policy:\n%s", out)
		}
		if out := r.must("/routing rule export"); !strings.Contains(out, "src-address=198.18.40.0/24 table=isp2") {
			t.Errorf("v6 route rule not in /routing rule:\n%s", out)
		}
		logHas(t, r, "RouterOS 6 property mapped", "speed=100Mbps", "advertise 1000M-full", "sa-dst-address",
			"sa-src-address", "routing-mark", "type=blackhole", `menu="ip route rule"`, "new-routing-mark=isp2",
			`menu="tool e-mail" property=address to=server`, `property="start-tls=yes" to="tls=starttls"`)
	},
}
