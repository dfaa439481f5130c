package ipsec

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// TestNoPeerClearsBackstops: the backstops an earlier run or Prearm left (a blackhole
// beneath a require policy's destination, the catch-all rule to its table) are removed
// by the engine's pass when its configuration has no IPsec peer, so that the data path
// never opens to adopt them: a policy removed while routerd was down, or a host whose
// peers all went, must not keep the destination unreachable. Before, they stayed for
// good (the data path, which alone removed them, opens with the first peer).
func TestNoPeerClearsBackstops(t *testing.T) {
	nsA, nsB := twoSites(t)
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	cfg := esp.DefaultConfig()
	cfg.Force = esp.KindUserspace
	pols := []esp.Policy{{ID: 1, Src: netip.MustParsePrefix("198.19.202.0/24"), Dst: netip.MustParsePrefix("198.19.101.0/24"),
		Dir: esp.DirOut, Action: esp.ActionEncrypt, Level: esp.LevelRequire}}
	if err := iketest.Do(nsA, func() error { return esp.PrearmBackstops(cfg, pols, nil) }); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		out, _ := iketest.In(nsA, "sh", "-c", "ip rule; ip route show table all").CombinedOutput()
		return string(out)
	}
	if ping(nsA, "198.19.202.1", "198.19.101.1") == nil {
		t.Fatalf("the prearmed backstop does not hold the destination:\n%s", state())
	}
	a := startRouter(t, nsA, true)
	a.run(t, "/ip ipsec policy print")
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err != nil {
		t.Fatalf("the backstops left by an earlier run stay without a peer: %v\n%s", err, state())
	}
	if out := state(); strings.Contains(out, "lookup 220") || strings.Contains(out, "blackhole") {
		t.Errorf("left after a pass without peers:\n%s", out)
	}
}
