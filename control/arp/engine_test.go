package arp

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
)

// TestStaticAndDynamic: a static entry becomes a permanent kernel neighbour (and comes
// back after someone deletes it), a published one a proxy entry, a bad one is invalid
// with its reason; kernel-learned neighbours print as dynamic rows; removing the items
// removes what routerd installed and nothing else.
func TestStaticAndDynamic(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, _ := netns.Get()
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	netns.Set(orig)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	va := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vA"}, PeerName: "vB"}
	if err := h.LinkAdd(va); err != nil {
		t.Fatal(err)
	}
	link, _ := h.LinkByName("vA")
	h.LinkSetUp(link)
	addr, _ := netlink.ParseAddr("198.18.71.1/24")
	h.AddrAdd(link, addr)
	// A neighbour the kernel learned (as ip neigh add ... nud reachable would).
	mac, _ := net.ParseMAC("02:00:00:00:71:09")
	if err := h.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET,
		IP: net.ParseIP("198.18.71.9"), HardwareAddr: mac, State: netlink.NUD_REACHABLE}); err != nil {
		t.Fatal(err)
	}

	ex := controltest.NewIn(t, t.TempDir())
	e := New(h)
	if err := e.Start(context.Background(), &engine.Handle{Ex: ex}); err != nil {
		t.Fatal(err)
	}
	run := func(cmd string, args ...string) *control.Reply {
		t.Helper()
		s := &control.Sentence{Path: Path, Cmd: cmd}
		for i := 0; i+1 < len(args); i += 2 {
			s.Args = append(s.Args, control.Arg{Name: args[i], Value: args[i+1]})
		}
		rep, err := ex.Exec(context.Background(), nil, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return rep
	}
	run("add", "address", "198.18.71.2", "mac-address", "02:00:00:00:71:02", "interface", "vA")
	run("add", "address", "198.18.71.3", "interface", "vA", "published", "yes")
	run("add", "address", "198.18.71.4", "mac-address", "02:00:00:00:71:04", "interface", "nosuch")
	run("add", "address", "198.18.71.5", "mac-address", "02:00:00:00:71:05", "interface", "lo")
	if err := e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if ns, _ := h.NeighList(lo.Attrs().Index, unix.AF_INET); len(ns) != 0 {
			t.Errorf("neighbours on lo: %+v", ns)
		}
	}
	perm := func(ip string) *netlink.Neigh {
		ns, _ := h.NeighList(link.Attrs().Index, unix.AF_INET)
		for i := range ns {
			if ns[i].IP.String() == ip && ns[i].State&netlink.NUD_PERMANENT != 0 {
				return &ns[i]
			}
		}
		return nil
	}
	if n := perm("198.18.71.2"); n == nil || n.HardwareAddr.String() != "02:00:00:00:71:02" {
		t.Fatalf("static entry not permanent in the kernel: %+v", n)
	}
	px, _ := h.NeighProxyList(link.Attrs().Index, unix.AF_INET)
	if len(px) != 1 || px[0].IP.String() != "198.18.71.3" {
		t.Fatalf("proxy entries: %+v", px)
	}
	rows := run("print").Rows
	byAddr := map[string]control.Row{}
	for _, r := range rows {
		byAddr[r.Props["address"]] = r
	}
	if r := byAddr["198.18.71.4"]; !strings.Contains(r.Flags, "I") || !strings.Contains(r.Props["status"], "nosuch") {
		t.Errorf("bad interface: flags %q status %q", r.Flags, r.Props["status"])
	}
	if r := byAddr["198.18.71.5"]; !strings.Contains(r.Flags, "I") || !strings.Contains(r.Props["status"], "does not use ARP") {
		t.Errorf("entry on lo: flags %q status %q", r.Flags, r.Props["status"])
	}
	if r := byAddr["198.18.71.9"]; r.Flags != "DC" || r.Props["mac-address"] != "02:00:00:00:71:09" || r.Props["status"] != "reachable" {
		t.Errorf("dynamic row: %+v", r)
	}
	if r := byAddr["198.18.71.2"]; strings.Contains(r.Flags, "D") || !strings.Contains(r.Flags, "C") {
		t.Errorf("static row flags %q", r.Flags)
	}
	// Deleted behind routerd's back: the next pass puts it back.
	h.NeighDel(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET, IP: net.ParseIP("198.18.71.2")})
	if err := e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if perm("198.18.71.2") == nil {
		t.Fatal("static entry not restored")
	}
	// The link re-created behind routerd's back (a new ifindex): the entries on the old
	// one are gone with it, and the pass converges on the new one without an error.
	if err := h.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vA"}, PeerName: "vB"}); err != nil {
		t.Fatal(err)
	}
	link, _ = h.LinkByName("vA")
	h.LinkSetUp(link)
	if err := h.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET,
		IP: net.ParseIP("198.18.71.9"), HardwareAddr: mac, State: netlink.NUD_REACHABLE}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.Reconcile(context.Background()); err != nil {
			t.Fatalf("pass %d after the link was re-created: %v", i, err)
		}
	}
	if perm("198.18.71.2") == nil {
		t.Fatal("static entry not installed on the re-created link")
	}
	if r := run("print").Rows; len(r) == 0 {
		t.Fatal("no rows")
	} else {
		for _, r := range r {
			if r.Props["address"] == "198.18.71.2" && strings.Contains(r.Flags, "I") {
				t.Errorf("entry invalid after the link came back: %q", r.Props["status"])
			}
		}
	}
	run("remove", "numbers", "0,1,2,3")
	if err := e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if perm("198.18.71.2") != nil {
		t.Error("static entry left after remove")
	}
	if px, _ := h.NeighProxyList(link.Attrs().Index, unix.AF_INET); len(px) != 0 {
		t.Errorf("proxy entry left: %+v", px)
	}
	ns2, _ := h.NeighList(link.Attrs().Index, unix.AF_INET)
	found := false
	for _, n := range ns2 {
		found = found || n.IP.String() == "198.18.71.9"
	}
	if !found {
		t.Error("the kernel's own neighbour was removed")
	}
}
