package firewall

import (
	"regexp"
	"strings"
	"testing"
)

// TestPrintBrief: print brief of a rule menu is a table of RouterOS's brief columns (the
// ones some rule uses), not a bare "Columns:" line.
func TestPrintBrief(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward action=accept connection-state=established,related comment=est
/ip firewall filter add chain=input protocol=tcp dst-port=22 src-address=198.18.1.0/24 action=accept
/ip firewall nat add chain=srcnat out-interface=wan action=masquerade`)
	out := r.run(t, `/ip firewall filter print brief`)
	if !strings.Contains(out, "Columns: CHAIN, ACTION, SRC-ADDRESS, PROTOCOL, DST-PORT, CONNECTION-STATE") {
		t.Errorf("filter print brief columns:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\s*1\s+input\s+accept\s+198\.18\.1\.0/24\s+tcp\s+22\s*$`).MatchString(out) {
		t.Errorf("filter print brief rows:\n%s", out)
	}
	if !strings.Contains(out, ";;; est") {
		t.Errorf("filter print brief lost the comment:\n%s", out)
	}
	out = r.run(t, `/ip firewall nat print brief`)
	if !strings.Contains(out, "Columns: CHAIN, ACTION, OUT-INTERFACE") || !regexp.MustCompile(`(?m)^\s*0\s+srcnat\s+masquerade\s+wan\s*$`).MatchString(out) {
		t.Errorf("nat print brief:\n%s", out)
	}
}
