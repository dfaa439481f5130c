package tunnel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hiddenEnd matches the names of the hidden veth ends of tunnels.
var hiddenEnd = regexp.MustCompile(`rt(gre|eoip|ipip|6to4)\d+`)

// block returns the print detail block of the item named name ("" if none).
func block(detail, name string) string {
	for _, b := range strings.Split(detail, "\n\n") {
		if strings.Contains(b, `name="`+name+`"`) {
			return b
		}
	}
	return ""
}

// checkInterfaceView: /interface lists each tunnel (name to RouterOS type) with its R
// flag and no counters in print detail, its counters in print stats, and none of the
// hidden veth ends; /interface ethernet lists neither.
func checkInterfaceView(t *testing.T, r *router, tunnels map[string]string) {
	t.Helper()
	detail := r.must("/interface", "print", "detail")
	table := r.must("/interface", "print")
	ether := r.must("/interface", "ethernet", "print", "detail")
	for _, out := range []string{detail, table, ether, r.must("/interface", "print", "stats")} {
		if hiddenEnd.MatchString(out) {
			t.Errorf("hidden tunnel ends listed:\n%s", out)
		}
	}
	for name, typ := range tunnels {
		b := block(detail, name)
		if !strings.Contains(b, `type="`+typ+`"`) || !regexp.MustCompile(`^\s*\d+\s+R`).MatchString(b) {
			t.Errorf("/interface print detail: %s not a running %s:\n%s", name, typ, detail)
		}
		if strings.Contains(b, "rx-byte") {
			t.Errorf("/interface print detail shows counters:\n%s", b)
		}
		if strings.Contains(ether, `name="`+name+`"`) {
			t.Errorf("/interface ethernet lists tunnel %s:\n%s", name, ether)
		}
		st := r.must("/interface", "print", "stats", "detail", "where", "name="+name)
		if !regexp.MustCompile(`rx-packet=[1-9]`).MatchString(st) || !regexp.MustCompile(`tx-byte=[1-9]`).MatchString(st) ||
			!strings.Contains(st, "tx-queue-drop=") || strings.Contains(st, "mac-address") {
			t.Errorf("/interface print stats detail where name=%s:\n%s", name, st)
		}
	}
	if st := r.must("/interface", "print", "stats"); !strings.Contains(st, "Columns: NAME, RX-BYTE, TX-BYTE, RX-PACKET, TX-PACKET, RX-DROP, TX-DROP, TX-QUEUE-DROP, RX-ERROR, TX-ERROR") {
		t.Errorf("/interface print stats:\n%s", st)
	}
}

// checkAPIStats: /interface/print with stats through the RouterOS API (librouteros, a
// client nobody here wrote) gives the tunnel's name and counters and no configuration.
func checkAPIStats(t *testing.T, r *router, name string) {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import librouteros").Run() != nil {
		t.Fatal("python3-librouteros is not installed (.ci/run installs it): API print stats not checked")
	}
	pw, err := os.ReadFile(filepath.Join(r.data, "initial-admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("testdata/api_stats.py")
	cmd := exec.Command("ip", "netns", "exec", r.netns, "/usr/bin/python3", script, strings.TrimSpace(string(pw)), name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("api_stats.py: %v\n%s\n%s", err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		// Words above ASCII in other rows: reported, not this test's subject.
		t.Logf("api_stats.py:\n%s\n/interface print detail:\n%s", stderr.String(), r.must("/interface", "print", "detail"))
	}
	for _, re := range []string{`(?m)^name=` + name + `$`, `(?m)^rx-packet=[1-9]`, `(?m)^tx-byte=[1-9]`, `(?m)^tx-queue-drop=0$`} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("API /interface/print stats lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(string(out), "mtu=") || strings.Contains(string(out), "type=") {
		t.Errorf("API /interface/print stats carries configuration:\n%s", out)
	}
}

// checkBpftool: the pinned programs and maps read with names and BTF field names.
func checkBpftool(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Fatal("bpftool is not installed (.ci/run installs it): pins not inspected")
	}
	bt := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("bpftool", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, p := range []string{"tun_encap", "tun_decap", "tun_decap_tc", "xdp_port"} {
		if out := bt("prog", "show", "pinned", filepath.Join(dir, p)); !strings.Contains(out, "name "+p) || !strings.Contains(out, "btf_id") {
			t.Errorf("bpftool prog show pinned %s:\n%s", p, out)
		}
	}
	if out := bt("prog", "show"); !strings.Contains(out, "name tun_encap") {
		t.Errorf("bpftool prog show lacks tun_encap:\n%s", out)
	}
	for m, fields := range map[string][]string{"tunnel_cfg": {`"kind"`, `"remote"`, `"tunnel_id"`}, "tunnel_rx": {`"ifindex"`, `"peer_mac"`},
		"xdp_ports": {`"roles"`, `"slot"`}} {
		out := bt("map", "dump", "pinned", filepath.Join(dir, m))
		for _, f := range fields {
			if !strings.Contains(out, f) {
				t.Errorf("bpftool map dump pinned %s lacks %s:\n%s", m, f, out)
			}
		}
	}
}
