package tunnel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/nldump"
)

// Kernel is what the tunnel engine reads from and changes in the kernel: links, routes,
// sysctls and offloads. The engine reads first and writes only what differs, so a pass
// with nothing changed makes no call of the second group; netlinkKernel is the real one,
// the unit tests count the writes of a fake (the way wireguard-go tests against
// tun/tuntest).
type Kernel interface {
	LinkByName(name string) (netlink.Link, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	VethPeerIndex(l *netlink.Veth) (int, error)
	RouteGet(dst net.IP) ([]netlink.Route, error)
	// Sysctl reads /proc/sys/NAME (os.ErrNotExist when this kernel has no such knob).
	Sysctl(name string) (string, error)
	// Offload reads one ethtool offload (an ethtoolG* command).
	Offload(ifname string, get uint32) (bool, error)

	LinkAdd(l netlink.Link) error
	LinkDel(l netlink.Link) error
	LinkSetUp(l netlink.Link) error
	LinkSetDown(l netlink.Link) error
	LinkSetName(l netlink.Link, name string) error
	// LinkAddAltName gives a link an alternative name (the RouterOS name when it is
	// longer than a kernel link name can be); LinkDelAltName takes one away.
	LinkAddAltName(l netlink.Link, name string) error
	LinkDelAltName(l netlink.Link, name string) error
	LinkSetMTU(l netlink.Link, mtu int) error
	LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error
	LinkSetARP(l netlink.Link, on bool) error
	SetSysctl(name, v string) error
	SetOffload(ifname string, set uint32, on bool) error
}

// Dataplane is what the engine asks of the loaded tunnel programs and their maps
// (*dataplane.Tunnels). Applied, Hidden, Stats and DecapLinks only read.
type Dataplane interface {
	Applied(tn dataplane.Tunnel) bool
	Hidden() ([]int, error)
	Stats(hidden int) (dataplane.Stats, error)
	DecapLinks() []string
	// Decap decapsulates in place an outer packet the stack reassembled
	// (reassembly.go).
	Decap(pkt []byte, viaESP bool) (dataplane.Inner, error)

	// Repin makes the pin folder and pins again when they were removed; the count it
	// returns moves when it did (the attachments went with them). With every pin there
	// it only looks.
	Repin() (uint64, error)
	Set(tn dataplane.Tunnel) error
	Delete(hidden int) error
	AttachEncap(ifindex int, ifname string) error
	DetachEncap(ifname string) error
	AttachDecap(ifindex int, ifname string, force dataplane.Hook) (dataplane.Hook, error)
	DetachDecap(ifname string) error
	Close() error
}

var _ Dataplane = (*dataplane.Tunnels)(nil)

// netlinkKernel is the kernel of the namespace routerd runs in.
type netlinkKernel struct{}

func (netlinkKernel) LinkByName(name string) (netlink.Link, error) { return netlink.LinkByName(name) }
func (netlinkKernel) LinkByIndex(i int) (netlink.Link, error)      { return netlink.LinkByIndex(i) }
func (netlinkKernel) LinkList() ([]netlink.Link, error)            { return nldump.Retry(netlink.LinkList) }
func (netlinkKernel) VethPeerIndex(l *netlink.Veth) (int, error)   { return netlink.VethPeerIndex(l) }
func (netlinkKernel) RouteGet(dst net.IP) ([]netlink.Route, error) { return netlink.RouteGet(dst) }
func (netlinkKernel) LinkAdd(l netlink.Link) error                 { return netlink.LinkAdd(l) }
func (netlinkKernel) LinkDel(l netlink.Link) error                 { return netlink.LinkDel(l) }
func (netlinkKernel) LinkSetUp(l netlink.Link) error               { return netlink.LinkSetUp(l) }
func (netlinkKernel) LinkSetDown(l netlink.Link) error             { return netlink.LinkSetDown(l) }
func (netlinkKernel) LinkSetName(l netlink.Link, n string) error   { return netlink.LinkSetName(l, n) }
func (netlinkKernel) LinkAddAltName(l netlink.Link, n string) error {
	return netlink.LinkAddAltName(l, n)
}
func (netlinkKernel) LinkDelAltName(l netlink.Link, n string) error {
	return netlink.LinkDelAltName(l, n)
}
func (netlinkKernel) LinkSetMTU(l netlink.Link, mtu int) error { return netlink.LinkSetMTU(l, mtu) }
func (netlinkKernel) LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error {
	return netlink.LinkSetHardwareAddr(l, hw)
}

func (netlinkKernel) LinkSetARP(l netlink.Link, on bool) error {
	if on {
		return netlink.LinkSetARPOn(l)
	}
	return netlink.LinkSetARPOff(l)
}

func (netlinkKernel) Sysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}

func (netlinkKernel) SetSysctl(name, v string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(v), 0o644)
}

func (netlinkKernel) Offload(ifname string, get uint32) (bool, error) {
	v, err := ethtool(ifname, get, 0)
	return v != 0, err
}

func (netlinkKernel) SetOffload(ifname string, set uint32, on bool) error {
	var d uint32
	if on {
		d = 1
	}
	_, err := ethtool(ifname, set, d)
	return err
}

// Legacy ethtool commands (linux/ethtool.h): each reads or toggles one offload.
const (
	ethtoolGTSO = 0x1e
	ethtoolSTSO = 0x1f
	ethtoolGGSO = 0x23
	ethtoolSGSO = 0x24
	ethtoolGGRO = 0x2b
	ethtoolSGRO = 0x2c
)

type ethtoolValue struct {
	cmd, data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// ethtool runs one legacy value command on a link and returns the value it answers.
func ethtool(ifname string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("ethtool: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd, data: data}
	ifr := &ifreqData{data: uintptr(unsafe.Pointer(v))}
	copy(ifr.name[:], ifname)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return 0, fmt.Errorf("ethtool %s cmd %#x: %w", ifname, cmd, errno)
	}
	return v.data, nil
}

// setSysctl writes a sysctl only when it holds another value. A knob this kernel does
// not have is no error (IPv6 disabled at boot has no net/ipv6/conf).
func (e *Engine) setSysctl(name, v string) error {
	cur, err := e.k.Sysctl(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && cur == v {
		return nil
	}
	if err := e.k.SetSysctl(name, v); err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	return nil
}

// setOffload switches an offload only when it is not as wanted.
func (e *Engine) setOffload(ifname string, get, set uint32, on bool) error {
	if cur, err := e.k.Offload(ifname, get); err == nil && cur == on {
		return nil
	}
	return e.k.SetOffload(ifname, set, on)
}

// countingKernel counts the calls that change the kernel (routerd_tunnel_kernel_writes_total:
// a resync with nothing changed makes none, which the control-plane benchmark checks on
// the real kernel).
type countingKernel struct {
	Kernel
	n *atomic.Int64
}

func (k countingKernel) LinkAdd(l netlink.Link) error { k.n.Add(1); return k.Kernel.LinkAdd(l) }
func (k countingKernel) LinkDel(l netlink.Link) error { k.n.Add(1); return k.Kernel.LinkDel(l) }
func (k countingKernel) LinkSetUp(l netlink.Link) error {
	k.n.Add(1)
	return k.Kernel.LinkSetUp(l)
}
func (k countingKernel) LinkSetDown(l netlink.Link) error {
	k.n.Add(1)
	return k.Kernel.LinkSetDown(l)
}
func (k countingKernel) LinkSetName(l netlink.Link, name string) error {
	k.n.Add(1)
	return k.Kernel.LinkSetName(l, name)
}
func (k countingKernel) LinkAddAltName(l netlink.Link, name string) error {
	k.n.Add(1)
	return k.Kernel.LinkAddAltName(l, name)
}
func (k countingKernel) LinkDelAltName(l netlink.Link, name string) error {
	k.n.Add(1)
	return k.Kernel.LinkDelAltName(l, name)
}
func (k countingKernel) LinkSetMTU(l netlink.Link, mtu int) error {
	k.n.Add(1)
	return k.Kernel.LinkSetMTU(l, mtu)
}
func (k countingKernel) LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error {
	k.n.Add(1)
	return k.Kernel.LinkSetHardwareAddr(l, hw)
}
func (k countingKernel) LinkSetARP(l netlink.Link, on bool) error {
	k.n.Add(1)
	return k.Kernel.LinkSetARP(l, on)
}
func (k countingKernel) SetSysctl(name, v string) error {
	k.n.Add(1)
	return k.Kernel.SetSysctl(name, v)
}
func (k countingKernel) SetOffload(ifname string, set uint32, on bool) error {
	k.n.Add(1)
	return k.Kernel.SetOffload(ifname, set, on)
}
