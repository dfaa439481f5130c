package netlink

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBridgeMACStableAcrossColdStart: a bridge routerd makes has a MAC, and so an IPv6
// link-local address (once a port gives it carrier), that a cold start (the bridge gone, as after a reboot) does not
// change: auto-mac=yes takes its first port's MAC, as RouterOS does, a bridge without
// ports one derived from its name, auto-mac=no admin-mac. The kernel gave a bridge a
// random MAC and derived the link-local address from it before the port joined.
func TestBridgeMACStableAcrossColdStart(t *testing.T) {
	need(t)
	rn, h := netns(t, "m"), netns(t, "mh")
	veth(t, rn, "ether2", h, "eth0")
	run(t, "ip", "-n", h, "link", "set", "eth0", "up")
	r := startRouter(t, rn, t.TempDir())
	r.Script(`/interface bridge add name=bridge1 protocol-mode=none
/interface bridge port add bridge=bridge1 interface=ether2
/interface bridge add name=bridge2 protocol-mode=none
/interface bridge add name=bridge3 protocol-mode=none auto-mac=no admin-mac=02:00:5E:12:34:56
/interface enable ether2
`)
	type link struct {
		Ifname  string `json:"ifname"`
		Address string `json:"address"`
		Addr    []struct {
			Family, Local, Scope string
		} `json:"addr_info"`
	}
	state := func() (map[string]string, string) {
		out := run(t, "ip", "-n", rn, "-j", "addr", "show")
		var ls []link
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("ip -j addr: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, l := range ls {
			got[l.Ifname] = l.Address
			for _, a := range l.Addr {
				if a.Family == "inet6" && a.Scope == "link" {
					got[l.Ifname] += " " + a.Local
				}
			}
		}
		return got, out
	}
	var before map[string]string
	settled := func() (bool, string) {
		got, out := state()
		// A bridge without a port has no carrier, and so no link-local address: its MAC
		// is what is compared.
		if !strings.Contains(got["bridge1"], " fe80::") || got["bridge2"] == "" || got["bridge3"] == "" {
			return false, out
		}
		before = got
		return true, out
	}
	eventually(t, "the bridges with their link-local addresses", settled)
	ether2 := strings.Fields(before["ether2"])[0]
	if mac := strings.Fields(before["bridge1"])[0]; mac != ether2 {
		t.Errorf("bridge1 has MAC %s, not its port ether2's %s", mac, ether2)
	}
	if mac := strings.Fields(before["bridge3"])[0]; mac != "02:00:5e:12:34:56" {
		t.Errorf("bridge3 has MAC %s, not its admin-mac", mac)
	}
	r.Stop()
	for _, b := range []string{"bridge1", "bridge2", "bridge3"} {
		run(t, "ip", "-n", rn, "link", "del", b)
	}
	r.start()
	first := before
	eventually(t, "the bridges again", settled)
	for _, b := range []string{"bridge1", "bridge2", "bridge3"} {
		if first[b] != before[b] {
			t.Errorf("%s was %q before the cold start, %q after", b, first[b], before[b])
		}
	}
}
