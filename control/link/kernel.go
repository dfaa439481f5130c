package link

import (
	"net"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// Kernel is what the link engine reads from and changes in the kernel: links, bridge
// VLANs and options, multicast databases. A pass reads first and writes only what
// differs, so a pass with nothing changed makes no call of the second group.
// netlinkKernel is the real one (a *netlink.Handle and the raw requests the netlink
// library lacks); the plan tests run the engine against a fake that records every write
// (the way wireguard-go tests against tun/tuntest), and test/netlink keeps testing the
// real kernel.
type Kernel interface {
	LinkList() ([]netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	QdiscList(l netlink.Link) ([]netlink.Qdisc, error)
	BridgeVlanList() (map[int32][]*nl.BridgeVlanInfo, error)
	// BridgeMcastRouter reads a bridge's multicast-router mode (IFLA_BR_MCAST_ROUTER).
	BridgeMcastRouter(index int) (uint8, error)
	// BridgeSTP reads a bridge's spanning tree settings (IFLA_BR_STP_STATE and timers).
	BridgeSTP(index int) (stpOpts, error)
	// BridgeOptions reads a bridge's IFLA_INFO_DATA attributes, by type.
	BridgeOptions(index int) (map[int][]byte, error)
	// PortOptions reads the isolated flag, STP path cost and port priority of every
	// bridge port, by ifindex.
	PortOptions() (map[int]portOpts, error)
	// MdbList dumps the multicast databases of every bridge.
	MdbList() ([]mdbEntry, error)
	// Sysctl reads /proc/sys/NAME (os.ErrNotExist when this kernel has no such knob).
	Sysctl(name string) (string, error)

	LinkAdd(l netlink.Link) error
	LinkDel(l netlink.Link) error
	LinkSetUp(l netlink.Link) error
	LinkSetDown(l netlink.Link) error
	LinkSetName(l netlink.Link, name string) error
	LinkSetMTU(l netlink.Link, mtu int) error
	LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error
	// LinkSetARP clears (on) or sets IFF_NOARP.
	LinkSetARP(l netlink.Link, on bool) error
	SetSysctl(name, v string) error
	LinkSetAlias(l netlink.Link, alias string) error
	LinkAddAltName(l netlink.Link, name string) error
	LinkDelAltName(l netlink.Link, name string) error
	LinkSetMaster(l, master netlink.Link) error
	LinkSetNoMaster(l netlink.Link) error
	LinkSetIsolated(l netlink.Link, on bool) error
	// SetPortSTP sets a bridge port's STP path cost and priority (IFLA_BRPORT_COST,
	// IFLA_BRPORT_PRIORITY) in one request.
	SetPortSTP(l netlink.Link, cost uint32, priority uint16) error
	BridgeSetVlanFiltering(l netlink.Link, on bool) error
	BridgeSetMcastSnoop(l netlink.Link, on bool) error
	BridgeVlanAdd(l netlink.Link, vid uint16, pvid, untagged, self, master bool) error
	BridgeVlanDel(l netlink.Link, vid uint16, pvid, untagged, self, master bool) error
	SetBridgeMcastRouter(index int, mode uint8) error
	SetBridgeSTP(index int, o stpOpts) error
	// SetBridgeOptions sends the given IFLA_INFO_DATA attributes of a bridge in one request.
	SetBridgeOptions(index int, opts map[int][]byte) error
	// MdbAdd adds one entry (RTM_NEWMDB); MdbDel removes one (RTM_DELMDB).
	MdbAdd(e mdbEntry) error
	MdbDel(e mdbEntry) error

	Close()
}

// netlinkKernel is the kernel of the namespace routerd runs in: the netlink library's
// handle, and this package's raw requests for what the library does not cover.
type netlinkKernel struct{ *netlink.Handle }

// NewKernel opens the real kernel (a netlink socket of the calling thread's namespace).
func NewKernel() (Kernel, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	return &passKernel{Kernel: netlinkKernel{h}}, nil
}

// Dumps that raced a change are repeated (package nldump), not a failed pass.
func (k netlinkKernel) LinkList() ([]netlink.Link, error) { return nldump.Retry(k.Handle.LinkList) }
func (k netlinkKernel) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	return nldump.Retry(func() ([]netlink.Qdisc, error) { return k.Handle.QdiscList(l) })
}
func (k netlinkKernel) BridgeVlanList() (map[int32][]*nl.BridgeVlanInfo, error) {
	return nldump.Retry(k.Handle.BridgeVlanList)
}
func (netlinkKernel) BridgeMcastRouter(index int) (uint8, error) { return bridgeMcastRouter(index) }
func (netlinkKernel) BridgeSTP(index int) (stpOpts, error)       { return bridgeSTP(index) }
func (netlinkKernel) SetBridgeSTP(index int, o stpOpts) error    { return setBridgeSTP(index, o) }
func (netlinkKernel) SetBridgeMcastRouter(index int, mode uint8) error {
	return setBridgeMcastRouter(index, mode)
}
func (netlinkKernel) BridgeOptions(index int) (map[int][]byte, error) { return bridgeInfoData(index) }
func (netlinkKernel) SetBridgeOptions(index int, opts map[int][]byte) error {
	return setBridgeOptions(index, opts)
}
func (netlinkKernel) PortOptions() (map[int]portOpts, error) { return portOptions() }
func (netlinkKernel) SetPortSTP(l netlink.Link, cost uint32, priority uint16) error {
	return setPortSTP(l.Attrs().Index, cost, priority)
}
func (netlinkKernel) MdbList() ([]mdbEntry, error) { return mdbDump() }
func (netlinkKernel) MdbAdd(e mdbEntry) error      { return mdbChange(unix.RTM_NEWMDB, e) }
func (netlinkKernel) MdbDel(e mdbEntry) error      { return mdbChange(unix.RTM_DELMDB, e) }

func (k netlinkKernel) LinkSetARP(l netlink.Link, on bool) error {
	if on {
		return k.Handle.LinkSetARPOn(l)
	}
	return k.Handle.LinkSetARPOff(l)
}

func (netlinkKernel) Sysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}

func (netlinkKernel) SetSysctl(name, v string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(v), 0o644)
}

var _ Kernel = netlinkKernel{}

// passKernel keeps the link dump of a pass until the pass changes something: every step
// of a pass (ethernet ports, bridges, VLANs, ports, bridge VLANs, mdb, lists) needs the
// links, and with thousands of them (tunnels) a dump per step was most of the pass.
// Any write forgets the dump, so a step sees what the steps before it did; outside a
// pass (print, checks) every LinkList dumps.
type passKernel struct {
	Kernel
	mu     sync.Mutex
	active bool
	links  []netlink.Link // nil: dump again
}

func (k *passKernel) begin() { k.mu.Lock(); k.active, k.links = true, nil; k.mu.Unlock() }
func (k *passKernel) end()   { k.mu.Lock(); k.active, k.links = false, nil; k.mu.Unlock() }

func (k *passKernel) LinkList() ([]netlink.Link, error) {
	k.mu.Lock()
	if ls := k.links; ls != nil {
		k.mu.Unlock()
		return ls, nil
	}
	k.mu.Unlock()
	ls, err := k.Kernel.LinkList()
	k.mu.Lock()
	if err == nil && k.active {
		k.links = ls
	}
	k.mu.Unlock()
	return ls, err
}

func (k *passKernel) forget()                      { k.mu.Lock(); k.links = nil; k.mu.Unlock() }
func (k *passKernel) LinkAdd(l netlink.Link) error { k.forget(); return k.Kernel.LinkAdd(l) }
func (k *passKernel) LinkDel(l netlink.Link) error { k.forget(); return k.Kernel.LinkDel(l) }
func (k *passKernel) LinkSetUp(l netlink.Link) error {
	k.forget()
	return k.Kernel.LinkSetUp(l)
}
func (k *passKernel) LinkSetDown(l netlink.Link) error {
	k.forget()
	return k.Kernel.LinkSetDown(l)
}
func (k *passKernel) LinkSetName(l netlink.Link, name string) error {
	k.forget()
	return k.Kernel.LinkSetName(l, name)
}
func (k *passKernel) LinkSetMTU(l netlink.Link, mtu int) error {
	k.forget()
	return k.Kernel.LinkSetMTU(l, mtu)
}
func (k *passKernel) LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error {
	k.forget()
	return k.Kernel.LinkSetHardwareAddr(l, hw)
}
func (k *passKernel) LinkSetARP(l netlink.Link, on bool) error {
	k.forget()
	return k.Kernel.LinkSetARP(l, on)
}
func (k *passKernel) LinkSetAlias(l netlink.Link, alias string) error {
	k.forget()
	return k.Kernel.LinkSetAlias(l, alias)
}
func (k *passKernel) LinkAddAltName(l netlink.Link, name string) error {
	k.forget()
	return k.Kernel.LinkAddAltName(l, name)
}
func (k *passKernel) LinkDelAltName(l netlink.Link, name string) error {
	k.forget()
	return k.Kernel.LinkDelAltName(l, name)
}
func (k *passKernel) LinkSetMaster(l, master netlink.Link) error {
	k.forget()
	return k.Kernel.LinkSetMaster(l, master)
}
func (k *passKernel) LinkSetNoMaster(l netlink.Link) error {
	k.forget()
	return k.Kernel.LinkSetNoMaster(l)
}
func (k *passKernel) LinkSetIsolated(l netlink.Link, on bool) error {
	k.forget()
	return k.Kernel.LinkSetIsolated(l, on)
}
func (k *passKernel) SetPortSTP(l netlink.Link, cost uint32, priority uint16) error {
	k.forget()
	return k.Kernel.SetPortSTP(l, cost, priority)
}
func (k *passKernel) BridgeSetVlanFiltering(l netlink.Link, on bool) error {
	k.forget()
	return k.Kernel.BridgeSetVlanFiltering(l, on)
}
func (k *passKernel) BridgeSetMcastSnoop(l netlink.Link, on bool) error {
	k.forget()
	return k.Kernel.BridgeSetMcastSnoop(l, on)
}
