package ptp

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestIGMPSnooping follows the manual's "PTP with IGMP Snooping" note: routerd's bridge
// has igmp-snooping=yes (applied through routerd's menu) with an IGMP querier on the
// segment, so that the bridge forwards 224.0.1.129 only where it is registered, and
// the static MDB entry the manual describes (group 224.0.1.129 to the bridge interface
// itself) is added through /interface bridge mdb. PTP over ipv4 still works: routerd, an
// ordinary clock on the bridge interface, locks to a ptp4l grandmaster behind a bridge
// port, and a boundary clock on two bridge ports serves a ptp4l slave behind the other.
//
// The manual's VLAN variant (vid=10, the bridge an untagged member of the bridge VLAN
// table) cannot run on this kernel: bridge vlan_filtering and 802.1Q links are not
// available (EOPNOTSUPP, "Unknown device type").
func TestIGMPSnooping(t *testing.T) {
	need(t)
	t.Parallel()
	if _, err := exec.LookPath("bridge"); err != nil {
		t.Skip("needs bridge (apt-get install iproute2)")
	}
	t.Run("bridge-interface", func(t *testing.T) {
		t.Parallel()
		tp := newTopo(t, "g", "b")
		tp.addr++
		net := fmt.Sprintf("198.18.%d", tp.addr)
		tp.ip("-n", tp.ns["b"], "link", "add", "name", "up0", "type", "veth", "peer", "name", "gm0", "netns", tp.ns["g"])
		tp.ip("-n", tp.ns["g"], "addr", "add", net+".1/24", "dev", "gm0")
		tp.ip("-n", tp.ns["g"], "link", "set", "dev", "gm0", "up")
		tp.ip("-n", tp.ns["b"], "link", "set", "dev", "up0", "up")
		r := tp.routerd("b", 11*time.Millisecond, 30_000)
		r.run("/interface bridge add name=bridge1 igmp-snooping=yes protocol-mode=none")
		r.run("/interface bridge port add bridge=bridge1 interface=up0")
		r.run("/ip address add address=" + net + ".3/24 interface=bridge1")
		r.run("/interface bridge mdb add group=224.0.1.129 bridge=bridge1 ports=bridge1")
		snooping(t, tp, "b", "bridge1")
		eventually(t, 10*time.Second, "static MDB entry in the kernel", func() (bool, string) {
			out, _ := exec.Command("bridge", "-n", tp.ns["b"], "mdb", "show", "dev", "bridge1").CombinedOutput()
			return strings.Contains(string(out), "port bridge1 grp 224.0.1.129"), string(out)
		})
		tp.ptp4l("g", append([]string{"-i", "gm0", "-4", "-E", "--priority1", "100"}, fastGM...)...)
		r.run("/system ptp add name=ptp1")
		r.run("/system ptp port add interface=bridge1 ptp=ptp1")
		holdsLock(t, r, "bridge1", 50_000)
	})
	t.Run("bridge-ports", func(t *testing.T) {
		t.Parallel()
		tp := newTopo(t, "g", "b", "s")
		tp.addr++
		net := fmt.Sprintf("198.18.%d", tp.addr)
		for _, l := range []struct{ ns, dev, port, addr string }{{"g", "gm0", "up0", net + ".1/24"}, {"s", "sl0", "dn0", net + ".2/24"}} {
			tp.ip("-n", tp.ns["b"], "link", "add", "name", l.port, "type", "veth", "peer", "name", l.dev, "netns", tp.ns[l.ns])
			tp.ip("-n", tp.ns[l.ns], "addr", "add", l.addr, "dev", l.dev)
			tp.ip("-n", tp.ns[l.ns], "link", "set", "dev", l.dev, "up")
			tp.ip("-n", tp.ns["b"], "link", "set", "dev", l.port, "up")
		}
		r := tp.routerd("b", -7*time.Millisecond, -20_000)
		r.run("/interface bridge add name=bridge1 igmp-snooping=yes protocol-mode=none")
		r.run("/interface bridge port add bridge=bridge1 interface=up0")
		r.run("/interface bridge port add bridge=bridge1 interface=dn0")
		r.run("/ip address add address=" + net + ".3/24 interface=bridge1")
		r.run("/interface bridge mdb add group=224.0.1.129 bridge=bridge1 ports=bridge1")
		snooping(t, tp, "b", "bridge1")
		tp.ptp4l("g", append([]string{"-i", "gm0", "-4", "-E", "--priority1", "100"}, fastGM...)...)
		r.run("/system ptp add name=ptp1 profile=aes67")
		r.run("/system ptp port add interface=up0 ptp=ptp1")
		r.run("/system ptp port add interface=dn0 ptp=ptp1")
		holdsLock(t, r, "up0", 50_000)
		sl := tp.ptp4l("s", "-i", "sl0", "-4", "-E", "-s", "--free_running", "1")
		f := r.monitor("ptp1")
		eventually(t, 40*time.Second, "the ptp4l slave follows routerd", func() (bool, string) {
			pd, cd := sl.pmc(t, "PARENT_DATA_SET"), sl.pmc(t, "CURRENT_DATA_SET")
			return strings.HasPrefix(pd["parentPortIdentity"], pmcID(f["clock-id"])) && cd["stepsRemoved"] == "2", fmt.Sprint(pd, cd)
		})
	})
}

// snooping checks that routerd turned IGMP snooping on, and starts the bridge's IGMP
// querier (routerd has no menu for it), so that unregistered groups are no longer
// flooded and forwarding follows the multicast database.
func snooping(t *testing.T, tp *topo, ns, br string) {
	t.Helper()
	eventually(t, 10*time.Second, "igmp snooping on "+br, func() (bool, string) {
		out, _ := exec.Command("ip", "-n", tp.ns[ns], "-d", "link", "show", "dev", br).CombinedOutput()
		return strings.Contains(string(out), "mcast_snooping 1"), string(out)
	})
	tp.ip("-n", tp.ns[ns], "link", "set", "dev", br, "type", "bridge", "mcast_querier", "1")
}
