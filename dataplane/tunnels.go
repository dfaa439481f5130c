package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// ErrNotSupported says the kernel cannot run the tunnel programs (no BPF, no BTF, no
// bpffs); tests skip on it.
var ErrNotSupported = errors.New("dataplane: eBPF tunnels not supported here")

// Kind is the tunnel type, as bpf/lib/tunnel.h numbers it.
type Kind uint32

const (
	GRE       Kind = 1
	EoIP      Kind = 2
	IPIP      Kind = 3
	SixToFour Kind = 4
)

// Overhead is what the kind adds in front of a payload (outer IPv4 and the tunnel
// header; EoIP also carries the payload's Ethernet header).
func (k Kind) Overhead() int {
	switch k {
	case GRE:
		return 24
	case EoIP:
		return 42
	default:
		return 20
	}
}

// DropCleartext is the index of the cleartext drop reason.
const DropCleartext = 6

// Drop reasons, the index of Stats.Drops (enum tun_drop).
var DropReasons = []string{"protocol", "no-route", "no-neighbour", "no-remote", "adjust", "malformed", "cleartext", "frag-needed"}

// Hook says where a decapsulator runs.
type Hook string

const (
	HookXDPNative  Hook = "xdp-native"
	HookXDPGeneric Hook = "xdp-generic"
	HookTC         Hook = "tc"
)

// DSCPInherit as Config.DSCP copies the inner packet's DSCP.
const DSCPInherit = -1

// Tunnel is one tunnel as the programs see it.
type Tunnel struct {
	Kind Kind
	// Local is the outer source; invalid or 0.0.0.0 uses the route's source address.
	Local netip.Addr
	// Remote is the outer destination; invalid (6to4 only) takes it from the 2002::/16
	// destination of each packet.
	Remote    netip.Addr
	TunnelID  uint16 // EoIP
	DSCP      int    // 0-63 or DSCPInherit
	DFInherit bool
	TTL       uint8
	// ClampMSS lowers the MSS of TCP SYNs in both directions to MSS4 (IPv4) / MSS6.
	ClampMSS   bool
	MSS4, MSS6 uint16
	// Hidden is the ifindex of the hidden veth end; VisibleMAC and HiddenMAC are the
	// addresses decapsulated L3 packets are written with.
	Hidden                int
	VisibleMAC, HiddenMAC net.HardwareAddr
	// Visible is the ifindex of the visible end; with FastPath (allow-fast-path) the
	// port program forwards decapsulated L3 payloads in the same pass where the fast
	// path may, as if received there.
	Visible  int
	FastPath bool
	// IPsecTable, when not 0, is the routing table of the userspace ESP path that an
	// IPsec-protected tunnel's (ipsec-secret) outer packets must be routed by: without
	// a route there (no policy installed yet) they are dropped, not sent in the clear.
	IPsecTable uint32
	// IPsec says IPsec protects the tunnel (ipsec-secret, or an inbound policy that
	// drops cleartext matches its outer packets): its packets are decapsulated only
	// when they come out of the userspace ESP path's device, and dropped in the clear
	// (the "cleartext" drop reason) wherever else they arrive.
	IPsec bool
}

// Stats are a tunnel's counters summed over CPUs.
type Stats struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	KeepaliveRx, KeepaliveReflected        uint64
	// TxFragmented counts outer packets too big for the underlay that the stack
	// fragmented (dont-fragment=no, or no DF on the inner packet).
	TxFragmented uint64
	// RxReassembled counts outer packets that came in fragments, which the stack
	// reassembled and routerd decapsulated (control/tunnel reassembly.go; included in
	// RxPackets).
	RxReassembled uint64
	Drops         [8]uint64
}

// Tunnels owns the loaded tunnel programs and their pinned maps.
type Tunnels struct {
	dir  string
	objs tunnelObjects

	mu sync.Mutex
	// index mirrors tunnel_rx_index (read from the pin on first use), so that a
	// rebuild writes only the entries that change.
	index []uint32
	// m mirrors tunnel_cfg's slots and tunnel_rx (read from the pins on first use; nil
	// again after a failed write, so the next Set reads them afresh): Set and Delete
	// find a free slot, a tunnel's old receive entries and the index from it instead of
	// iterating the maps, which made adding n tunnels n² map reads.
	m *mirror
	// want is rebuildIndex's scratch array (tunnel_rx_index's size).
	want []uint32
	// repins counts the passes of Repin that found pins missing.
	repins uint64
}

// mirror is what Set and Delete need to know of the maps they alone write.
type mirror struct {
	slot map[uint32]uint16 // hidden ifindex -> counter slot (tunnel_cfg)
	used map[uint16]bool   // slots some tunnel_cfg entry holds
	rx   map[tunnelTunRxKey]tunnelTunRx
}

// mirrored returns the mirror, reading the maps when there is none.
func (t *Tunnels) mirrored() (*mirror, error) {
	if t.m != nil {
		return t.m, nil
	}
	m := &mirror{slot: map[uint32]uint16{}, used: map[uint16]bool{}, rx: map[tunnelTunRxKey]tunnelTunRx{}}
	var (
		h   uint32
		cfg tunnelTunCfg
	)
	it := t.objs.TunnelCfg.Iterate()
	for it.Next(&h, &cfg) {
		m.slot[h], m.used[cfg.Slot] = cfg.Slot, true
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("tunnel_cfg: %w", err)
	}
	var (
		k tunnelTunRxKey
		v tunnelTunRx
	)
	ri := t.objs.TunnelRx.Iterate()
	for ri.Next(&k, &v) {
		m.rx[k] = v
	}
	if err := ri.Err(); err != nil {
		return nil, fmt.Errorf("tunnel_rx: %w", err)
	}
	t.m = m
	return m, nil
}

// OpenTunnels loads the tunnel programs, reusing maps pinned in dir (a bpffs folder) by
// an earlier run so that configuration and counters survive a restart, and pins the
// programs there for bpftool.
func OpenTunnels(dir string) (*Tunnels, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	spec, err := loadTunnel()
	if err != nil {
		return nil, fmt.Errorf("tunnel programs: %w", err)
	}
	t := &Tunnels{dir: dir}
	err = spec.LoadAndAssign(&t.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// A routerd of another layout pinned these: start over with fresh maps.
		for _, n := range []string{"tunnel_cfg", "tunnel_rx", "tunnel_stats", "tunnel_rx_index", "tunnel_slots",
			"xdp_ports", "fp_tx", "fp_config", "fp_counters", "fp_local", "fp_srcv", "fp_ct_counters",
			"esp_rx", "esp_rx_config", "esp_rx_counters"} {
			os.Remove(filepath.Join(dir, n))
		}
		err = spec.LoadAndAssign(&t.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: %v", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("loading tunnel programs: %w", err)
	}
	// The socket a routerd before this one steered raw ESP to is gone with it; the ESP
	// path of this one (or the kernel's) must get the ESP until it asks for it.
	if err := t.SetESPRx(0); err != nil {
		t.objs.Close()
		return nil, err
	}
	for name, p := range t.programs() {
		path := filepath.Join(dir, name)
		os.Remove(path)
		if err := p.Pin(path); err != nil {
			t.objs.Close()
			return nil, fmt.Errorf("pinning %s: %w", name, err)
		}
	}
	return t, nil
}

// programs are the programs OpenTunnels pins, by pin name.
func (t *Tunnels) programs() map[string]*ebpf.Program {
	return map[string]*ebpf.Program{"tun_encap": t.objs.TunEncap,
		"tun_decap": t.objs.TunDecap, "tun_decap_tc": t.objs.TunDecapTc, "tun_decap_l3": t.objs.TunDecapL3,
		"xdp_port": t.objs.XdpPort}
}

// pinnable is a map or a program.
type pinnable interface {
	Pin(string) error
	Unpin() error
}

// pins are the maps (pinned by name, LIBBPF_PIN_BY_NAME) and programs of the folder.
func (t *Tunnels) pins() map[string]pinnable {
	m := t.objs.tunnelMaps
	out := map[string]pinnable{"fp_config": m.FpConfig, "fp_counters": m.FpCounters, "fp_local": m.FpLocal,
		"fp_srcv": m.FpSrcv, "fp_tx": m.FpTx, "fp_ct_counters": m.FpCtCounters, "tunnel_cfg": m.TunnelCfg, "tunnel_rx": m.TunnelRx,
		"tunnel_rx_index": m.TunnelRxIndex, "tunnel_slots": m.TunnelSlots, "tunnel_stats": m.TunnelStats,
		"xdp_ports": m.XdpPorts}
	for n, p := range t.programs() {
		out[n] = p
	}
	return out
}

// Repin makes the pin folder and the pins of the maps and programs again when they were
// removed behind routerd's back (`rm -rf` of the folder, another bpffs mounted over
// it): the loaded objects live on in routerd's descriptors, so the maps keep their
// contents, but a folder that is gone takes every attachment pinned in it with it (a
// link whose last reference was its pin is detached), and no new one can be pinned.
// gen counts the times pins were made again in this process: a caller that sees it move
// attaches again what it attached (the attachments find their pins gone and are made
// anew), whichever of the engines sharing the objects made them. With every pin in
// place it only looks (a stat per pin), so a resync with nothing changed writes nothing.
func (t *Tunnels) Repin() (gen uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []string
	for name := range t.pins() {
		if _, err := os.Stat(filepath.Join(t.dir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return t.repins, nil
	}
	t.repins++
	sort.Strings(missing)
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return t.repins, fmt.Errorf("bpffs: making the pin folder again: %w", err)
	}
	var errs []error
	pins := t.pins()
	for _, name := range missing {
		p := pins[name]
		p.Unpin() // forget the path that is gone
		if err := p.Pin(filepath.Join(t.dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("pinning %s again: %w", name, err))
		}
	}
	slog.Warn("dataplane: pins removed behind routerd's back were made again; attachments are remade",
		"dir", t.dir, "pins", strings.Join(missing, ","))
	return t.repins, errors.Join(errs...)
}

// Close releases the file descriptors. Attachments stay: their links are pinned.
func (t *Tunnels) Close() error { return t.objs.Close() }

// Programs exposes the loaded programs (benchmarks and BPF_PROG_RUN tests).
func (t *Tunnels) Programs() (encap, decapXDP, decapTC *ebpf.Program) {
	return t.objs.TunEncap, t.objs.TunDecap, t.objs.TunDecapTc
}

func be32(a netip.Addr) uint32 {
	if !a.IsValid() || !a.Is4() {
		return 0
	}
	b := a.As4()
	// The maps hold network byte order in a host (little-endian) u32.
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (tn *Tunnel) rxKey() tunnelTunRxKey {
	k := tunnelTunRxKey{Remote: be32(tn.Remote), Local: be32(tn.Local)}
	switch tn.Kind {
	case GRE:
		k.Proto = 47
	case EoIP:
		k.Proto, k.Eoip, k.Id = 47, 1, tn.TunnelID
	case IPIP:
		k.Proto = 4
	case SixToFour:
		k.Proto = 41
	}
	return k
}

// entries are the tunnel_cfg and tunnel_rx values of tn in slot.
func (tn Tunnel) entries(slot uint16) (tunnelTunCfg, tunnelTunRx) {
	dscp := uint8(0xff)
	if tn.DSCP >= 0 {
		dscp = uint8(tn.DSCP)
	}
	cfg := tunnelTunCfg{Kind: uint32(tn.Kind), Local: be32(tn.Local), Remote: be32(tn.Remote),
		TunnelId: tn.TunnelID, Dscp: dscp, Ttl: tn.TTL, Mss4: tn.MSS4, Mss6: tn.MSS6, Slot: slot,
		IpsecTable: tn.IPsecTable}
	if tn.DFInherit {
		cfg.DfInherit = 1
	}
	if tn.ClampMSS {
		cfg.Clamp = 1
	}
	rx := tunnelTunRx{Ifindex: uint32(tn.Hidden), Mss4: tn.MSS4, Mss6: tn.MSS6, Clamp: cfg.Clamp, Kind: uint8(tn.Kind), Slot: slot,
		VisIfindex: uint32(tn.Visible)}
	if tn.FastPath && tn.Visible > 0 {
		rx.Fast = 1
	}
	if tn.IPsec {
		rx.Ipsec = 1
	}
	copy(rx.PeerMac[:], tn.VisibleMAC)
	copy(rx.OwnMac[:], tn.HiddenMAC)
	return cfg, rx
}

// Applied reports whether the maps hold tn exactly as Set writes it. It only reads (three
// lookups in the maps themselves, not the mirror: a resync notices an entry changed
// behind routerd's back), so a resync that finds every tunnel applied writes nothing.
func (t *Tunnels) Applied(tn Tunnel) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tn.Hidden <= 0 {
		return false
	}
	var cur tunnelTunCfg
	if err := t.objs.TunnelCfg.Lookup(uint32(tn.Hidden), &cur); err != nil {
		return false
	}
	cfg, rx := tn.entries(cur.Slot)
	if cur != cfg {
		return false
	}
	key := tn.rxKey()
	var r tunnelTunRx
	if err := t.objs.TunnelRx.Lookup(key, &r); err != nil || r != rx {
		return false
	}
	var sl tunnelTunSlot
	if err := t.objs.TunnelSlots.Lookup(uint32(cur.Slot), &sl); err != nil || sl.Key != key || sl.Rx != rx {
		return false
	}
	return true
}

// Set writes a tunnel into the maps, replacing what its hidden ifindex had; its counters
// start at zero only if it had none.
func (t *Tunnels) Set(tn Tunnel) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tn.Hidden <= 0 {
		return errors.New("tunnel without hidden ifindex")
	}
	err := t.set(tn)
	if err != nil {
		t.m = nil // a write failed part way: read the maps again next time
	}
	return err
}

func (t *Tunnels) set(tn Tunnel) error {
	m, err := t.mirrored()
	if err != nil {
		return err
	}
	key := uint32(tn.Hidden)
	slot, err := t.slotFor(m, key)
	if err != nil {
		return err
	}
	cfg, rx := tn.entries(slot)
	// A changed remote or local leaves an old receive entry behind: drop entries of this
	// tunnel under other keys first.
	want := tn.rxKey()
	// The slot first: an index entry that still points at it from the old key finds
	// the key changed and falls back to tunnel_rx.
	if err := t.objs.TunnelSlots.Put(uint32(slot), tunnelTunSlot{Key: want, Rx: rx}); err != nil {
		return fmt.Errorf("tunnel_slots: %w", err)
	}
	if err := t.deleteRx(m, key, &want); err != nil {
		return err
	}
	if err := t.objs.TunnelRx.Put(want, rx); err != nil {
		return fmt.Errorf("tunnel_rx: %w", err)
	}
	m.rx[want] = rx
	if err := t.objs.TunnelCfg.Put(key, cfg); err != nil {
		return fmt.Errorf("tunnel_cfg: %w", err)
	}
	m.slot[key], m.used[slot] = slot, true
	return t.rebuildIndex(m)
}

// rxHash is tun_rx_hash of bpf/tunnel.c.
func rxHash(k tunnelTunRxKey) uint32 {
	x := k.Remote ^ (uint32(k.Id)<<16 | uint32(k.Eoip)<<8 | uint32(k.Proto))
	return (x * 0x9E3779B1) >> (32 - rxIndexBits)
}

const rxIndexBits = 14 // TUN_RX_INDEX_BITS

// rebuildIndex points every tunnel_rx_index entry at the slot of the one tunnel_rx entry
// with a remote address that hashes there, or clears it where none or several do (those
// packets take the tunnel_rx path, which also holds the wildcards).
func (t *Tunnels) rebuildIndex(m *mirror) error {
	n := t.objs.TunnelRxIndex.MaxEntries()
	if t.index == nil {
		// One batch read of the whole array (an array's keys are 0..n-1 in order).
		keys, cur := make([]uint32, n), make([]uint32, n)
		var cursor ebpf.MapBatchCursor
		got, err := t.objs.TunnelRxIndex.BatchLookup(&cursor, keys, cur, nil)
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("tunnel_rx_index: %w", err)
		}
		if got != int(n) {
			return fmt.Errorf("tunnel_rx_index: read %d of %d entries", got, n)
		}
		t.index = cur
	}
	if len(t.want) != int(n) {
		t.want = make([]uint32, n)
	}
	want := t.want
	clear(want)
	shared := map[uint32]bool{}
	for k, v := range m.rx {
		if k.Remote == 0 {
			continue
		}
		h := rxHash(k)
		if want[h] != 0 {
			shared[h] = true
		}
		want[h] = uint32(v.Slot) + 1
	}
	for h := range shared {
		want[h] = 0
	}
	for i := range want {
		if want[i] == t.index[i] {
			continue
		}
		if err := t.objs.TunnelRxIndex.Put(uint32(i), want[i]); err != nil {
			return fmt.Errorf("tunnel_rx_index: %w", err)
		}
		t.index[i] = want[i]
	}
	return nil
}

// ErrTooManyTunnels says every counter slot is taken.
var ErrTooManyTunnels = errors.New("dataplane: too many tunnels")

// slotFor returns the counter slot of the tunnel at hidden: the one its tun_cfg holds
// (pinned, so a restarted routerd keeps it and its counters), or else the lowest free
// one, zeroed (array slots cannot be deleted and may hold a removed tunnel's counts).
func (t *Tunnels) slotFor(m *mirror, hidden uint32) (uint16, error) {
	if s, ok := m.slot[hidden]; ok {
		return s, nil
	}
	for s := uint32(0); s < t.objs.TunnelStats.MaxEntries(); s++ {
		if m.used[uint16(s)] {
			continue
		}
		zero := make([]tunnelTunStats, ebpf.MustPossibleCPU())
		if err := t.objs.TunnelStats.Put(s, zero); err != nil {
			return 0, fmt.Errorf("tunnel_stats: %w", err)
		}
		return uint16(s), nil
	}
	return 0, ErrTooManyTunnels
}

// deleteRx removes the receive entries pointing at hidden, except keep.
func (t *Tunnels) deleteRx(m *mirror, hidden uint32, keep *tunnelTunRxKey) error {
	for k, v := range m.rx {
		if v.Ifindex != hidden || (keep != nil && k == *keep) {
			continue
		}
		if err := t.objs.TunnelRx.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("tunnel_rx: %w", err)
		}
		delete(m.rx, k)
	}
	return nil
}

// Delete removes a tunnel (by hidden ifindex) from the maps.
func (t *Tunnels) Delete(hidden int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.delete(uint32(hidden))
	if err != nil {
		t.m = nil
	}
	return err
}

func (t *Tunnels) delete(key uint32) error {
	m, err := t.mirrored()
	if err != nil {
		return err
	}
	if err := t.deleteRx(m, key, nil); err != nil {
		return err
	}
	if err := t.rebuildIndex(m); err != nil {
		return err
	}
	// The slot is freed with the tun_cfg entry (nothing in the index points at it any
	// more); its counters are zeroed when it is taken again.
	if err := t.objs.TunnelCfg.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("tunnel_cfg: %w", err)
	}
	if s, ok := m.slot[key]; ok {
		delete(m.slot, key)
		delete(m.used, s)
	}
	return nil
}

// Hidden lists the hidden ifindexes the maps hold tunnels for (to prune after a restart).
func (t *Tunnels) Hidden() ([]int, error) {
	var (
		k   uint32
		v   tunnelTunCfg
		out []int
	)
	it := t.objs.TunnelCfg.Iterate()
	for it.Next(&k, &v) {
		out = append(out, int(k))
	}
	return out, it.Err()
}

// Stats reads a tunnel's counters (by hidden ifindex).
func (t *Tunnels) Stats(hidden int) (Stats, error) {
	var cfg tunnelTunCfg
	if err := t.objs.TunnelCfg.Lookup(uint32(hidden), &cfg); err != nil {
		return Stats{}, fmt.Errorf("tunnel_cfg: %w", err)
	}
	var per []tunnelTunStats
	if err := t.objs.TunnelStats.Lookup(uint32(cfg.Slot), &per); err != nil {
		return Stats{}, fmt.Errorf("tunnel_stats: %w", err)
	}
	var s Stats
	for _, p := range per {
		s.add(p)
	}
	return s, nil
}

func (s *Stats) add(p tunnelTunStats) {
	s.RxPackets += p.RxPackets
	s.RxBytes += p.RxBytes
	s.TxPackets += p.TxPackets
	s.TxBytes += p.TxBytes
	s.KeepaliveRx += p.KeepaliveRx
	s.KeepaliveReflected += p.KeepaliveReflected
	s.TxFragmented += p.TxFragmented
	for i := range s.Drops {
		s.Drops[i] += p.Drops[i]
	}
}

func (t *Tunnels) linkPath(kind, ifname string) string {
	return filepath.Join(t.dir, "link_"+kind+"_"+pinEscaper.Replace(ifname))
}

// The bpf filesystem refuses '.' in names (EPERM), and interface names have them
// (ether1.100, RouterOS's .S3_NEXUS): a pin's name writes '.' as %2e and '%' as %25.
var (
	pinEscaper   = strings.NewReplacer("%", "%25", ".", "%2e")
	pinUnescaper = strings.NewReplacer("%25", "%", "%2e", ".")
)

// pinIfname is the interface name of the pin called base, whose kind prefix is prefix.
func pinIfname(base, prefix string) string {
	return pinUnescaper.Replace(strings.TrimPrefix(base, prefix))
}

// reuse opens a pinned link and points it at prog unless it runs prog already (a
// resync must not write); a link whose interface is gone (or that cannot be updated) is
// unpinned and nil returned.
func reuse(path string, prog *ebpf.Program) link.Link {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		os.Remove(path)
		return nil
	}
	if runs(l, prog) {
		return l
	}
	if err := l.Update(prog); err != nil {
		l.Unpin()
		l.Close()
		return nil
	}
	return l
}

// runs reports whether the link l runs prog (false when either cannot be asked).
func runs(l link.Link, prog *ebpf.Program) bool {
	li, err := l.Info()
	if err != nil {
		return false
	}
	pi, err := prog.Info()
	if err != nil {
		return false
	}
	id, ok := pi.ID()
	return ok && li.Program == id
}

// AttachEncap runs tun_encap at TC ingress of a tunnel's hidden end (named ifname). An
// attachment pinned by an earlier run is updated in place, without a gap.
func (t *Tunnels) AttachEncap(ifindex int, ifname string) error {
	path := t.linkPath("encap", ifname)
	if l := reuse(path, t.objs.TunEncap); l != nil {
		return l.Close()
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: t.objs.TunEncap, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attaching tun_encap to %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		return fmt.Errorf("pinning encap link of %s: %w", ifname, err)
	}
	return nil
}

// DetachEncap removes the pinned encapsulator link of a hidden end (deleting the veth
// removes the attachment too).
func (t *Tunnels) DetachEncap(ifname string) error {
	return unpin(t.linkPath("encap", ifname))
}

// unpin removes a pinned link (and so its attachment, once no one holds it); a pin
// that is not there is no error, one that is not a link is removed as a file.
func unpin(path string) error {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", filepath.Base(path), rerr)
		}
		return nil
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpinning %s: %w", filepath.Base(path), err)
	}
	return nil
}

// AttachDecap runs the decapsulator on an underlay interface: the port program
// (xdp_port, which also forwards for the fast path) in native XDP where the driver has
// it, else generic XDP, else tun_decap_tc at TC. A pinned attachment of an earlier run
// is updated in place and keeps its hook. force, when not "", asks for one hook only.
func (t *Tunnels) AttachDecap(ifindex int, ifname string, force Hook) (Hook, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// An underlay without a link-layer header (a TUN: the userspace ESP path's device)
	// gets the TC decapsulator that supplies one; XDP there would never see the packets.
	decapTC := t.objs.TunDecapTc
	if l3Device(ifindex) {
		decapTC, force = t.objs.TunDecapL3, HookTC
	}
	if force != HookTC {
		if l := reuse(t.linkPath("decap-"+string(HookTC), ifname), decapTC); l != nil && force == "" {
			l.Close()
			return HookTC, nil
		}
		h, err := t.attachPort(ifindex, ifname, force)
		if err == nil {
			if err := t.addRole(ifindex, FPRoleDecap); err != nil {
				return "", err
			}
			return h, nil
		}
		if force != "" {
			return "", fmt.Errorf("attaching the decapsulator to %s: %w", ifname, err)
		}
	}
	path := t.linkPath("decap-"+string(HookTC), ifname)
	if l := reuse(path, decapTC); l != nil {
		l.Close()
		return HookTC, nil
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: decapTC, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return "", fmt.Errorf("attaching the decapsulator to %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		return "", fmt.Errorf("pinning decap link of %s: %w", ifname, err)
	}
	return HookTC, nil
}

// l3Device reports whether an interface carries bare IP packets (ARPHRD_NONE: TUN,
// WireGuard), which the Ethernet decapsulators cannot parse.
func l3Device(ifindex int) bool {
	l, err := netlink.LinkByIndex(ifindex)
	return err == nil && l.Attrs().EncapType == "none"
}

// DetachDecap removes the decapsulator from an underlay interface; the port program
// stays while the interface is a fast path port.
func (t *Tunnels) DetachDecap(ifname string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(unpin(t.linkPath("decap-"+string(HookTC), ifname)), t.dropRole(ifname, FPRoleDecap))
}

// DecapLinks lists the interface names that have a pinned decapsulator.
func (t *Tunnels) DecapLinks() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	ms, _ := filepath.Glob(t.linkPath("decap-"+string(HookTC), "*"))
	for _, m := range ms {
		out = append(out, pinIfname(filepath.Base(m), "link_decap-"+string(HookTC)+"_"))
	}
	for name, roles := range t.portLinks() {
		if roles == 0 || roles&FPRoleDecap != 0 {
			out = append(out, name)
		}
	}
	return out
}
