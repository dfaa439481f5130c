package ipcfg

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
)

// idOf is the console id of the address item whose property prop is val.
func (r *planRig) idOf(t *testing.T, prop, val string) string {
	t.Helper()
	its, err := r.ex.Items(Addr4Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.Props[prop] == val {
			return control.FormatID(it.ID)
		}
	}
	t.Fatalf("no address item with %s=%s", prop, val)
	return ""
}

// countingKernel counts the address and route dumps, and runs onAdd (once) inside the
// first AddrAdd after it is set: a change committed while a pass runs.
type countingKernel struct {
	*fakeKernel
	addrDumps, routeDumps int
	onAdd                 func()
}

func (k *countingKernel) AddrList(fam int) ([]kaddr, error) {
	k.addrDumps++
	return k.fakeKernel.AddrList(fam)
}

func (k *countingKernel) RouteList(fam int) ([]netlink.Route, error) {
	k.routeDumps++
	return k.fakeKernel.RouteList(fam)
}

func (k *countingKernel) AddrAdd(index int, p netip.Prefix, noDAD bool, peer netip.Addr) error {
	if f := k.onAdd; f != nil {
		k.onAdd = nil
		f()
	}
	return k.fakeKernel.AddrAdd(index, p, noDAD, peer)
}

// TestKickedAddressPass: after a full pass, a kicked pass applies only the address
// items that changed, without dumping the kernel's addresses or (with no route items)
// routes; an address added while a pass runs is applied by the next; what the kernel
// changed behind routerd's back, an address already there and an item refused as
// another's duplicate each get a full pass, which converges as before.
func TestKickedAddressPass(t *testing.T) {
	fk := newFakeKernel("ether1", "ether2")
	k := &countingKernel{fakeKernel: fk}
	r := newPlanRig(t, fk)
	r.e.h = k
	kicked := engine.KickedContext(context.Background())
	pass := func(ctx context.Context, want ...string) {
		t.Helper()
		if err := r.e.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if got := fk.Take(); !slices.Equal(got, want) {
			t.Errorf("pass wrote\n  %q\nwant\n  %q", got, want)
		}
	}
	dumps := func(addr, route int) {
		t.Helper()
		if k.addrDumps != addr || k.routeDumps != route {
			t.Errorf("address dumps %d, route dumps %d; want %d, %d", k.addrDumps, k.routeDumps, addr, route)
		}
		k.addrDumps, k.routeDumps = 0, 0
	}
	applied := func(addr string) {
		t.Helper()
		if st := controltest.State(t, r.ex, Addr4Path, "address", addr); st.Invalid {
			t.Errorf("%s: %+v, want applied", addr, st)
		}
	}

	controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1")
	pass(context.Background(), "addr-add ether1 198.18.0.1/24")
	dumps(2, 2) // the first pass: both families of each

	// Adds, a comment, a removal and a changed address: those alone, no dump.
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.1.1/24 interface=ether2")
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.2.1/24 interface=ether2")
	controltest.Exec(t, r.ex, "/ip/address set "+r.idOf(t, "address", "198.18.0.1/24")+" comment=wan")
	pass(kicked, "addr-add ether2 198.18.1.1/24", "addr-add ether2 198.18.2.1/24")
	dumps(0, 0)
	controltest.Exec(t, r.ex, "/ip/address remove "+r.idOf(t, "address", "198.18.1.1/24"))
	controltest.Exec(t, r.ex, "/ip/address set "+r.idOf(t, "address", "198.18.2.1/24")+" address=198.18.3.1/24")
	pass(kicked, "addr-del ether2 198.18.1.1/24", "addr-del ether2 198.18.2.1/24", "addr-add ether2 198.18.3.1/24")
	dumps(0, 0)
	applied("198.18.3.1/24")
	pass(kicked)
	dumps(0, 0)

	// An address committed while a pass installs another: the next pass applies it.
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.4.1/24 interface=ether1")
	k.onAdd = func() { controltest.Exec(t, r.ex, "/ip/address add address=198.18.5.1/24 interface=ether1") }
	pass(kicked, "addr-add ether1 198.18.4.1/24")
	pass(kicked, "addr-add ether1 198.18.5.1/24")
	dumps(0, 0)
	applied("198.18.5.1/24")

	// routerd's address deleted behind its back: its event makes the next pass full,
	// which puts it back. The echo of routerd's own writes does not.
	del := func(p string) {
		pf := netip.MustParsePrefix(p)
		fk.mu.Lock()
		fk.addrs = slices.DeleteFunc(fk.addrs, func(a kaddr) bool { return a.prefix == pf })
		fk.mu.Unlock()
		r.e.addrEvent(netlink.AddrUpdate{LinkAddress: net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), 32)},
			LinkIndex: 2, NewAddr: false})
	}
	r.e.addrEvent(netlink.AddrUpdate{LinkAddress: net.IPNet{IP: net.IPv4(198, 18, 5, 1).To4(), Mask: net.CIDRMask(24, 32)},
		LinkIndex: 2, NewAddr: true})
	pass(kicked)
	dumps(0, 0)
	del("198.18.5.1/24")
	pass(kicked, "addr-add ether1 198.18.5.1/24")
	dumps(2, 2)

	// An address the OS has already: the kicked pass's add meets it, a full pass takes
	// it over.
	fk.mu.Lock()
	fk.addrs = append(fk.addrs, kaddr{index: 3, prefix: netip.MustParsePrefix("198.18.6.1/24")})
	fk.mu.Unlock()
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.6.1/24 interface=ether2")
	pass(kicked, "addr-adopt ether2 198.18.6.1/24")
	applied("198.18.6.1/24")

	// A disabled duplicate enabled: refused by a full pass; the address goes to it once
	// the other item is removed (without a moment where it is gone).
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1 disabled=yes comment=second")
	pass(kicked)
	controltest.Exec(t, r.ex, "/ip/address set "+r.idOf(t, "comment", "second")+" disabled=no")
	pass(kicked)
	if st := controltest.State(t, r.ex, Addr4Path, "comment", "second"); !st.Invalid || st.Status != "already have such address" {
		t.Errorf("enabled duplicate: %+v, want invalid: already have such address", st)
	}
	controltest.Exec(t, r.ex, "/ip/address remove "+r.idOf(t, "comment", "wan"))
	pass(kicked)
	if st := controltest.State(t, r.ex, Addr4Path, "comment", "second"); st.Invalid {
		t.Errorf("duplicate after the other was removed: %+v, want applied", st)
	}

	// With a route item, a kicked pass still resolves the routes (an address may make a
	// gateway reachable), over one route dump per family with items.
	controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.0.0/16 gateway=198.18.0.254")
	k.addrDumps, k.routeDumps = 0, 0 // the add's own check reads the addresses
	pass(kicked, "route-replace table main 198.19.0.0/16 metric 1 via 198.18.0.254 dev ether1")
	if k.addrDumps != 0 || k.routeDumps == 0 {
		t.Errorf("kicked pass with a route: %d address dumps, %d route dumps; want 0, some", k.addrDumps, k.routeDumps)
	}
}
