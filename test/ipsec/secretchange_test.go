package ipsec_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSharedSecretChange (QA issue 12): a GRE and an EoIP tunnel with ipsec-secret to
// one remote share one dynamic peer, policy and CHILD SA (5511836). `set gre2
// ipsec-secret=...` was refused ("differs from that of eoip1"), so their secret could
// not be changed at all. The secret is the remote's: the set gives it to eoip1 as well,
// the shared peer re-keys with it (new SAs), traffic stops while the other router still
// has the old secret and resumes on both tunnels once it has the new one.
func TestSharedSecretChange(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	r, s, nsR, _ := eoipPair(t, "ssc")
	greAndEoIP(r, s, "old-secret", "198.19.239")
	stats := func() string {
		q := "/ip ipsec policy print detail\n/ip ipsec active-peers print detail\n/interface gre print detail\n/interface eoip print detail\n"
		return "R:\n" + r.script(q) + "S:\n" + s.script(q)
	}
	dsts := []string{"198.19.239.2", "198.19.239.10"}
	cross := func() bool {
		for _, dst := range dsts {
			if iketest.In(nsR, "ping", "-c", "1", "-W", "1", dst).Run() != nil {
				return false
			}
		}
		return true
	}
	if !iketest.WaitFor(30*time.Second, cross) {
		t.Fatalf("no traffic across both tunnels:\n%s", stats())
	}
	spis := func() []string {
		return regexp.MustCompile(`0x[0-9A-F]+`).FindAllString(r.script("/ip ipsec installed-sa print\n"), -1)
	}
	before := spis()
	secret := func(d *daemon, menu, name string) string {
		return strings.TrimSpace(d.script(fmt.Sprintf(":put [/interface %s get %s ipsec-secret]\n", menu, name)))
	}
	// R first: both its tunnels take the new secret; S still has the old one, so the
	// re-keyed peer cannot authenticate and nothing crosses (the new secret is used).
	if out, err := r.Ctl(strings.NewReader("/interface gre set gre2 ipsec-secret=new-secret\n"), "-f", "-"); err != nil {
		t.Fatalf("set gre2 ipsec-secret refused: %v\n%s", err, out)
	}
	if g, e := secret(r, "gre", "gre2"), secret(r, "eoip", "eoip1"); g != "new-secret" || e != "new-secret" {
		t.Fatalf("R: gre2 has %q, eoip1 %q: want both new-secret", g, e)
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return iketest.In(nsR, "ping", "-c", "1", "-W", "1", dsts[0]).Run() != nil }) {
		t.Errorf("traffic still crosses with the secrets of R and S different:\n%s", stats())
	}
	// S from the other tunnel: the same.
	if out, err := s.Ctl(strings.NewReader("/interface eoip set eoip1 ipsec-secret=new-secret\n"), "-f", "-"); err != nil {
		t.Fatalf("set eoip1 ipsec-secret refused: %v\n%s", err, out)
	}
	if g, e := secret(s, "gre", "gre2"), secret(s, "eoip", "eoip1"); g != "new-secret" || e != "new-secret" {
		t.Fatalf("S: gre2 has %q, eoip1 %q: want both new-secret", g, e)
	}
	if !iketest.WaitFor(40*time.Second, cross) {
		t.Fatalf("traffic does not resume with the new secret on both:\n%s", stats())
	}
	after := spis()
	for _, spi := range before {
		if slices.Contains(after, spi) {
			t.Errorf("SA %s of the old secret still installed: %v -> %v", spi, before, after)
		}
	}
	for _, d := range []*daemon{r, s} {
		if out := d.script("/interface gre print detail\n/interface eoip print detail\n"); strings.Contains(out, "differs") {
			t.Errorf("a tunnel says its secret differs:\n%s", out)
		}
	}
}
