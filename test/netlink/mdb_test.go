package netlink

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// mdb returns `bridge -j mdb show` entries as "port group vid state".
func mdb(t testing.TB, ns string) []string {
	t.Helper()
	var v []struct {
		Mdb []struct {
			Port  string `json:"port"`
			Grp   string `json:"grp"`
			Vid   int    `json:"vid"`
			State string `json:"state"`
		} `json:"mdb"`
	}
	if err := json.Unmarshal([]byte(run(t, "bridge", "-n", ns, "-j", "mdb", "show")), &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range v {
		for _, e := range b.Mdb {
			out = append(out, fmt.Sprintf("%s %s %d %s", e.Port, e.Grp, e.Vid, e.State))
		}
	}
	sort.Strings(out)
	return out
}

// TestBridgeMdb adds the static MDB entries the PTP manual's IGMP-snooping note asks for
// (224.0.1.129 primary, 224.0.0.107 peer delay) and an IPv6 group, deletes one under
// routerd, restarts routerd, and removes items: the kernel holds each entry exactly once,
// and an entry routerd did not add is never touched.
func TestBridgeMdb(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("bridge"); err != nil {
		t.Skip("needs bridge (iproute2)")
	}
	rn := netns(t, "m")
	for i, port := range []string{"sfp28-1", "sfp28-2"} {
		h := netns(t, fmt.Sprintf("mh%d", i))
		veth(t, rn, port, h, "eth0")
	}
	r := startRouter(t, rn, t.TempDir())
	r.must("/interface/bridge/add name=bridge1 igmp-snooping=yes protocol-mode=none")
	r.must("/interface/bridge/port add bridge=bridge1 interface=sfp28-1")
	r.must("/interface/bridge/port add bridge=bridge1 interface=sfp28-2")
	r.must("/interface enable sfp28-1,sfp28-2")
	eventually(t, "ports enslaved", func() (bool, string) {
		out := run(t, "ip", "-n", rn, "-j", "link", "show", "master", "bridge1")
		return strings.Count(out, `"ifname"`) == 2, out
	})
	run(t, "bridge", "-n", rn, "mdb", "add", "dev", "bridge1", "port", "sfp28-2", "grp", "239.9.9.9", "permanent")
	foreign := "sfp28-2 239.9.9.9 0 permanent"

	before := fmt.Sprint(mdb(t, rn))
	r.fails("/interface bridge mdb add group=198.18.0.1 bridge=bridge1 ports=sfp28-1", "multicast")
	r.fails("/interface bridge mdb add group=224.0.1.129 bridge=bridge1 ports=nosuch0", "input does not match any value of ports")
	r.fails("/interface bridge mdb add group=224.0.1.129 bridge=nosuch0 ports=sfp28-1", "")
	r.fails("/interface bridge mdb add group=224.0.1.1299 bridge=bridge1 ports=sfp28-1", "invalid value")
	if after := fmt.Sprint(mdb(t, rn)); after != before {
		t.Errorf("bad input changed the kernel:\n%s\n%s", before, after)
	}

	r.must("/interface bridge mdb add group=224.0.1.129 bridge=bridge1 ports=sfp28-1,sfp28-2")
	r.must("/interface bridge mdb add group=224.0.1.129 bridge=bridge1 ports=bridge1")
	r.must("/interface bridge mdb add group=ff0e::181 bridge=bridge1 ports=sfp28-1")
	// The kernel keeps no entries for link-local groups (it floods them): the item says so.
	r.must("/interface bridge mdb add group=224.0.0.107 bridge=bridge1 ports=sfp28-1")
	want := []string{"sfp28-1 224.0.1.129 0 permanent", "sfp28-2 224.0.1.129 0 permanent",
		"bridge1 224.0.1.129 0 temp", "sfp28-1 ff0e::181 0 permanent"}
	exactlyOnce := func() (bool, string) {
		m := mdb(t, rn)
		for _, w := range append(want, foreign) {
			if count(m, w) != 1 {
				return false, fmt.Sprint(m) + "\n" + r.must("/interface bridge mdb print detail")
			}
		}
		return true, ""
	}
	eventually(t, "mdb entries applied", exactlyOnce)
	if out := r.must("/interface bridge mdb print detail where group!=224.0.0.107"); strings.Contains(out, " I  ") || strings.Contains(out, "status=") {
		t.Errorf("entries not shown as applied:\n%s", out)
	}
	if out := r.must("/interface bridge mdb print detail where group=224.0.0.107"); !strings.Contains(out, " I  ") || !strings.Contains(out, "local multicast") {
		t.Errorf("link-local group not invalid with the kernel's reason:\n%s", out)
	}

	// Deleted under routerd: it comes back.
	run(t, "bridge", "-n", rn, "mdb", "del", "dev", "bridge1", "port", "sfp28-1", "grp", "224.0.1.129")
	eventually(t, "deleted entry restored", exactlyOnce)

	// Restart: every entry exactly once.
	r.stop()
	r.start()
	eventually(t, "mdb entries after restart", exactlyOnce)
	if n := strings.Count(r.must("/interface bridge mdb print terse"), "group=224.0.1.129"); n != 2 {
		t.Errorf("item listed %d times after restart", n)
	}

	// A port that leaves the bridge: the item says so.
	r.must("/interface bridge port remove [find interface=sfp28-2]")
	eventually(t, "item invalid without its port", func() (bool, string) {
		out := r.must("/interface bridge mdb print detail where group=224.0.1.129")
		return strings.Contains(out, "sfp28-2 is not a port of bridge1"), out
	})
	r.must("/interface bridge port add bridge=bridge1 interface=sfp28-2")
	// The kernel flushed the port's entries when it left the bridge, the foreign one too.
	eventually(t, "port back", func() (bool, string) {
		out := run(t, "ip", "-n", rn, "-j", "link", "show", "master", "bridge1")
		return strings.Contains(out, `"sfp28-2"`), out
	})
	run(t, "bridge", "-n", rn, "mdb", "add", "dev", "bridge1", "port", "sfp28-2", "grp", "239.9.9.9", "permanent")
	eventually(t, "applied again with the port back", exactlyOnce)

	// A bridge without multicast processing: invalid with the kernel's reason, applied
	// when igmp-snooping is turned on.
	r.must("/interface/bridge/add name=bridge2 protocol-mode=none")
	r.must("/interface bridge mdb add group=224.0.1.129 bridge=bridge2 ports=bridge2")
	eventually(t, "invalid without snooping", func() (bool, string) {
		out := r.must("/interface bridge mdb print detail where bridge=bridge2")
		return strings.Contains(out, "multicast processing is disabled"), out
	})
	r.must("/interface bridge set bridge2 igmp-snooping=yes")
	eventually(t, "applied with snooping", func() (bool, string) {
		out := run(t, "bridge", "-n", rn, "-j", "mdb", "show", "dev", "bridge2")
		return strings.Contains(out, `"grp":"224.0.1.129"`), out + r.must("/interface bridge mdb print detail where bridge=bridge2")
	})

	// vid as the manual writes it: applied, or invalid with the kernel's reason.
	r.must("/interface bridge/mdb add group=224.0.1.129 bridge=bridge1 ports=bridge1 vid=10")
	r.must("/interface bridge/mdb add group=224.0.1.129 bridge=bridge1 ports=sfp28-1 vid=20")
	for _, w := range []string{"bridge1 224.0.1.129 10 temp", "sfp28-1 224.0.1.129 20 permanent"} {
		eventually(t, "vid entry applied or refused", func() (bool, string) {
			out := r.must("/interface bridge mdb print detail where vid=" + strings.Fields(w)[2])
			return has(mdb(t, rn), w) || strings.Contains(out, "cannot add"), out
		})
	}

	// Removing items removes exactly what routerd added.
	r.must("/interface bridge mdb remove [find group=224.0.1.129 bridge=bridge1]")
	r.must("/interface bridge mdb remove [find group=ff0e::181]")
	eventually(t, "entries removed", func() (bool, string) {
		m := mdb(t, rn)
		for _, e := range m {
			if (strings.Contains(e, "224.0.1.129") && !strings.HasPrefix(e, "bridge2 ")) || strings.Contains(e, "ff0e::181") {
				return false, fmt.Sprint(m)
			}
		}
		return has(m, foreign), fmt.Sprint(m)
	})
}
