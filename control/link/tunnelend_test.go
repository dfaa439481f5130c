package link

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control/engine"
)

// TestTunnelLinkNoPort: the visible end of a tunnel's veth pair is never taken for an
// Ethernet port, so a pass never puts its MTU back to a port's 1500 (a GRE tunnel's is
// 1476): not before link events named its hidden peer (the pair was just made), and not
// while the pair is being deleted (QA: four writers making and removing GRE tunnels had
// the link engine set the MTU of a tunnel link being removed). A veth whose peer is in
// another namespace stays a port.
func TestTunnelLinkNoPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		peer bool // the hidden end is in the kernel's dump
		ns   bool // the peer is in another namespace
		want []string
	}{
		{name: "just made: its hidden peer is not known from events yet", peer: true},
		{name: "being deleted: its peer has gone already"},
		{name: "a veth with its peer in another namespace is a port", ns: true, want: []string{"mtu w3g4 1500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			k.ether("ether1")
			r := newPlanRig(t, k)
			h, _ := engine.Standalone(r.ex, r.e.Spec())
			engine.Offer(h, Hider(func(name string) bool { return strings.HasPrefix(name, "rtgre") }))
			r.e.eh = h
			vis := attrsOf("w3g4", "", true)
			vis.MTU = 1476
			idx := k.put(&netlink.Veth{LinkAttrs: vis})
			if tc.ns {
				vis := k.links[idx].Attrs()
				vis.ParentIndex, vis.NetNsID = 3, 0
			} else {
				hid := attrsOf("rtgre7", "", true)
				hid.MTU, hid.ParentIndex = 1476, idx
				peer := k.put(&netlink.Veth{LinkAttrs: hid})
				k.links[idx].Attrs().ParentIndex = peer
				if !tc.peer {
					delete(k.links, peer)
				}
			}
			k.Take()
			got := r.reconcile(t)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("pass wrote %q, want %q", got, tc.want)
			}
		})
	}
}
