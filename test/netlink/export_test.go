package netlink

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Exports assembled in the shape RouterOS 6.49 and 7.20 write them (headers, `\`
// continuations, `[ find default-name=... ]`, every property of the menus routerd
// implements) load into routerd with import verbose=yes without a refusal, on ports named
// as RouterOS names them; routerd's own export of the result imports into a fresh routerd
// and exports again identically.

// routerOSPorts are the ports of the test namespace, named as a RB5009 names them.
var routerOSPorts = []string{"ether1", "ether2", "ether3", "ether4", "ether5", "sfp-sfpplus1"}

// portsNS makes a namespace holding routerOSPorts (veths whose peers are pN).
func portsNS(t *testing.T, tag string) string {
	t.Helper()
	ns := netns(t, tag)
	for i, p := range routerOSPorts {
		run(t, "ip", "-n", ns, "link", "add", p, "type", "veth", "peer", "name", "p"+string(rune('0'+i)))
	}
	return ns
}

// importFile copies text into the router's files/ and runs /import verbose=yes.
func importFile(t *testing.T, r *router, name, text string) (string, error) {
	t.Helper()
	files := filepath.Join(r.dir, "data", "files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return r.ctl("/import file-name=" + name + " verbose=yes")
}

// body is an export less its dated header line.
func body(export string) string {
	return export[strings.Index(export, "\n")+1:]
}

func TestImportRouterOSExports(t *testing.T) {
	need(t)
	files, _ := filepath.Glob("../testdata/exports/*-full.rsc")
	if len(files) == 0 {
		t.Fatal("no exports in test/testdata/exports")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var exports []string
			for i, text := range []string{string(src), ""} {
				ns := portsNS(t, "x"+string(rune('a'+i)))
				r := startRouter(t, ns, t.TempDir())
				if i == 1 {
					text = exports[0]
				}
				out, err := importFile(t, r, "in.rsc", text)
				if err != nil || !strings.Contains(out, "0 skipped (menu not in routerd), 0 refused") {
					t.Fatalf("import %d: %v\n%s", i, err, out)
				}
				if i == 0 {
					checkApplied(t, r, ns)
				}
				exports = append(exports, body(r.must("/export show-sensitive")))
			}
			if exports[0] != exports[1] {
				t.Errorf("export of the re-import differs:\n%s\n---\n%s", exports[0], exports[1])
			}
		})
	}
}

// checkApplied checks what the v7.20 export's ethernet and bridge lines did to the
// kernel, and that stored-only properties are named in print's status.
func checkApplied(t *testing.T, r *router, ns string) {
	t.Helper()
	eventually(t, "ether1 renamed to ether1-WAN with its MAC and MTU", func() (bool, string) {
		out, _ := exec.Command("ip", "-n", ns, "-j", "link", "show", "ether1-WAN").CombinedOutput()
		s := string(out)
		return strings.Contains(s, `"address":"02:5a:00:00:01:01"`) && strings.Contains(s, `"mtu":1492`), s
	})
	eventually(t, "bridge has admin-mac", func() (bool, string) {
		out, _ := exec.Command("ip", "-n", ns, "-j", "link", "show", "bridge").CombinedOutput()
		return strings.Contains(string(out), `"address":"02:5a:00:00:00:01"`), string(out)
	})
	eventually(t, "sfp-sfpplus1 disabled", func() (bool, string) {
		out, _ := exec.Command("ip", "-n", ns, "-j", "link", "show", "sfp-sfpplus1").CombinedOutput()
		return !strings.Contains(string(out), `"UP"`), string(out)
	})
	out := r.must("/interface ethernet print detail where name=ether1-WAN")
	for _, want := range []string{`default-name="ether1"`, "no effect here:", "disable-running-check", "l2mtu"} {
		if !strings.Contains(out, want) {
			t.Errorf("ethernet print lacks %q:\n%s", want, out)
		}
	}
	out = r.must("/interface bridge print detail where name=bridge2")
	if !regexp.MustCompile(`no effect here: .*protocol-mode .*mvrp`).MatchString(out) {
		t.Errorf("bridge2 print does not name its stored-only properties:\n%s", out)
	}
	out = r.must("/ip route print detail where dst-address=198.18.4.4/32")
	if !strings.Contains(out, "198.18.4.4/32") {
		t.Errorf("route to a bare address:\n%s", out)
	}
}
