package link

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
)

// fakeKernel is an in-memory kernel for the link engine's plan: links with their types,
// bridge VLAN tables, port isolation, multicast-router modes and multicast databases.
// Every call that would change the kernel is recorded (controltest.Recorder) as "verb
// link args"; a write named in Fail is refused with that error.
type fakeKernel struct {
	mu       sync.Mutex
	links    map[int]netlink.Link
	vlans    map[int32][]*nl.BridgeVlanInfo
	isolated map[int]bool
	portSTP  map[int][2]int // path cost, priority
	mrouter  map[int]uint8
	stp      map[int]stpOpts
	mdb      []mdbEntry
	sysctls  map[string]string
	bropts   map[int]map[int][]byte
	next     int
	controltest.Recorder
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{links: map[int]netlink.Link{}, vlans: map[int32][]*nl.BridgeVlanInfo{},
		isolated: map[int]bool{}, portSTP: map[int][2]int{}, mrouter: map[int]uint8{}, stp: map[int]stpOpts{}, sysctls: map[string]string{}, bropts: map[int]map[int][]byte{}, next: 1}
	k.put(&netlink.Device{LinkAttrs: attrsOf("lo", "", true)})
	return k
}

func attrsOf(name, alias string, up bool) netlink.LinkAttrs {
	a := netlink.NewLinkAttrs()
	a.Name, a.Alias, a.MTU, a.EncapType = name, alias, 1500, "ether"
	if up {
		a.Flags = net.FlagUp
	}
	return a
}

// put adds a link as the kernel would have it, with a fresh index and MAC address.
func (k *fakeKernel) put(l netlink.Link) int {
	a := l.Attrs()
	a.Index = k.next
	if a.HardwareAddr == nil {
		a.HardwareAddr = net.HardwareAddr{2, 0, 0, 0, 0, byte(k.next)}
	}
	k.links[a.Index] = l
	k.next++
	return a.Index
}

// ether adds an ethernet port, up.
func (k *fakeKernel) ether(name string) int {
	return k.put(&netlink.Device{LinkAttrs: attrsOf(name, "", true)})
}

func clone(l netlink.Link) netlink.Link {
	switch v := l.(type) {
	case *netlink.Device:
		c := *v
		return &c
	case *netlink.Bridge:
		c := *v
		return &c
	case *netlink.Vlan:
		c := *v
		return &c
	case *netlink.Veth:
		c := *v
		return &c
	}
	panic(fmt.Sprintf("fake kernel: link type %T", l))
}

func (k *fakeKernel) byName(name string) (netlink.Link, bool) {
	for _, l := range k.links {
		if l.Attrs().Name == name {
			return l, true
		}
	}
	return nil, false
}

func (k *fakeKernel) nameOf(index int) string {
	if l, ok := k.links[index]; ok {
		return l.Attrs().Name
	}
	return fmt.Sprint(index)
}

// write records one change and says whether the test refuses it.
func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Link
	for _, l := range k.links {
		out = append(out, clone(l))
	}
	return out, nil
}

func (k *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l, ok := k.byName(name); ok {
		return clone(l), nil
	}
	return nil, unix.ENODEV
}

func (k *fakeKernel) QdiscList(netlink.Link) ([]netlink.Qdisc, error) { return nil, nil }

func (k *fakeKernel) BridgeVlanList() (map[int32][]*nl.BridgeVlanInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[int32][]*nl.BridgeVlanInfo{}
	for ix, vs := range k.vlans {
		out[ix] = slices.Clone(vs)
	}
	return out, nil
}

func (k *fakeKernel) BridgeMcastRouter(index int) (uint8, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.mrouter[index], nil
}

func (k *fakeKernel) PortOptions() (map[int]portOpts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[int]portOpts{}
	for ix, l := range k.links {
		if l.Attrs().MasterIndex == 0 {
			continue
		}
		st := k.portSTP[ix]
		out[ix] = portOpts{Isolated: k.isolated[ix], Cost: uint32(st[0]), Priority: uint16(st[1])}
	}
	return out, nil
}

func (k *fakeKernel) MdbList() ([]mdbEntry, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.mdb), nil
}

func (k *fakeKernel) LinkAdd(l netlink.Link) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name := l.Attrs().Name
	if _, dup := k.byName(name); dup {
		return unix.EEXIST
	}
	var err error
	switch v := l.(type) {
	case *netlink.Bridge:
		if err = k.Write("add bridge %s", name); err == nil {
			c := *v
			c.LinkAttrs = attrsOf(name, "", false)
			off := false
			c.VlanFiltering = &off
			ix := k.put(&c)
			k.mrouter[ix] = 1 // the kernel's default: temporary-query
			// The kernel's defaults: no STP, 15 s forward delay, 20 s max age, 0x8000.
			k.stp[ix] = stpOpts{ForwardDelay: 1500, MaxAge: 2000, Priority: 0x8000}
			// ageing 300 s and no querier; the startup query interval as HZ=250 reports
			// the default 31.25 s (one hundredth short: no write).
			k.bropts[ix] = map[int][]byte{nl.IFLA_BR_AGEING_TIME: nl.Uint32Attr(30000), nl.IFLA_BR_MCAST_QUERIER: {0},
				nl.IFLA_BR_MCAST_STARTUP_QUERY_INTVL: nl.Uint64Attr(3124)}
			// default_pvid: the bridge itself joins VLAN 1, untagged.
			k.vlans[int32(ix)] = []*nl.BridgeVlanInfo{{Flags: nl.BRIDGE_VLAN_INFO_PVID | nl.BRIDGE_VLAN_INFO_UNTAGGED, Vid: 1}}
		}
	case *netlink.Vlan:
		if err = k.Write("add vlan %s id %d on %s", name, v.VlanId, k.nameOf(v.ParentIndex)); err == nil {
			c := *v
			c.LinkAttrs = attrsOf(name, "", false)
			c.ParentIndex = v.ParentIndex
			k.put(&c)
		}
	default:
		err = k.Write("add %s %s", l.Type(), name)
	}
	return err
}

// change applies fn to the link l names (by index) when the write is not refused.
func (k *fakeKernel) change(l netlink.Link, fn func(cur netlink.Link), format string, a ...any) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur, ok := k.links[l.Attrs().Index]
	if l.Attrs().Index == 0 { // as netlink's ensureIndex: a link not read back is found by name
		cur, ok = k.byName(l.Attrs().Name)
	}
	if !ok {
		return unix.ENODEV
	}
	if err := k.Write(format, a...); err != nil {
		return err
	}
	if fn != nil {
		fn(cur)
	}
	return nil
}

func (k *fakeKernel) LinkDel(l netlink.Link) error {
	return k.change(l, func(c netlink.Link) {
		ix := c.Attrs().Index
		delete(k.links, ix)
		delete(k.vlans, int32(ix))
	}, "del %s", l.Attrs().Name)
}

func (k *fakeKernel) LinkSetUp(l netlink.Link) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().Flags |= net.FlagUp }, "up %s", l.Attrs().Name)
}

func (k *fakeKernel) LinkSetDown(l netlink.Link) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().Flags &^= net.FlagUp }, "down %s", l.Attrs().Name)
}

func (k *fakeKernel) LinkSetName(l netlink.Link, name string) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().Name = name }, "rename %s %s", l.Attrs().Name, name)
}

func (k *fakeKernel) LinkSetMTU(l netlink.Link, mtu int) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().MTU = mtu }, "mtu %s %d", l.Attrs().Name, mtu)
}

func (k *fakeKernel) LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().HardwareAddr = hw }, "mac %s %s", l.Attrs().Name, hw)
}

func (k *fakeKernel) LinkSetAlias(l netlink.Link, alias string) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().Alias = alias }, "alias %s %s", l.Attrs().Name, alias)
}

func (k *fakeKernel) LinkAddAltName(l netlink.Link, name string) error {
	return k.change(l, func(c netlink.Link) { c.Attrs().AltNames = append(c.Attrs().AltNames, name) }, "altname %s %s", l.Attrs().Name, name)
}

func (k *fakeKernel) LinkDelAltName(l netlink.Link, name string) error {
	return k.change(l, func(c netlink.Link) {
		c.Attrs().AltNames = slices.DeleteFunc(c.Attrs().AltNames, func(n string) bool { return n == name })
	}, "del-altname %s %s", l.Attrs().Name, name)
}

func (k *fakeKernel) LinkSetMaster(l, master netlink.Link) error {
	mi := master.Attrs().Index
	return k.change(l, func(c netlink.Link) {
		c.Attrs().MasterIndex = mi
		k.vlans[int32(c.Attrs().Index)] = []*nl.BridgeVlanInfo{{Flags: nl.BRIDGE_VLAN_INFO_PVID | nl.BRIDGE_VLAN_INFO_UNTAGGED, Vid: 1}}
		// The kernel's port defaults: the cost of a link of unknown speed, priority 32.
		k.portSTP[c.Attrs().Index] = [2]int{100, 32}
	}, "master %s %s", l.Attrs().Name, master.Attrs().Name)
}

func (k *fakeKernel) LinkSetNoMaster(l netlink.Link) error {
	return k.change(l, func(c netlink.Link) {
		c.Attrs().MasterIndex = 0
		delete(k.vlans, int32(c.Attrs().Index))
		delete(k.portSTP, c.Attrs().Index)
	}, "nomaster %s", l.Attrs().Name)
}

func (k *fakeKernel) LinkSetIsolated(l netlink.Link, on bool) error {
	return k.change(l, func(c netlink.Link) { k.isolated[c.Attrs().Index] = on }, "isolated %s %v", l.Attrs().Name, on)
}

func (k *fakeKernel) SetPortSTP(l netlink.Link, cost uint32, priority uint16) error {
	return k.change(l, func(c netlink.Link) { k.portSTP[c.Attrs().Index] = [2]int{int(cost), int(priority)} },
		"port-stp %s cost %d priority %d", l.Attrs().Name, cost, priority)
}

// Sysctl: the fake kernel has none of the per-link knobs unless a test set them.
func (k *fakeKernel) Sysctl(name string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.sysctls[name]; ok {
		return v, nil
	}
	return "", os.ErrNotExist
}

func (k *fakeKernel) SetSysctl(name, v string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.Write("sysctl %s %s", name, v); err != nil {
		return err
	}
	k.sysctls[name] = v
	return nil
}

func (k *fakeKernel) LinkSetARP(l netlink.Link, on bool) error {
	return k.change(l, func(c netlink.Link) {
		if on {
			c.Attrs().RawFlags &^= unix.IFF_NOARP
		} else {
			c.Attrs().RawFlags |= unix.IFF_NOARP
		}
	}, "arp %s %v", l.Attrs().Name, on)
}

// BridgeOptions: the options of bridgeOpts a test gave the bridge (none: as a kernel
// without them).
func (k *fakeKernel) BridgeOptions(index int) (map[int][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.bropts[index]), nil
}

func (k *fakeKernel) SetBridgeOptions(index int, opts map[int][]byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := "bridge-options " + k.nameOf(index)
	for _, a := range slices.Sorted(maps.Keys(opts)) {
		w += fmt.Sprintf(" %d=%x", a, opts[a])
	}
	if err := k.Write("%s", w); err != nil {
		return err
	}
	if k.bropts[index] == nil {
		k.bropts[index] = map[int][]byte{}
	}
	maps.Copy(k.bropts[index], opts)
	return nil
}

func (k *fakeKernel) BridgeSetVlanFiltering(l netlink.Link, on bool) error {
	return k.change(l, func(c netlink.Link) { c.(*netlink.Bridge).VlanFiltering = &on }, "vlan-filtering %s %v", l.Attrs().Name, on)
}

func (k *fakeKernel) BridgeSetMcastSnoop(l netlink.Link, on bool) error {
	return k.change(l, func(c netlink.Link) { c.(*netlink.Bridge).MulticastSnooping = &on }, "igmp-snooping %s %v", l.Attrs().Name, on)
}

func vlanWrite(verb string, l netlink.Link, vid uint16, pvid, untagged, self bool) string {
	w := fmt.Sprintf("%s %s %d", verb, l.Attrs().Name, vid)
	if pvid {
		w += " pvid"
	}
	if untagged {
		w += " untagged"
	}
	if self {
		w += " self"
	}
	return w
}

func (k *fakeKernel) BridgeVlanAdd(l netlink.Link, vid uint16, pvid, untagged, self, master bool) error {
	ix := int32(l.Attrs().Index)
	return k.change(l, func(netlink.Link) {
		var f uint16
		if pvid {
			f |= nl.BRIDGE_VLAN_INFO_PVID
			for _, v := range k.vlans[ix] {
				v.Flags &^= nl.BRIDGE_VLAN_INFO_PVID
			}
		}
		if untagged {
			f |= nl.BRIDGE_VLAN_INFO_UNTAGGED
		}
		k.vlans[ix] = slices.DeleteFunc(k.vlans[ix], func(v *nl.BridgeVlanInfo) bool { return v.Vid == vid })
		k.vlans[ix] = append(k.vlans[ix], &nl.BridgeVlanInfo{Flags: f, Vid: vid})
	}, "%s", vlanWrite("vlan-add", l, vid, pvid, untagged, self))
}

func (k *fakeKernel) BridgeVlanDel(l netlink.Link, vid uint16, pvid, untagged, self, master bool) error {
	ix := int32(l.Attrs().Index)
	return k.change(l, func(netlink.Link) {
		k.vlans[ix] = slices.DeleteFunc(k.vlans[ix], func(v *nl.BridgeVlanInfo) bool { return v.Vid == vid })
	}, "%s", vlanWrite("vlan-del", l, vid, false, false, self))
}

func (k *fakeKernel) BridgeSTP(index int) (stpOpts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stp[index], nil
}

func (k *fakeKernel) SetBridgeSTP(index int, o stpOpts) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.Write("stp %s %d fd %d age %d prio %d", k.nameOf(index), o.State, o.ForwardDelay, o.MaxAge, o.Priority); err != nil {
		return err
	}
	k.stp[index] = o
	return nil
}

func (k *fakeKernel) SetBridgeMcastRouter(index int, mode uint8) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.Write("multicast-router %s %d", k.nameOf(index), mode); err != nil {
		return err
	}
	k.mrouter[index] = mode
	return nil
}

func (k *fakeKernel) MdbAdd(e mdbEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.Write("mdb-add %s %s %s", k.nameOf(e.Bridge), k.nameOf(e.Port), e.Group); err != nil {
		return err
	}
	if e.Port != e.Bridge {
		e.Proto = mdbProto
	}
	k.mdb = append(k.mdb, e)
	return nil
}

func (k *fakeKernel) MdbDel(e mdbEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.Write("mdb-del %s %s %s", k.nameOf(e.Bridge), k.nameOf(e.Port), e.Group); err != nil {
		return err
	}
	k.mdb = slices.DeleteFunc(k.mdb, func(m mdbEntry) bool { return m.key() == e.key() })
	return nil
}

func (k *fakeKernel) Close() {}

var _ Kernel = (*fakeKernel)(nil)

// planRig is the link engine over a fake kernel, with a real executor, store and the
// engine's own commands and name checks.
type planRig struct {
	e  *Engine
	k  *fakeKernel
	ex *control.Executor
}

func newPlanRig(t *testing.T, k *fakeKernel) *planRig {
	t.Helper()
	r := &planRig{e: New(), k: k, ex: controltest.New(t)}
	r.e.ex, r.e.h = r.ex, &passKernel{Kernel: k} // as the daemon's: one dump per pass until a write
	for ix, l := range k.links {                 // what the link events would have told
		r.e.byName[l.Attrs().Name], r.e.byIndex[ix] = ix, l.Attrs().Name
	}
	r.ex.Provide(IfacePath, r.e.ifaceRows)
	r.ex.Provide(etherPath, r.e.etherRows)
	r.ex.ProvideNames(IfacePath, r.e.hasLink)
	r.e.registerCommands()
	return r
}

func (r *planRig) reconcile(t *testing.T) []string {
	t.Helper()
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return r.k.Take()
}

// TestPlan: desired items (commands) over an observed kernel give exactly the planned
// writes; the next pass writes nothing (or retries exactly what failed); a kernel error
// marks the item invalid with the kernel's reason.
func TestPlan(t *testing.T) {
	owned := func(k *fakeKernel, l netlink.Link) { l.Attrs().Alias = ownerAlias; k.put(l) }
	for _, tc := range []struct {
		name  string
		setup func(k *fakeKernel)
		cmds  []string
		fail  map[string]error
		want  []string
		again []string // the second pass' writes (nil: none)
		// state: path|name → a substring of the item's status ("" applied, not invalid)
		state map[string]string
	}{{
		name:  "bridge without spanning tree, and with its timers",
		setup: func(k *fakeKernel) {},
		cmds: []string{"/interface/bridge add name=bridge1 protocol-mode=none",
			"/interface/bridge add name=bridge2 protocol-mode=stp forward-delay=4s max-message-age=6s priority=0x1000"},
		want: []string{"add bridge bridge1", "alias bridge1 routerd", "up bridge1",
			"add bridge bridge2", "alias bridge2 routerd", "stp bridge2 1 fd 400 age 600 prio 4096", "up bridge2"},
		state: map[string]string{"/interface/bridge|bridge1": "", "/interface/bridge|bridge2": ""},
	}, {
		name:  "bridge ageing and multicast querier",
		setup: func(k *fakeKernel) {},
		cmds:  []string{"/interface/bridge add name=bridge1 protocol-mode=none multicast-querier=yes ageing-time=10m igmp-snooping=yes"},
		want:  []string{"add bridge bridge1", "alias bridge1 routerd", "bridge-options bridge1 4=60ea0000 25=01", "up bridge1"},
		state: map[string]string{"/interface/bridge|bridge1": ""},
	}, {
		name:  "bridge with a port",
		setup: func(k *fakeKernel) { k.ether("ether1"); k.ether("ether2") },
		cmds:  []string{"/interface/bridge add name=bridge1", "/interface/bridge/port add bridge=bridge1 interface=ether2"},
		want:  []string{"add bridge bridge1", "alias bridge1 routerd", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1", "master ether2 bridge1", "port-stp ether2 cost 10 priority 32"},
		state: map[string]string{"/interface/bridge|bridge1": "", "/interface/bridge/port|interface=ether2": ""},
	}, {
		name:  "nothing configured changes nothing",
		setup: func(k *fakeKernel) { k.ether("ether1") },
	}, {
		// RouterOS ports are enabled until configured otherwise; one the OS left down
		// comes up, one disabled under /interface stays down.
		name: "an unconfigured port the OS left down comes up",
		setup: func(k *fakeKernel) {
			k.put(&netlink.Device{LinkAttrs: attrsOf("ether1", "", false)})
			k.put(&netlink.Device{LinkAttrs: attrsOf("ether2", "", false)})
		},
		cmds: []string{"/interface set ether2 disabled=yes"},
		want: []string{"up ether1"},
	}, {
		name:  "mtu and disable an existing port",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface set ether1 mtu=1400 disabled=yes"},
		want:  []string{"mtu ether1 1400", "down ether1"},
		state: map[string]string{"/interface|ether1": ""},
	}, {
		name:  "rename an ethernet port",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface/ethernet set ether1 name=wan"},
		want:  []string{"down ether1", "rename ether1 wan", "up wan"},
		state: map[string]string{"/interface/ethernet|wan": ""},
	}, {
		// The kernel's ARP knobs of each port, at their defaults; only what the mode
		// changes is written.
		name: "arp modes and timeout on ports",
		setup: func(k *fakeKernel) {
			for _, p := range []string{"ether1", "ether2", "ether3"} {
				k.ether(p)
				for _, s := range ARPSysctls(p, "enabled", "auto") {
					k.sysctls[s[0]] = s[1]
				}
			}
		},
		cmds: []string{"/interface/ethernet set ether1 arp=proxy-arp arp-timeout=1m",
			"/interface/ethernet set ether2 arp=disabled", "/interface/ethernet set ether3 arp=reply-only"},
		want: []string{"sysctl net/ipv4/conf/ether1/proxy_arp 1", "sysctl net/ipv4/neigh/ether1/base_reachable_time_ms 60000",
			"arp ether2 false",
			"sysctl net/ipv4/neigh/ether3/mcast_solicit 0", "sysctl net/ipv4/neigh/ether3/ucast_solicit 0",
			"sysctl net/ipv4/conf/ether3/drop_gratuitous_arp 1"},
		state: map[string]string{"/interface/ethernet|ether1": "", "/interface/ethernet|ether2": "", "/interface/ethernet|ether3": ""},
	}, {
		name:  "vlan on a port",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface/vlan add name=vlan10 vlan-id=10 interface=ether1"},
		want:  []string{"add vlan vlan10 id 10 on ether1", "alias vlan10 routerd", "up vlan10"},
		state: map[string]string{"/interface/vlan|vlan10": ""},
	}, {
		name: "vlan id changed behind routerd's back: recreated",
		setup: func(k *fakeKernel) {
			p := k.ether("ether1")
			v := &netlink.Vlan{LinkAttrs: attrsOf("vlan10", "", true), VlanId: 20}
			v.ParentIndex = p
			owned(k, v)
		},
		cmds: []string{"/interface/vlan add name=vlan10 vlan-id=10 interface=ether1"},
		want: []string{"del vlan10", "add vlan vlan10 id 10 on ether1", "alias vlan10 routerd", "up vlan10"},
	}, {
		name: "stale bridge of routerd removed, foreign bridge kept",
		setup: func(k *fakeKernel) {
			owned(k, &netlink.Bridge{LinkAttrs: attrsOf("bridge9", "", true)})
			k.put(&netlink.Bridge{LinkAttrs: attrsOf("docker0", "", true)})
		},
		want: []string{"del bridge9"},
	}, {
		name:  "a foreign link has the bridge's name",
		setup: func(k *fakeKernel) { k.put(&netlink.Bridge{LinkAttrs: attrsOf("bridge1", "", true)}) },
		cmds:  []string{"/interface/bridge add name=bridge1"},
		state: map[string]string{"/interface/bridge|bridge1": "a link named bridge1 exists that routerd did not create"},
	}, {
		name: "bridge options",
		setup: func(k *fakeKernel) {
			k.ether("ether2")
			k.ether("ether3")
		},
		cmds: []string{"/interface/bridge add name=bridge1 igmp-snooping=yes multicast-router=permanent",
			"/interface/bridge/port add bridge=bridge1 interface=ether2 horizon=1",
			"/interface/bridge/port add bridge=bridge1 interface=ether3 horizon=2"},
		want: []string{"add bridge bridge1", "alias bridge1 routerd", "multicast-router bridge1 2", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1",
			"master ether2 bridge1", "isolated ether2 true", "port-stp ether2 cost 10 priority 32"},
		state: map[string]string{"/interface/bridge/port|interface=ether3": "horizon 2 cannot be applied"},
	}, {
		// path-cost and priority are the kernel's 802.1D port cost and priority
		// (priority/4: the same bits of the port identifier); internal-path-cost, an
		// MSTP notion, is stored only. A cost above the kernel's 65535 is not applied.
		name: "bridge port path cost and priority",
		setup: func(k *fakeKernel) {
			k.ether("ether2")
			k.ether("ether3")
			k.ether("ether4")
		},
		cmds: []string{"/interface/bridge add name=bridge1",
			"/interface/bridge/port add bridge=bridge1 interface=ether2 path-cost=50 internal-path-cost=20 priority=0x40",
			"/interface/bridge/port add bridge=bridge1 interface=ether3 priority=240",
			"/interface/bridge/port add bridge=bridge1 interface=ether4 path-cost=200000"},
		want: []string{"add bridge bridge1", "alias bridge1 routerd", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1",
			"master ether2 bridge1", "port-stp ether2 cost 50 priority 16", "master ether3 bridge1", "port-stp ether3 cost 10 priority 60"},
		state: map[string]string{"/interface/bridge/port|interface=ether2": "", "/interface/bridge/port|interface=ether3": "",
			"/interface/bridge/port|interface=ether4": "path-cost 200000 cannot be applied: the kernel's spanning tree takes path costs of 1..65535"},
	}, {
		// Linux refuses a bridge as a bridge port (ELOOP): the port that closes a loop
		// of bridges names it, the other says why; no write is tried.
		name:  "bridges as ports of each other",
		setup: func(k *fakeKernel) {},
		cmds: []string{"/interface/bridge add name=bA protocol-mode=none", "/interface/bridge add name=bB protocol-mode=none",
			"/interface/bridge add name=bC protocol-mode=none",
			"/interface/bridge/port add bridge=bB interface=bA", "/interface/bridge/port add bridge=bC interface=bB",
			"/interface/bridge/port add bridge=bA interface=bC"},
		want: []string{"add bridge bA", "alias bA routerd", "up bA", "add bridge bB", "alias bB routerd", "up bB",
			"add bridge bC", "alias bC routerd", "up bC"},
		state: map[string]string{
			"/interface/bridge/port|interface=bA": "bA is a bridge: Linux does not make a bridge a port of another bridge",
			"/interface/bridge/port|interface=bB": "bB is a bridge: Linux does not make a bridge a port of another bridge",
			"/interface/bridge/port|interface=bC": "bridge loop: bC would be a port of bA, which is a port of bB, which is a port of bC"},
	}, {
		name:  "bridge vlan filtering with a tagged port",
		setup: func(k *fakeKernel) { k.ether("ether2") },
		cmds: []string{"/interface/bridge add name=bridge1 vlan-filtering=yes",
			"/interface/bridge/port add bridge=bridge1 interface=ether2",
			"/interface/bridge/vlan add bridge=bridge1 vlan-ids=10 tagged=bridge1,ether2"},
		want: []string{"add bridge bridge1", "alias bridge1 routerd", "vlan-filtering bridge1 true", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1",
			"master ether2 bridge1", "port-stp ether2 cost 10 priority 32", "vlan-add ether2 10", "vlan-add bridge1 10 self"},
		state: map[string]string{"/interface/bridge/vlan|bridge=bridge1": ""},
	}, {
		name:  "mdb entry on a port",
		setup: func(k *fakeKernel) { k.ether("ether2") },
		cmds: []string{"/interface/bridge add name=bridge1", "/interface/bridge/port add bridge=bridge1 interface=ether2",
			"/interface/bridge/mdb add bridge=bridge1 group=239.1.1.1 ports=ether2"},
		want: []string{"add bridge bridge1", "alias bridge1 routerd", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1", "master ether2 bridge1", "port-stp ether2 cost 10 priority 32",
			"mdb-add bridge1 ether2 239.1.1.1"},
	}, {
		name:  "kernel refuses the bridge",
		setup: func(k *fakeKernel) {},
		cmds:  []string{"/interface/bridge add name=bridge1"},
		fail:  map[string]error{"add bridge bridge1": unix.EPERM},
		want:  []string{"add bridge bridge1 (failed)"},
		again: []string{"add bridge bridge1 (failed)"},
		state: map[string]string{"/interface/bridge|bridge1": "cannot create bridge: operation not permitted"},
	}, {
		name:  "kernel refuses to mark the bridge: removed again",
		setup: func(k *fakeKernel) {},
		cmds:  []string{"/interface/bridge add name=bridge1"},
		fail:  map[string]error{"alias bridge1 routerd": unix.EPERM},
		want:  []string{"add bridge bridge1", "alias bridge1 routerd (failed)", "del bridge1"},
		again: []string{"add bridge bridge1", "alias bridge1 routerd (failed)", "del bridge1"},
		state: map[string]string{"/interface/bridge|bridge1": "cannot mark bridge: operation not permitted"},
	}, {
		name:  "kernel refuses the mtu",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface set ether1 mtu=9000"},
		fail:  map[string]error{"mtu ether1 9000": unix.EINVAL},
		want:  []string{"mtu ether1 9000 (failed)"},
		again: []string{"mtu ether1 9000 (failed)"},
		state: map[string]string{"/interface|ether1": "could not set mtu 9000: invalid argument"},
	}, {
		name:  "kernel without 8021q",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface/vlan add name=vlan10 vlan-id=10 interface=ether1"},
		fail:  map[string]error{"add vlan vlan10 id 10 on ether1": unix.EOPNOTSUPP},
		want:  []string{"add vlan vlan10 id 10 on ether1 (failed)"},
		again: []string{"add vlan vlan10 id 10 on ether1 (failed)"},
		state: map[string]string{"/interface/vlan|vlan10": "VLAN interfaces are not supported by this kernel"},
	}, {
		name:  "kernel without bridge vlan filtering",
		setup: func(k *fakeKernel) {},
		cmds:  []string{"/interface/bridge add name=bridge1 vlan-filtering=yes"},
		fail:  map[string]error{"vlan-filtering bridge1 true": unix.EOPNOTSUPP},
		want:  []string{"add bridge bridge1", "alias bridge1 routerd", "vlan-filtering bridge1 true (failed)"},
		again: []string{"vlan-filtering bridge1 true (failed)"},
		state: map[string]string{"/interface/bridge|bridge1": "vlan-filtering is not supported by this kernel"},
	}, {
		name:  "kernel refuses the rename",
		setup: func(k *fakeKernel) { k.ether("ether1") },
		cmds:  []string{"/interface/ethernet set ether1 name=wan"},
		fail:  map[string]error{"rename ether1 wan": unix.EBUSY},
		want:  []string{"down ether1", "rename ether1 wan (failed)", "up ether1"},
		again: []string{"down ether1", "rename ether1 wan (failed)", "up ether1"},
		state: map[string]string{"/interface/ethernet|wan": "cannot rename to wan: device or resource busy"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			tc.setup(k)
			r := newPlanRig(t, k)
			for _, c := range tc.cmds {
				controltest.Exec(t, r.ex, c)
			}
			k.Take()
			k.Fail = tc.fail
			if got := r.reconcile(t); !slices.Equal(got, tc.want) {
				t.Errorf("first pass wrote\n  %q\nwant\n  %q", got, tc.want)
			}
			if got := r.reconcile(t); !slices.Equal(got, tc.again) {
				t.Errorf("second pass wrote\n  %q\nwant\n  %q", got, tc.again)
			}
			for key, want := range tc.state {
				path, name, _ := strings.Cut(key, "|")
				prop, val, ok := strings.Cut(name, "=")
				if !ok {
					prop, val = "name", name
				}
				st := controltest.State(t, r.ex, path, prop, val)
				if want == "" && (st.Invalid || st.Status != "") {
					t.Errorf("%s %s: %+v, want applied", path, name, st)
				}
				if want != "" && (!st.Invalid || !strings.Contains(st.Status, want)) {
					t.Errorf("%s %s: %+v, want invalid with %q", path, name, st, want)
				}
			}
		})
	}
}

// TestRepairAfterDelete: a bridge deleted behind routerd's back is put back by the next
// pass (which link events kick), with its port; then passes are quiet again.
func TestRepairAfterDelete(t *testing.T) {
	k := newFakeKernel()
	k.ether("ether2")
	r := newPlanRig(t, k)
	controltest.Exec(t, r.ex, "/interface/bridge add name=bridge1")
	controltest.Exec(t, r.ex, "/interface/bridge/port add bridge=bridge1 interface=ether2")
	r.reconcile(t)
	br, _ := k.byName("bridge1")
	k.LinkDel(br)
	port, _ := k.byName("ether2")
	port.Attrs().MasterIndex = 0 // the kernel releases the ports of a deleted bridge
	k.Take()
	want := []string{"add bridge bridge1", "alias bridge1 routerd", "stp bridge1 1 fd 1500 age 2000 prio 32768", "up bridge1", "master ether2 bridge1", "port-stp ether2 cost 10 priority 32"}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Errorf("repair wrote %q, want %q", got, want)
	}
	if got := r.reconcile(t); len(got) != 0 {
		t.Errorf("pass after the repair wrote %q", got)
	}
}

// TestPortMTURestored: routerd owns an ethernet port's MTU as RouterOS does. A port's
// MTU changed behind routerd's back goes back to the configured value, or to RouterOS's
// default 1500 when none is configured (renamed port, /interface item without mtu, port
// no item names); print shows that value, not the kernel's; a port configured with
// another MTU keeps it; passes after the repair are quiet.
func TestPortMTURestored(t *testing.T) {
	k := newFakeKernel()
	for _, n := range []string{"ether1", "ether2", "ether3", "ether4"} {
		k.ether(n)
	}
	r := newPlanRig(t, k)
	controltest.Exec(t, r.ex, "/interface/ethernet set ether1 name=ether1-isp1")
	controltest.Exec(t, r.ex, "/interface set ether2 comment=lan")
	controltest.Exec(t, r.ex, "/interface/ethernet set ether4 mtu=1492")
	r.reconcile(t)
	for _, n := range []string{"ether1-isp1", "ether2", "ether3", "ether4"} {
		l, _ := k.byName(n)
		l.Attrs().MTU = 1400
	}
	want := []string{"mtu ether1-isp1 1500", "mtu ether2 1500", "mtu ether3 1500", "mtu ether4 1492"}
	got := r.reconcile(t)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("repair wrote %q, want %q", got, want)
	}
	if got := r.reconcile(t); len(got) != 0 {
		t.Errorf("pass after the repair wrote %q", got)
	}
	// print shows the configured value while the kernel differs (before the next pass).
	for _, n := range []string{"ether1-isp1", "ether3"} {
		l, _ := k.byName(n)
		l.Attrs().MTU = 1400
	}
	for path, want := range map[string]map[string]string{
		etherPath: {"ether1-isp1": "1500", "ether2": "1500", "ether3": "1500", "ether4": "1492"},
		IfacePath: {"ether1-isp1": "1500", "ether2": "1500", "ether3": "1500", "ether4": "1492"},
	} {
		rep, err := r.ex.Exec(context.Background(), nil, &control.Sentence{Path: path, Cmd: "print"})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, row := range rep.Rows {
			seen[row.Props["name"]] = row.Props["mtu"]
		}
		for n, m := range want {
			if seen[n] != m {
				t.Errorf("%s print: %s mtu=%q, want %s (all: %v)", path, n, seen[n], m, seen)
			}
		}
	}
}

// TestOldAltNameRefused: a port renamed from a long RouterOS name keeps that name as an
// alternative name until the kernel removes it. A removal the kernel refuses marks the
// port invalid with the kernel's reason (it was only logged, and the old name stayed on
// the link for good, where no new interface could take it); each pass tries again, and
// the one that succeeds clears the mark; the passes after it are quiet.
func TestOldAltNameRefused(t *testing.T) {
	const long = "ether1-master-local"
	kn := KernelName(long)
	k := newFakeKernel()
	k.ether("ether1")
	r := newPlanRig(t, k)
	controltest.Exec(t, r.ex, "/interface/ethernet set ether1 name="+long)
	want := []string{"down ether1", "rename ether1 " + kn, "altname " + kn + " " + long, "up " + kn}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Fatalf("first pass wrote\n  %q\nwant\n  %q", got, want)
	}
	controltest.Exec(t, r.ex, "/interface/ethernet set "+long+" name=wan")
	del := "del-altname wan " + long
	k.Fail = map[string]error{del: unix.EPERM}
	want = []string{"down " + kn, "rename " + kn + " wan", del + " (failed)", "up wan"}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Errorf("rename pass wrote\n  %q\nwant\n  %q", got, want)
	}
	st := controltest.State(t, r.ex, etherPath, "name", "wan")
	if !st.Invalid || !strings.Contains(st.Status, "cannot remove the old alternative name "+long+" of wan: operation not permitted") {
		t.Errorf("after a refused removal: %+v, want invalid with the kernel's reason", st)
	}
	// The rest of the port is applied: it is up under its new name.
	if l, _ := k.byName("wan"); l == nil || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("link wan: %+v, want up", l)
	}
	want = []string{del + " (failed)"}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Errorf("next pass wrote\n  %q\nwant\n  %q", got, want)
	}
	k.Fail = nil
	want = []string{del}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Errorf("pass the kernel takes wrote\n  %q\nwant\n  %q", got, want)
	}
	if st := controltest.State(t, r.ex, etherPath, "name", "wan"); st.Invalid || st.Status != "" {
		t.Errorf("after the removal: %+v, want applied", st)
	}
	if l, _ := k.byName("wan"); l == nil || len(l.Attrs().AltNames) != 0 {
		t.Errorf("link wan: %+v, want no alternative name", l)
	}
	if got := r.reconcile(t); len(got) != 0 {
		t.Errorf("quiet pass wrote %q", got)
	}
}

// TestRemovalRefused: a bridge, a VLAN and a bridge port no item configures any more
// that the kernel refuses to remove (or release) fail the pass with the kernel's reason,
// which the host shows on the engine's items (they were only logged, and the pass said
// all was well while the bridge kept forwarding); the next pass tries again, and the one
// the kernel takes succeeds and is followed by quiet ones.
func TestRemovalRefused(t *testing.T) {
	k := newFakeKernel()
	k.ether("ether1")
	k.ether("ether2")
	r := newPlanRig(t, k)
	controltest.Exec(t, r.ex, "/interface/bridge add name=bridge1")
	controltest.Exec(t, r.ex, "/interface/bridge/port add bridge=bridge1 interface=ether2")
	controltest.Exec(t, r.ex, "/interface/bridge add name=bridge2")
	controltest.Exec(t, r.ex, "/interface/vlan add name=vlan10 vlan-id=10 interface=ether1")
	r.reconcile(t)
	ports, err := r.ex.Items(portPath)
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v, %v", ports, err)
	}
	controltest.Exec(t, r.ex, fmt.Sprintf("/interface/bridge/port remove *%X", ports[0].ID))
	controltest.Exec(t, r.ex, "/interface/bridge remove bridge2")
	controltest.Exec(t, r.ex, "/interface/vlan remove vlan10")
	k.Fail = map[string]error{"del bridge2": unix.EBUSY, "del vlan10": unix.EPERM, "nomaster ether2": unix.EPERM}
	want := []string{"del bridge2 (failed)", "del vlan10 (failed)", "nomaster ether2 (failed)"}
	for pass := 1; pass <= 2; pass++ {
		err := r.e.Reconcile(context.Background())
		for _, why := range []string{"removing bridge bridge2: device or resource busy",
			"removing vlan vlan10: operation not permitted", "releasing bridge port ether2: operation not permitted"} {
			if err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("pass %d: error %v, want one saying %q", pass, err, why)
			}
		}
		if got := k.Take(); !slices.Equal(got, want) {
			t.Errorf("pass %d wrote\n  %q\nwant\n  %q", pass, got, want)
		}
	}
	k.Fail = nil
	want = []string{"del bridge2", "del vlan10", "nomaster ether2"}
	if got := r.reconcile(t); !slices.Equal(got, want) {
		t.Errorf("pass the kernel takes wrote\n  %q\nwant\n  %q", got, want)
	}
	if got := r.reconcile(t); len(got) != 0 {
		t.Errorf("quiet pass wrote %q", got)
	}
}
