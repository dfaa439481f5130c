package ipsec

import (
	"regexp"
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/iketest"
)

// TestPrintBrief: print brief of proposal, profile, identity and mode-config is a table
// of RouterOS's columns (QA: an empty "Columns:" line and a bare "#" per item); the
// identity's secret is never a column.
func TestPrintBrief(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipbr")
	r := startRouter(t, ns, false)
	r.run(t, `/ip ipsec proposal add name=p1 auth-algorithms=sha256 enc-algorithms=aes-128-gcm pfs-group=ecp256 lifetime=1h
/ip ipsec profile add name=pr1 hash-algorithm=sha256 enc-algorithm=aes-256 dh-group=ecp256
/ip ipsec mode-config add name=rw address-pool=none split-include=198.19.101.0/24
/ip ipsec peer add name=site address=198.18.0.9/32 exchange-mode=ike2 profile=pr1
/ip ipsec identity add peer=site secret=topsecret generate-policy=port-strict`)
	for _, c := range []struct{ cmd, cols, row string }{
		{"/ip ipsec proposal print brief", "Columns: NAME, AUTH-ALGORITHMS, ENC-ALGORITHMS, LIFETIME, PFS-GROUP",
			`(?m)^\s*1\s+p1\s+sha256\s+aes-128-gcm\s+1h\s+ecp256\s*$`},
		{"/ip ipsec profile print brief", "Columns: NAME, HASH-ALGORITHM, ENC-ALGORITHM, DH-GROUP, LIFETIME",
			`(?m)^\s*1\s+pr1\s+sha256\s+aes-256\s+ecp256\s+1d\s*$`},
		{"/ip ipsec mode-config print brief", "Columns: NAME, RESPONDER, ADDRESS-POOL, SPLIT-INCLUDE",
			`(?m)^\s*1\s+rw\s+yes\s+none\s+198\.19\.101\.0/24\s*$`},
		{"/ip ipsec identity print brief", "Columns: PEER, AUTH-METHOD, MY-ID, REMOTE-ID, MODE-CONFIG, GENERATE-POLICY",
			`(?m)^\s*0\s+site\s+pre-shared-key\s+auto\s+auto\s+none\s+port-strict\s*$`},
	} {
		out := r.run(t, c.cmd)
		if !strings.Contains(out, c.cols) || !regexp.MustCompile(c.row).MatchString(out) || strings.Contains(out, "topsecret") {
			t.Errorf("%s:\n%s", c.cmd, out)
		}
	}
}
