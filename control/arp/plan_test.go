package arp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
)

// fakeKernel is an in-memory kernel for the engine's plan: links and IPv4 neighbours,
// proxy entries apart as the kernel keeps them. Every write is recorded
// (controltest.Recorder); a write named in Fail is refused with that error.
type fakeKernel struct {
	mu      sync.Mutex
	links   []netlink.Link
	neighs  []netlink.Neigh
	proxies []netlink.Neigh
	controltest.Recorder
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{links: controltest.Links("ether1", "ether2")}
	lo := k.links[0].Attrs()
	lo.Flags |= net.FlagLoopback
	lo.HardwareAddr = make(net.HardwareAddr, 6)
	return k
}

func (k *fakeKernel) name(index int) string { return controltest.LinkName(k.links, index) }

func (k *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.links {
		if l.Attrs().Name == name {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.links), nil
}

func (k *fakeKernel) NeighList() ([]netlink.Neigh, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.neighs), nil
}

func (k *fakeKernel) NeighProxyList() ([]netlink.Neigh, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.proxies), nil
}

// describe is a write as the test expects it: "set ether1 198.18.0.2 02:00:00:00:00:09"
// or "set ether1 198.18.0.3 proxy".
func (k *fakeKernel) describe(op string, n *netlink.Neigh) string {
	w := fmt.Sprintf("%s %s %s", op, k.name(n.LinkIndex), n.IP)
	if n.Flags&netlink.NTF_PROXY != 0 {
		return w + " proxy"
	}
	if n.HardwareAddr != nil {
		w += " " + n.HardwareAddr.String()
	}
	return w
}

func (k *fakeKernel) list(n *netlink.Neigh) *[]netlink.Neigh {
	if n.Flags&netlink.NTF_PROXY != 0 {
		return &k.proxies
	}
	return &k.neighs
}

func (k *fakeKernel) NeighSet(n *netlink.Neigh) error {
	if err := k.Write("%s", k.describe("set", n)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.list(n)
	*l = slices.DeleteFunc(*l, func(o netlink.Neigh) bool { return o.LinkIndex == n.LinkIndex && o.IP.Equal(n.IP) })
	*l = append(*l, *n)
	return nil
}

func (k *fakeKernel) NeighDel(n *netlink.Neigh) error {
	if err := k.Write("%s", k.describe("del", n)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.list(n)
	before := len(*l)
	*l = slices.DeleteFunc(*l, func(o netlink.Neigh) bool { return o.LinkIndex == n.LinkIndex && o.IP.Equal(n.IP) })
	if len(*l) == before {
		return unix.ENOENT
	}
	return nil
}

var _ Kernel = (*fakeKernel)(nil)

func permanent(index int, ip, mac string) netlink.Neigh {
	hw, _ := net.ParseMAC(mac)
	return netlink.Neigh{LinkIndex: index, Family: unix.AF_INET, IP: net.ParseIP(ip).To4(), HardwareAddr: hw, State: netlink.NUD_PERMANENT}
}

// TestPlan: configured entries over an observed kernel give exactly the planned writes;
// the next pass writes nothing (or retries exactly what failed); a refused write marks the
// item invalid with the kernel's reason; what routerd did not install is left alone.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(k *fakeKernel)
		cmds   []string
		after  func(k *fakeKernel) // behind routerd's back, between the passes
		cmds2  []string            // between the passes
		fail   map[string]error
		want   []string
		again  []string
		states map[string]string // address -> status substring ("" applied)
	}{{
		name:   "a static entry",
		cmds:   []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		want:   []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
		states: map[string]string{"198.18.0.2": ""},
	}, {
		name: "a published entry is a proxy entry",
		cmds: []string{"/ip/arp add address=198.18.0.3 interface=ether1 published=yes"},
		want: []string{"set ether1 198.18.0.3 proxy"},
	}, {
		name:  "already in the kernel as configured: nothing",
		setup: func(k *fakeKernel) { k.neighs = append(k.neighs, permanent(2, "198.18.0.2", "02:00:00:00:00:09")) },
		cmds:  []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
	}, {
		name:  "another MAC address in the kernel: set again",
		setup: func(k *fakeKernel) { k.neighs = append(k.neighs, permanent(2, "198.18.0.2", "02:00:00:00:00:07")) },
		cmds:  []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		want:  []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
	}, {
		name: "a learned neighbour of the same address is made permanent",
		setup: func(k *fakeKernel) {
			n := permanent(2, "198.18.0.2", "02:00:00:00:00:09")
			n.State = netlink.NUD_REACHABLE
			k.neighs = append(k.neighs, n)
		},
		cmds: []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		want: []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
	}, {
		name:  "deleted behind routerd's back: the next pass puts it back",
		cmds:  []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		after: func(k *fakeKernel) { k.neighs = nil },
		want:  []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
		again: []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
	}, {
		name:  "published turned on: the static entry goes, the proxy entry comes",
		cmds:  []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		cmds2: []string{"/ip/arp set numbers=0 published=yes"},
		want:  []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
		again: []string{"del ether1 198.18.0.2 02:00:00:00:00:09", "set ether1 198.18.0.2 proxy"},
	}, {
		name:  "removed: what routerd installed goes, the kernel's own stays",
		setup: func(k *fakeKernel) { k.neighs = append(k.neighs, permanent(3, "198.18.1.9", "02:00:00:00:01:09")) },
		cmds:  []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		cmds2: []string{"/ip/arp remove numbers=0"},
		want:  []string{"set ether1 198.18.0.2 02:00:00:00:00:09"},
		again: []string{"del ether1 198.18.0.2 02:00:00:00:00:09"},
	}, {
		name:   "disabled: nothing",
		cmds:   []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1 disabled=yes"},
		states: map[string]string{"198.18.0.2": ""},
	}, {
		name: "entries that cannot be applied write nothing and say why",
		cmds: []string{"/ip/arp add address=198.18.0.4 mac-address=02:00:00:00:00:09 interface=lo",
			"/ip/arp add address=198.18.0.5 interface=ether1",
			"/ip/arp add address=198.18.0.6 mac-address=02:00:00:00:00:09 interface=ether1",
			"/ip/arp add address=198.18.0.6 mac-address=02:00:00:00:00:08 interface=ether1"},
		want: []string{"set ether1 198.18.0.6 02:00:00:00:00:09"},
		states: map[string]string{"198.18.0.4": "interface lo does not use ARP",
			"198.18.0.5": "mac-address is needed unless published"},
	}, {
		name:   "the kernel refuses: invalid with its reason, tried again",
		cmds:   []string{"/ip/arp add address=198.18.0.2 mac-address=02:00:00:00:00:09 interface=ether1"},
		fail:   map[string]error{"set ether1 198.18.0.2 02:00:00:00:00:09": unix.EPERM},
		want:   []string{"set ether1 198.18.0.2 02:00:00:00:00:09 (failed)"},
		again:  []string{"set ether1 198.18.0.2 02:00:00:00:00:09 (failed)"},
		states: map[string]string{"198.18.0.2": "cannot install: operation not permitted"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			if tc.setup != nil {
				tc.setup(k)
			}
			ex := controltest.New(t)
			ex.ProvideNames(link.IfacePath, func(name string) bool {
				return slices.ContainsFunc(k.links, func(l netlink.Link) bool { return l.Attrs().Name == name })
			})
			e := New(nil)
			e.k = k
			h, _ := engine.Standalone(ex, e.Spec())
			if err := e.Start(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.cmds {
				controltest.Exec(t, ex, c)
			}
			k.Fail = tc.fail
			if err := e.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := k.Take(); !slices.Equal(got, tc.want) {
				t.Errorf("first pass wrote\n  %q\nwant\n  %q", got, tc.want)
			}
			if tc.after != nil {
				tc.after(k)
			}
			for _, c := range tc.cmds2 {
				controltest.Exec(t, ex, c)
			}
			if err := e.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := k.Take(); !slices.Equal(got, tc.again) {
				t.Errorf("second pass wrote\n  %q\nwant\n  %q", got, tc.again)
			}
			controltest.WantStates(t, ex, Path, "address", tc.states)
		})
	}
}
