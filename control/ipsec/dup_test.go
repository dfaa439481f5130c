package ipsec

import (
	"regexp"
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/iketest"
)

// TestDuplicatePolicyInvalid: a second policy with the selectors of an earlier one is
// flagged I with the reason, naming the policy it duplicates (by id and peer),
// as RouterOS flags it (QA: it was accepted with no flag, then flagged without saying
// which); the first stays valid, and once the first is disabled the second is used.
func TestDuplicatePolicyInvalid(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipdp")
	r := startRouter(t, ns, false)
	r.run(t, siteToSite("s1", "198.18.94.2", "198.19.201.0/24", "198.19.202.0/24")+
		"/ip ipsec policy add src-address=198.19.201.0/24 dst-address=198.19.202.0/24 tunnel=yes peer=s1 proposal=s1 comment=dup\n"+
		"/ip ipsec policy add src-address=198.19.201.0/24 dst-address=198.19.202.0/24 protocol=tcp tunnel=yes peer=s1 proposal=s1 comment=tcp\n")
	out := r.run(t, "/ip ipsec policy print detail")
	dup := regexp.MustCompile(`(?m)^\s*2\s+I\s+;;; dup$`)
	if !dup.MatchString(out) || strings.Count(out, "duplicate policy") != 1 {
		t.Fatalf("duplicate policy not flagged:\n%s", out)
	}
	// The status names the policy it duplicates, by the id find returns for it.
	first := strings.TrimSpace(r.run(t, `:put [/ip ipsec policy find where src-address=198.19.201.0/24 and protocol=all and !invalid]`))
	if want := `status="duplicate policy: it has the src-address, dst-address, protocol and ports of policy ` + first + ` (peer=s1)"`; first == "" || !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Errorf("the status does not name the first policy (%s): want\n%s\nin\n%s", first, want, out)
	}
	if regexp.MustCompile(`(?m)^\s*[13]\s+I`).MatchString(out) {
		t.Errorf("the first policy, or one with another protocol, is flagged:\n%s", out)
	}
	r.run(t, "/ip ipsec policy disable 1")
	if out := r.run(t, "/ip ipsec policy print detail"); strings.Contains(out, "duplicate policy") {
		t.Errorf("still flagged with the first disabled:\n%s", out)
	}
}

// TestMixedFamilyPolicyInvalid (QA issue 12): a policy whose src-address and dst-address
// are of different families can never match nor be negotiated: it is flagged I with
// the reason instead of printing as an ordinary policy stuck at no-phase2.
func TestMixedFamilyPolicyInvalid(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipmf")
	r := startRouter(t, ns, false)
	r.run(t, siteToSite("s1", "198.18.94.2", "198.19.201.0/24", "198.19.202.0/24")+
		"/ip ipsec policy add src-address=198.19.0.0/24 dst-address=2001:db8::/64 tunnel=yes peer=s1 proposal=s1 comment=mixed\n")
	out := r.run(t, "/ip ipsec policy print detail")
	if !regexp.MustCompile(`(?m)^\s*2\s+I\s+;;; mixed$`).MatchString(out) ||
		!strings.Contains(out, `status="src-address and dst-address must be of the same address family"`) {
		t.Errorf("mixed-family policy not flagged:\n%s", out)
	}
	if regexp.MustCompile(`(?m)^\s*[01]\s+\S*I`).MatchString(out) {
		t.Errorf("another policy is flagged:\n%s", out)
	}
}
