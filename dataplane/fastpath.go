package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Roles of a port's XDP program (enum fp_role): the attachment stays while any is set.
const (
	FPRoleDecap   = 1 // an underlay of tunnels
	FPRoleForward = 2 // a fast path port
)

// PassReasons name the index of FastStats.Pass (enum fp_pass): why a packet that came to
// the fast path went to the kernel stack.
var PassReasons = []string{"off", "not-ip", "options", "ttl", "local", "mtu", "no-neighbour", "no-route", "egress", "not-fasttracked",
	"malformed", "martian", "checksum-partial", "redirect", "icmp-error"}

// FastTrackMark is the conntrack mark bit of a fasttracked connection
// (firewall.FastTrackMark, FP_FASTTRACK_MARK).
const FastTrackMark = 0x80000000

// FastStats are a port's fast path counters summed over CPUs.
type FastStats struct {
	Packets4, Bytes4, Packets6, Bytes6 uint64
	// FastTrack4 and FastTrackBytes4 count the IPv4 packets of fasttracked connections
	// (among Packets4 and Bytes4).
	FastTrack4, FastTrackBytes4 uint64
	// FastTrack6 and FastTrackBytes6: the same for IPv6 (among Packets6 and Bytes6).
	FastTrack6, FastTrackBytes6 uint64
	Pass                        [15]uint64
}

func (s *FastStats) add(p tunnelFpStats) {
	s.Packets4 += p.Packets4
	s.Bytes4 += p.Bytes4
	s.Packets6 += p.Packets6
	s.Bytes6 += p.Bytes6
	s.FastTrack4 += p.FtPackets4
	s.FastTrackBytes4 += p.FtBytes4
	s.FastTrack6 += p.FtPackets6
	s.FastTrackBytes6 += p.FtBytes6
	for i := range s.Pass {
		s.Pass[i] += p.Pass[i]
	}
}

// portHooks are the hooks the port program runs at, in the order tried.
var portHooks = []Hook{HookXDPNative, HookXDPGeneric}

// attachPort runs xdp_port on ifindex (native XDP, else generic; force picks one),
// reusing an attachment pinned by an earlier run (also one pinned under the name the
// decapsulator's links had before the port program, link_decap-xdp-*). A veth running it
// natively gets GRO on (vethGRO).
func (t *Tunnels) attachPort(ifindex int, ifname string, force Hook) (Hook, error) {
	h, err := t.attachPortHook(ifindex, ifname, force)
	if err == nil && h == HookXDPNative {
		vethGRO(ifindex)
	}
	return h, err
}

// vethGRO turns GRO on for a veth with a native XDP program. The program takes TSO from
// the veth's peer (veth_fix_features clears its GSO features), so a host behind it sends
// every TCP segment as a packet of its own, and with veth's default of no GRO nothing
// puts them back together: the router then forwards 1.5 KB packets one by one, which
// costs a TUN read each on the userspace ESP path (docs/perf.md, issue 12: 451 against
// 624 Mbit/s with GRO). A physical port has GRO on by default. It is best effort: the
// port works without it, so a refusal is logged, not returned.
func vethGRO(ifindex int) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil || l.Type() != "veth" {
		return
	}
	name := l.Attrs().Name
	if on, err := ethtoolValue(name, ethtoolGGRO, 0); err == nil && on != 0 {
		return
	}
	if _, err := ethtoolValue(name, ethtoolSGRO, 1); err != nil {
		slog.Warn("dataplane: GRO stays off on an XDP veth port", "link", name, "err", err)
	}
}

// Legacy ethtool commands (linux/ethtool.h) for GRO.
const (
	ethtoolGGRO = 0x2b
	ethtoolSGRO = 0x2c
)

// ethtoolValue runs one legacy ethtool value command (struct ethtool_value) on a link and
// returns the value it answers.
func ethtoolValue(ifname string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v := &struct{ cmd, data uint32 }{cmd, data}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = uintptr(unsafe.Pointer(v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return 0, fmt.Errorf("ethtool %s cmd %#x: %w", ifname, cmd, errno)
	}
	return v.data, nil
}

func (t *Tunnels) attachPortHook(ifindex int, ifname string, force Hook) (Hook, error) {
	t.followRename(ifindex, ifname)
	for _, h := range portHooks {
		path := t.linkPath("port-"+string(h), ifname)
		old := t.linkPath("decap-"+string(h), ifname)
		if _, err := os.Stat(old); err == nil {
			if _, err := os.Stat(path); err != nil {
				if err := os.Rename(old, path); err != nil {
					return "", fmt.Errorf("renaming the port link of %s: %w", ifname, err)
				}
			} else if err := unpin(old); err != nil {
				return "", err
			}
		}
		if l := reuse(path, t.objs.XdpPort); l != nil {
			info, err := l.Info()
			if err == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifindex {
				l.Close()
				return h, nil
			}
			// Pinned for an earlier link of that name: the pin makes way for this one's.
			err = l.Unpin()
			l.Close()
			if err != nil {
				return "", fmt.Errorf("unpinning the port link of an earlier %s: %w", ifname, err)
			}
		}
	}
	if h, ok, err := t.adoptPort(ifindex, ifname, force); err != nil || ok {
		return h, err
	}
	var errs []error
	for _, h := range portHooks {
		if force != "" && force != h {
			continue
		}
		flags := link.XDPDriverMode
		if h == HookXDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: t.objs.XdpPort, Interface: ifindex, Flags: flags})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		perr := l.Pin(t.linkPath("port-"+string(h), ifname))
		l.Close()
		if perr != nil {
			return "", fmt.Errorf("pinning the port link of %s: %w", ifname, perr)
		}
		return h, nil
	}
	return "", fmt.Errorf("attaching the port program to %s: %w", ifname, errors.Join(errs...))
}

// ErrForeignXDP says a port runs an XDP program that is not routerd's: routerd leaves it
// alone (and the port without the fast path and tunnel decapsulation at XDP).
var ErrForeignXDP = errors.New("an XDP program that is not routerd's is attached")

// ownProgs are the names of the XDP programs routerd attaches to ports: the port program,
// and the decapsulator that ran there before it.
var ownProgs = map[string]bool{"xdp_port": true, "tun_decap": true}

// XDP attach modes (IFLA_XDP_ATTACHED) and netlink attach flags (XDP_FLAGS_*).
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
	xdpFlagsSKB    = 2
	xdpFlagsDrv    = 4
)

// adoptPort deals with an XDP program already attached to ifindex that no pin of this
// folder names: a previous routerd's, whose pins are gone (the folder removed, another
// bpffs mounted over it), holds the device, and attaching anew fails (EBUSY native,
// EEXIST generic) for good. routerd's own (by program name) is taken over: its link is
// pointed at this process's program in place (no gap in forwarding) and pinned here;
// one attached without a link (netlink) is detached so the caller attaches anew. A
// program that is not routerd's is never touched: the error says whose it is.
// ok says the port now runs the program at hook h.
func (t *Tunnels) adoptPort(ifindex int, ifname string, force Hook) (h Hook, ok bool, err error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil || l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached || l.Attrs().Xdp.ProgId == 0 {
		return "", false, nil
	}
	x := l.Attrs().Xdp
	id := ebpf.ProgramID(x.ProgId)
	if mine, err := t.objs.XdpPort.Info(); err == nil {
		if my, ok := mine.ID(); ok && my == id {
			return "", false, nil // this process's, attached without a pin here: attach reports it
		}
	}
	name := "?"
	if p, err := ebpf.NewProgramFromID(id); err == nil {
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		p.Close()
	}
	if !ownProgs[name] {
		return "", false, fmt.Errorf("%w to %s: %q (id %d); detach it (ip link set %s xdp off) for routerd to attach its own",
			ErrForeignXDP, ifname, name, id, ifname)
	}
	switch x.AttachMode {
	case xdpAttachedDrv:
		h = HookXDPNative
	case xdpAttachedSKB:
		h = HookXDPGeneric
	default:
		return "", false, fmt.Errorf("%w to %s: routerd's %q in attach mode %d", ErrForeignXDP, ifname, name, x.AttachMode)
	}
	if lk := xdpLinkOf(ifindex, id); lk != nil {
		defer lk.Close()
		if force != "" && force != h {
			if err := lk.Detach(); err != nil {
				return "", false, fmt.Errorf("detaching a previous routerd's port program from %s: %w", ifname, err)
			}
			slog.Info("dataplane: detached a previous routerd's port program (another hook is asked for)", "interface", ifname, "prog", id)
			return "", false, nil
		}
		if err := lk.Update(t.objs.XdpPort); err != nil {
			return "", false, fmt.Errorf("taking over a previous routerd's port program on %s: %w", ifname, err)
		}
		path := t.linkPath("port-"+string(h), ifname)
		os.Remove(path)
		if err := lk.Pin(path); err != nil {
			return "", false, fmt.Errorf("pinning the port link of %s: %w", ifname, err)
		}
		slog.Info("dataplane: took over a previous routerd's port program whose pin was gone", "interface", ifname, "prog", id, "hook", h)
		return h, true, nil
	}
	flags := xdpFlagsDrv
	if h == HookXDPGeneric {
		flags = xdpFlagsSKB
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
		return "", false, fmt.Errorf("detaching routerd's %q from %s: %w", name, ifname, err)
	}
	slog.Info("dataplane: detached routerd's port program attached without a link", "interface", ifname, "prog", id)
	return "", false, nil
}

// xdpLinkOf finds the XDP link that attaches program id to ifindex (nil: none). Link
// ids are global; the program id, which is this namespace's device's, tells an
// interface of the same index in another namespace apart.
func xdpLinkOf(ifindex int, id ebpf.ProgramID) link.Link {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Program != id || info.XDP() == nil || int(info.XDP().Ifindex) != ifindex {
			continue
		}
		return it.Take()
	}
	return nil
}

// followRename moves the pin of a port link that runs on ifindex under another name (the
// interface was renamed: the attachment stays with the device) to ifname's path, so it
// is reused. Attaching anew would fail while the old attachment holds the device (XDP:
// EBUSY native, EEXIST generic) until the stale pin was cleaned up.
func (t *Tunnels) followRename(ifindex int, ifname string) {
	for _, h := range portHooks {
		path := t.linkPath("port-"+string(h), ifname)
		if _, err := os.Stat(path); err == nil {
			return
		}
		ms, _ := filepath.Glob(t.linkPath("port-"+string(h), "*"))
		for _, m := range ms {
			l, err := link.LoadPinnedLink(m, nil)
			if err != nil {
				continue
			}
			info, err := l.Info()
			l.Close()
			if err == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifindex {
				if err := os.Rename(m, path); err == nil {
					return
				}
			}
		}
	}
}

// portHook says at which hook the port program of ifname runs ("" for none).
func (t *Tunnels) portHook(ifname string) Hook {
	for _, h := range portHooks {
		if _, err := os.Stat(t.linkPath("port-"+string(h), ifname)); err == nil {
			return h
		}
	}
	return ""
}

// portLinks lists the interfaces with a pinned port program and their roles (0: no
// entry, the interface is gone or was configured by another layout).
//
// Interfaces are looked up with one netlink request each: net.InterfaceByName and
// InterfaceByIndex dump every interface per call, which with thousands of tunnel links
// made each fast path pass quadratic.
func (t *Tunnels) portLinks() map[string]uint16 {
	out := map[string]uint16{}
	for _, h := range portHooks {
		prefix := "link_port-" + string(h) + "_"
		ms, _ := filepath.Glob(filepath.Join(t.dir, prefix+"*"))
		for _, m := range ms {
			name := pinIfname(filepath.Base(m), prefix)
			out[name] = 0
			if ifc, err := netlink.LinkByName(name); err == nil {
				var p tunnelFpPort
				if t.objs.XdpPorts.Lookup(uint32(ifc.Attrs().Index), &p) == nil {
					out[name] = p.Roles
				}
			}
		}
	}
	return out
}

// addRole records a role of ifindex's port program, giving the port a counter slot
// (zeroed) when it has none.
func (t *Tunnels) addRole(ifindex int, role uint16) error {
	key := uint32(ifindex)
	var p tunnelFpPort
	if err := t.objs.XdpPorts.Lookup(key, &p); err != nil {
		slot, err := t.freePortSlot()
		if err != nil {
			return err
		}
		p = tunnelFpPort{Slot: slot}
		if ifc, err := netlink.LinkByIndex(ifindex); err == nil {
			copy(p.Mac[:], ifc.Attrs().HardwareAddr)
		}
	} else if p.Roles&role == role {
		return nil // as it was: a resync writes nothing
	}
	p.Roles |= role
	if err := t.objs.XdpPorts.Put(key, p); err != nil {
		return fmt.Errorf("xdp_ports: %w", err)
	}
	return nil
}

// freePortSlot returns the lowest fp_counters slot no port has (0 is kept for the
// packets decapsulated and forwarded that came in on no fast path port), zeroed.
func (t *Tunnels) freePortSlot() (uint32, error) {
	used := map[uint32]bool{0: true}
	var (
		k uint32
		v tunnelFpPort
	)
	it := t.objs.XdpPorts.Iterate()
	for it.Next(&k, &v) {
		used[v.Slot] = true
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("xdp_ports: %w", err)
	}
	for s := uint32(1); s < t.objs.FpCounters.MaxEntries(); s++ {
		if used[s] {
			continue
		}
		zero := make([]tunnelFpStats, ebpf.MustPossibleCPU())
		if err := t.objs.FpCounters.Put(s, zero); err != nil {
			return 0, fmt.Errorf("fp_counters: %w", err)
		}
		return s, nil
	}
	return 0, errors.New("dataplane: too many ports")
}

// dropRole removes a role of the port program of ifname; without roles left, the
// program is detached and the port forgotten. A link already gone has no entry to
// change; its pins are still removed.
func (t *Tunnels) dropRole(ifname string, role uint16) error {
	ifc, err := netlink.LinkByName(ifname)
	if err == nil {
		if done, err := t.dropRoleAt(ifc.Attrs().Index, role); done || err != nil {
			return err
		}
	}
	return t.unpinPort(ifname)
}

// dropRoleAt removes a role from the port entry of ifindex; done says the port keeps
// other roles (its program stays). A map write the kernel refuses is returned.
func (t *Tunnels) dropRoleAt(ifindex int, role uint16) (done bool, err error) {
	key := uint32(ifindex)
	var p tunnelFpPort
	if err := t.objs.XdpPorts.Lookup(key, &p); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("xdp_ports: %w", err)
	}
	p.Roles &^= role
	if p.Roles != 0 {
		if err := t.objs.XdpPorts.Put(key, p); err != nil {
			return false, fmt.Errorf("xdp_ports: %w", err)
		}
		return true, nil
	}
	if err := deleteKey(t.objs.XdpPorts, key); err != nil {
		return false, fmt.Errorf("xdp_ports: %w", err)
	}
	if err := deleteKey(t.objs.FpTx, key); err != nil {
		return false, fmt.Errorf("fp_tx: %w", err)
	}
	return false, nil
}

// unpinPort removes the port program's pinned attachments of ifname (every hook).
func (t *Tunnels) unpinPort(ifname string) error {
	var errs []error
	for _, h := range portHooks {
		errs = append(errs, unpin(t.linkPath("port-"+string(h), ifname)))
	}
	return errors.Join(errs...)
}

// deleteKey deletes key from m; a key already gone is no error.
func deleteKey(m *ebpf.Map, key any) error {
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// AddFastPort makes ifindex (named ifname) a fast path port: its packets are forwarded
// by the port program where they may, and, where the device takes redirected frames
// (TakesRedirects; called again, it looks again), the fast path may send out of it.
// Returns the hook the program runs at and whether the port takes redirects.
func (t *Tunnels) AddFastPort(ifindex int, ifname string, force Hook) (Hook, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, err := t.attachPort(ifindex, ifname, force)
	if err != nil {
		return "", false, err
	}
	if err := t.addRole(ifindex, FPRoleForward); err != nil {
		return "", false, err
	}
	// The MAC may have changed since the entry was made.
	var p tunnelFpPort
	if ifc, err := netlink.LinkByIndex(ifindex); err == nil && t.objs.XdpPorts.Lookup(uint32(ifindex), &p) == nil {
		var mac [6]byte
		copy(mac[:], ifc.Attrs().HardwareAddr)
		if mac != p.Mac {
			p.Mac = mac
			if err := t.objs.XdpPorts.Put(uint32(ifindex), p); err != nil {
				return "", false, fmt.Errorf("xdp_ports: %w", err)
			}
		}
	}
	tx, err := TakesRedirects(ifindex)
	var cur uint32
	had := t.objs.FpTx.Lookup(uint32(ifindex), &cur) == nil
	if err != nil || !tx {
		if had {
			if derr := deleteKey(t.objs.FpTx, uint32(ifindex)); derr != nil {
				return "", false, fmt.Errorf("fp_tx: %w", derr)
			}
		}
		return h, false, err
	}
	if had && cur == uint32(ifindex) {
		return h, true, nil
	}
	if err := t.objs.FpTx.Put(uint32(ifindex), uint32(ifindex)); err != nil {
		return "", false, fmt.Errorf("fp_tx: %w", err)
	}
	return h, true, nil
}

// RemoveFastPort stops the fast path on a port; the port program stays while the port
// is an underlay of tunnels. What the kernel refuses (a map write, an unpin) is
// returned: the port is still listed by FastPorts, so the caller's next pass tries again.
func (t *Tunnels) RemoveFastPort(ifindex int, ifname string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := deleteKey(t.objs.FpTx, uint32(ifindex)); err != nil {
		return fmt.Errorf("fp_tx: %w", err)
	}
	if done, err := t.dropRoleAt(ifindex, FPRoleForward); done || err != nil {
		return err
	}
	if ifname == "" { // gone from the kernel: its attachments went with it
		return nil
	}
	return t.unpinPort(ifname)
}

// FastPorts lists the ifindexes of the fast path ports.
func (t *Tunnels) FastPorts() ([]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.portsWith(FPRoleForward)
}

// portsWith lists the ifindexes of the ports (xdp_ports) that have one of roles, or
// of all of them for 0.
func (t *Tunnels) portsWith(roles uint16) ([]int, error) {
	var (
		k   uint32
		v   tunnelFpPort
		out []int
	)
	it := t.objs.XdpPorts.Iterate()
	for it.Next(&k, &v) {
		if roles == 0 || v.Roles&roles != 0 {
			out = append(out, int(k))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("xdp_ports: %w", err)
	}
	return out, nil
}

// SetFastPath says which families may take the fast path (allowed, and nothing, such as a
// firewall rule or an IPsec policy, would see their packets) and whether the packets of
// fasttracked connections of a family may while the family may not (FastTrack).
func (t *Tunnels) SetFastPath(v4, v6, ft4, ft6 bool) error {
	var c tunnelFpCfg
	if v4 {
		c.Flags |= 1 // FP_ON4
	}
	if v6 {
		c.Flags |= 2 // FP_ON6
	}
	if ft4 {
		c.Flags |= 4 // FP_FT4
	}
	if ft6 {
		c.Flags |= 16 // FP_FT6
	}
	var cur tunnelFpCfg
	if t.objs.FpConfig.Lookup(uint32(0), &cur) == nil {
		c.Flags |= cur.Flags & (fpSrcv | fpESP4)
		c.TcpTimeout, c.UdpTimeout = cur.TcpTimeout, cur.UdpTimeout
		if cur == c {
			return nil
		}
	}
	if err := t.objs.FpConfig.Put(uint32(0), c); err != nil {
		return fmt.Errorf("fp_config: %w", err)
	}
	return nil
}

// SetFastTrackTimeouts gives the conntrack timeouts the fast path refreshes a
// fasttracked connection's entry with on each packet it forwards: the namespace's
// established TCP and UDP stream timeouts (nf_conntrack_tcp_timeout_established,
// nf_conntrack_udp_timeout_stream). Zero leaves the kernel's default (5 days, 120 s).
func (t *Tunnels) SetFastTrackTimeouts(tcp, udp time.Duration) error {
	var c tunnelFpCfg
	// Read, modify, write: a failed read must not write zeros over the other fields.
	if err := t.objs.FpConfig.Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("fp_config: %w", err)
	}
	ms := func(d time.Duration) uint32 {
		if d <= 0 {
			return 0
		}
		if d.Milliseconds() > math.MaxUint32 {
			return math.MaxUint32
		}
		return uint32(d.Milliseconds())
	}
	n := c
	n.TcpTimeout, n.UdpTimeout = ms(tcp), ms(udp)
	if n == c {
		return nil
	}
	if err := t.objs.FpConfig.Put(uint32(0), n); err != nil {
		return fmt.Errorf("fp_config: %w", err)
	}
	return nil
}

// addSlot adds the per-CPU counters of a fp_counters slot to s.
func (t *Tunnels) addSlot(s *FastStats, slot uint32) error {
	var per []tunnelFpStats
	if err := t.objs.FpCounters.Lookup(slot, &per); err != nil {
		return fmt.Errorf("fp_counters: %w", err)
	}
	for _, p := range per {
		s.add(p)
	}
	return nil
}

// FastPortStats reads the fast path counters of a port.
func (t *Tunnels) FastPortStats(ifindex int) (FastStats, error) {
	var p tunnelFpPort
	if err := t.objs.XdpPorts.Lookup(uint32(ifindex), &p); err != nil {
		return FastStats{}, fmt.Errorf("xdp_ports: %w", err)
	}
	var s FastStats
	err := t.addSlot(&s, p.Slot)
	return s, err
}

// FastTotals sums the fast path counters of every port (and of slot 0).
func (t *Tunnels) FastTotals() (FastStats, error) {
	slots := []uint32{0}
	var (
		k uint32
		v tunnelFpPort
	)
	it := t.objs.XdpPorts.Iterate()
	for it.Next(&k, &v) {
		slots = append(slots, v.Slot)
	}
	if err := it.Err(); err != nil {
		return FastStats{}, fmt.Errorf("xdp_ports: %w", err)
	}
	var tot FastStats
	for _, s := range slots {
		if err := t.addSlot(&tot, s); err != nil {
			return FastStats{}, err
		}
	}
	return tot, nil
}

// FastTrackConn is a fasttracked connection as the fast path counts it: by protocol and
// the source and destination of conntrack's original tuple.
type FastTrackConn struct {
	Proto    uint8
	Src, Dst netip.AddrPort
}

// FastTrackCount is what the fast path forwarded of one connection, [0] in its original
// direction and [1] in its reply direction; bytes are IP lengths, as conntrack counts.
type FastTrackCount struct {
	Packets, Bytes [2]uint64
}

// FastTrackConns deletes the counters of the connections in forget (gone from
// conntrack: a later connection with the same tuple starts from zero) and reads the
// others (fp_ct_counters).
func (t *Tunnels) FastTrackConns(forget []FastTrackConn) (map[FastTrackConn]FastTrackCount, error) {
	m := t.objs.FpCtCounters
	for _, c := range forget {
		if err := m.Delete(ctKey(c)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("fp_ct_counters: %w", err)
		}
	}
	out := map[FastTrackConn]FastTrackCount{}
	var (
		k tunnelFpCtKey
		v tunnelFpCtVal
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[ctConn(k)] = FastTrackCount{Packets: v.Packets, Bytes: v.Bytes}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("fp_ct_counters: %w", err)
	}
	return out, nil
}

// ctKey and ctConn convert between a connection and its fp_ct_key: addresses and ports
// are in network order in the key's words, an IPv4 address in the first one.
func ctKey(c FastTrackConn) tunnelFpCtKey {
	k := tunnelFpCtKey{Proto: c.Proto, Sport: bits.ReverseBytes16(c.Src.Port()), Dport: bits.ReverseBytes16(c.Dst.Port())}
	put := func(w *[4]uint32, a netip.Addr) {
		var b [16]byte
		if a.Is4() {
			a4 := a.As4()
			copy(b[:], a4[:])
		} else {
			b = a.As16()
		}
		for i := range w {
			w[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	put(&k.Saddr, c.Src.Addr())
	put(&k.Daddr, c.Dst.Addr())
	if c.Src.Addr().Is6() {
		k.V6 = 1
	}
	return k
}

func ctConn(k tunnelFpCtKey) FastTrackConn {
	addr := func(w [4]uint32) netip.Addr {
		var b [16]byte
		for i := range w {
			binary.LittleEndian.PutUint32(b[4*i:], w[i])
		}
		if k.V6 == 0 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	return FastTrackConn{Proto: k.Proto, Src: netip.AddrPortFrom(addr(k.Saddr), bits.ReverseBytes16(k.Sport)),
		Dst: netip.AddrPortFrom(addr(k.Daddr), bits.ReverseBytes16(k.Dport))}
}

// PortHook says at which hook the port program of ifname runs ("" when none).
func (t *Tunnels) PortHook(ifname string) Hook {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.portHook(ifname)
}

// How the kernel validates the IPv4 source of a packet received on an interface
// (enum fp_srcv_mode): bits of the modes SetSourceChecks takes.
const (
	SrcvStrict      = 1 // rp_filter 1
	SrcvLoose       = 2 // rp_filter 2
	SrcvFull        = 4 // custom routing rules: the kernel looks the route back up
	SrcvAcceptLocal = 8 // accept_local
)

// fpSrcv is FP_SRCV: fp_srcv has entries.
const fpSrcv = 8

// fpESP4 is FP_ESP4: esp_steer may take inbound raw ESP (SetESPSteer).
const fpESP4 = 32

// localHash is FP_LOCAL_HASH: the bit of an IPv4 address (as the packet holds it) in
// fp_local.
func localHash(a netip.Addr) uint32 {
	b := a.As4()
	return (binary.NativeEndian.Uint32(b[:]) * 0x9E3779B1) >> 16
}

// SetLocalAddrs gives the fast path the router's own IPv4 addresses: a packet with one
// of them as its source is a martian to the kernel (fib_validate_source) and goes to the
// stack instead of being forwarded. Other families are ignored.
func (t *Tunnels) SetLocalAddrs(addrs []netip.Addr) error {
	var set tunnelFpLocal
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			h := localHash(a)
			set.Bits[h>>6] |= 1 << (h & 63)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur tunnelFpLocal
	if t.objs.FpLocal.Lookup(uint32(0), &cur) == nil && cur == set {
		return nil
	}
	if err := t.objs.FpLocal.Put(uint32(0), &set); err != nil {
		return fmt.Errorf("fp_local: %w", err)
	}
	return nil
}

// SetSourceChecks gives the fast path the interfaces (by ifindex) whose received IPv4
// packets the kernel validates beyond "not one of ours" (Srcv* bits; 0 or absent: no
// more than that).
func (t *Tunnels) SetSourceChecks(modes map[int]uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		k, v uint32
		errs []error
	)
	have := map[uint32]uint32{}
	it := t.objs.FpSrcv.Iterate()
	for it.Next(&k, &v) {
		have[k] = v
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("fp_srcv: %w", err)
	}
	n := 0
	for idx, m := range modes {
		if m == 0 {
			continue
		}
		n++
		if old, ok := have[uint32(idx)]; ok && old == m {
			delete(have, uint32(idx))
			continue
		}
		delete(have, uint32(idx))
		if err := t.objs.FpSrcv.Put(uint32(idx), m); err != nil {
			errs = append(errs, fmt.Errorf("fp_srcv: %w", err))
		}
	}
	for idx := range have {
		if err := deleteKey(t.objs.FpSrcv, idx); err != nil {
			errs = append(errs, fmt.Errorf("fp_srcv: %w", err))
		}
	}
	// The flag goes on after the entries are in: a mode added applies from the next
	// packet. (Without the flag, or without an entry, the program checks the least.)
	var c tunnelFpCfg
	if err := t.objs.FpConfig.Lookup(uint32(0), &c); err != nil {
		return errors.Join(append(errs, fmt.Errorf("fp_config: %w", err))...)
	}
	want := c
	want.Flags &^= fpSrcv
	if n > 0 {
		want.Flags |= fpSrcv
	}
	if want != c {
		if err := t.objs.FpConfig.Put(uint32(0), want); err != nil {
			errs = append(errs, fmt.Errorf("fp_config: %w", err))
		}
	}
	return errors.Join(errs...)
}
