package esp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/routerd/routerd/nldump"
)

const (
	// headroom in front of every inner packet read from the TUN: room for the ESP header,
	// IV and the outer IPv4 header (raw sockets) without moving the payload.
	headroom = 128
	// tunWriteOffset is where inner packets start in TUN write buffers (the library puts
	// the virtio-net header in front).
	tunWriteOffset = 16
	maxBatch       = 128
	// seqSoftLimit: an outbound SA without ESN asks for a rekey this many packets in.
	seqSoftLimit = 0xffffffff - 1<<20
)

// userspace is the ESP data path in Go (see doc.go).
type userspace struct {
	cfg Config
	// dev is the TUN device in use. Repair replaces it when the device was deleted
	// behind routerd's back (ip link del ipsec0); the loops load it for each batch.
	dev     atomic.Pointer[tunDev]
	tunName string
	// devErr is why the device is missing (nil: it is there): set by the out loop when
	// the device went (markGone) and by a Repair that could not make it again, read by
	// Health.
	devErr atomic.Pointer[error]
	nl     rtnl
	nsFd   int // Open's network namespace, for nftables (0: none)

	raw4    *ipv4.PacketConn // IPPROTO_ESP, IP_HDRINCL for sending
	raw4c   net.PacketConn
	raw6    *ipv6.PacketConn
	raw6c   net.PacketConn
	bypass4 int // IPPROTO_RAW socket for traffic that matched no encrypt policy
	bypass6 int // the same for IPv6 (an IPv6 IPPROTO_RAW socket includes the header)
	// frag4 sends IPv4 ESP packets above what the device's MTU makes (sendFrag4): no
	// IP_HDRINCL, so that the kernel fragments them; it receives nothing.
	frag4 int
	// icmp4 and icmp6 send the too-big answers to bypassed packets (toobig.go); they
	// receive nothing (0: none).
	icmp4, icmp6 int
	icmpLimit    icmpLimiter
	udp4         *net.UDPConn
	udp6         *net.UDPConn
	// steerc is the socket the port program's steered raw ESP arrives on (steer.go;
	// nil: none), on steerPort.
	steerc    net.PacketConn
	steerPort uint16
	steerFrom atomic.Pointer[steerLinks] // where steerc's datagrams may come from (steer.go)
	udpGSO    atomic.Bool
	// mtu is the ESP device's MTU: Config's until outbound SAs size it (sizeMTU).
	mtu atomic.Int32

	mu     sync.RWMutex
	sas    map[Key]*saState
	inSPI  map[uint32]*saState
	outReq map[uint32]*saState // newest outbound SA per reqid
	pols   atomic.Pointer[[]Policy]
	polMu  sync.Mutex // serialises SetPolicies (routes) and guards u.nl against closeAll
	routes map[string]netlink.Route
	// selRules are the per-policy ip rules (selrules.go), by ruleKey.
	selRules map[string]*netlink.Rule
	// bsRules are the full tunnels' backstop rules (fullbackstop.go), by ruleKey.
	bsRules map[string]*netlink.Rule
	// nRules are the none policies' exceptions (nonerules.go), by noneKey.
	nRules map[string]*netlink.Rule
	// holdErr is the last reason the hold route (hold6.go) could not be made, warned once.
	holdErr string
	// dropBase keeps what the nftables counters held before SetPolicies replaced the
	// table (in_require encrypt, in_require discard, outbound discard), so the statistics
	// never go back.
	dropBase [3]atomic.Uint64
	// tunDrop follows the ESP device's transmit drops (tunDrops; polMu).
	tunDrop struct {
		dev        *tunDev
		base, last uint64
	}

	acqMu   sync.Mutex
	acqLast map[uint32]time.Time

	st     statCounters
	perf   perfCounters
	events chan Event
	inq    chan *pbuf
	// udpIn gathers what one InputUDPBatch decrypted, for one TUN write.
	udpInMu sync.Mutex
	udpIn   *tunBatch
	done    chan struct{}
	closed  atomic.Bool
	wg      sync.WaitGroup

	addrs addrState // the address watch's (addrwatch.go)
	// reasm puts the host's own fragmented datagrams together for transport mode
	// (reasm.go); the out loop's alone.
	reasm reasm
	// follow gives a datagram's later fragments the policy of its first, while an
	// outbound policy selects ports (fragfollow.go); the out loop's alone.
	follow     fragFollow
	portPolicy atomic.Bool

	faults faults                       // recover.go
	hook   atomic.Pointer[func(string)] // tests: runs at points of packet handling
}

// perfCounters show how well batching works (system calls against packets).
type perfCounters struct {
	tunReads, tunReadPkts, tunWrites, tunWritePkts atomic.Uint64
	tunWakes                                       atomic.Uint64 // batches read (one send each)
	inlineSends                                    atomic.Uint64 // batches the out loop sent itself
	queuedIn                                       atomic.Uint64 // decrypted packets handed to tunWriter
	udpSends, udpSendPkts, rawSends, rawSendPkts   atomic.Uint64
	fragSends                                      atomic.Uint64
	reasmWhole                                     atomic.Uint64 // transport datagrams put together (reasm.go)
	steerPkts, steerDgrams                         atomic.Uint64 // ESP read from the steering socket, in datagrams
}

func (p *perfCounters) String() string {
	return fmt.Sprintf("tun read %d batches/%d calls/%d pkts, tun write %d calls/%d pkts, udp send %d calls/%d pkts, raw send %d calls/%d pkts, fragmented %d, reassembled %d",
		p.tunWakes.Load(), p.tunReads.Load(), p.tunReadPkts.Load(), p.tunWrites.Load(), p.tunWritePkts.Load(),
		p.udpSends.Load(), p.udpSendPkts.Load(), p.rawSends.Load(), p.rawSendPkts.Load(), p.fragSends.Load(),
		p.reasmWhole.Load())
}

// pbuf carries one decrypted inner packet to the TUN writer.
type pbuf struct {
	b []byte
	n int
}

// pbufSize is the pooled buffer's size: one ESP packet of a jumbo frame and more. A
// larger one, which only a transport SA's datagram above the wire's MTU makes (sent
// whole, fragmented on the wire: reasm.go), gets a buffer of its own (getPbuf).
const pbufSize = 16 << 10

var pbufPool = sync.Pool{New: func() any { return &pbuf{b: make([]byte, pbufSize)} }}

// getPbuf returns a buffer of at least n bytes: the pool's, or one of its own above
// pbufSize, which putPbuf leaves to the collector so that the pool keeps to its size.
func getPbuf(n int) *pbuf {
	if n > pbufSize {
		return &pbuf{b: make([]byte, n)}
	}
	return pbufPool.Get().(*pbuf)
}

func putPbuf(p *pbuf) {
	if len(p.b) == pbufSize {
		pbufPool.Put(p)
	}
}

// openUserspace creates the TUN device, the raw ESP sockets and the steering rule in the
// calling thread's network namespace.
func openUserspace(ctx context.Context, cfg Config) (_ Datapath, err error) {
	cfg = cfg.withDefaults()
	u := &userspace{
		cfg: cfg, udp4: cfg.UDP4500, udp6: cfg.UDP4500v6, bypass4: -1, bypass6: -1,
		sas: map[Key]*saState{}, inSPI: map[uint32]*saState{}, outReq: map[uint32]*saState{},
		routes: map[string]netlink.Route{}, acqLast: map[uint32]time.Time{},
		events: make(chan Event, 1024), inq: make(chan *pbuf, 1024), done: make(chan struct{}),
	}
	u.udpGSO.Store(true)
	u.mtu.Store(int32(min(cfg.MTU, maxTunMTU)))
	ok := false
	defer func() {
		if !ok {
			// What could not be undone stays in the kernel (a catch-all rule into a
			// device that is gone): the caller sees it with the reason Open failed.
			if cerr := u.closeAll(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("esp: netlink: %w", err)
	}
	u.nl = h
	// First: an Open that fails further on must leave an earlier run's backstops, and the
	// rules to them, where they are (closeAll keeps what it knows of).
	if err := u.adoptBackstops(); err != nil {
		return nil, err
	}
	if ns, err := netns.Get(); err == nil {
		u.nsFd = int(ns)
	}
	u.tunName = cfg.TunName
	d, err := u.makeTun()
	if err != nil {
		return nil, err
	}
	u.dev.Store(d)
	if err := u.openRaw(); err != nil {
		return nil, err
	}
	if cfg.RxSteer != nil && cfg.SteerRx {
		if err := u.openSteer(); err != nil {
			cfg.logger().Warn("esp: raw ESP stays on the raw socket", "err", err)
		}
	}
	for _, c := range []*net.UDPConn{u.udp4, u.udp6} {
		if c != nil {
			if err := setMark(c, cfg.BypassMark); err != nil {
				return nil, fmt.Errorf("esp: mark on 4500 socket: %w", err)
			}
			// A burst of ESP must not overflow the default 208 KiB before we drain it.
			if rc, err := c.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
				})
			}
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		// Not replaced: an earlier run's copy leads to its backstops, which stay
		// (closeAll), and a moment without it would let their packets through.
		if err := u.addRule(u.rule(fam)); err != nil {
			return nil, fmt.Errorf("esp: ip rule: %w", err)
		}
	}
	if err := u.addBypassRules(); err != nil {
		return nil, fmt.Errorf("esp: ip rule for IKE and ESP: %w", err)
	}
	if err := u.openSelectorRules(); err != nil {
		return nil, err
	}
	addrs, err := u.subscribeAddrs()
	if err != nil {
		return nil, fmt.Errorf("esp: address subscription: %w", err)
	}
	ok = true
	u.spawn("out", stOutErrors, u.outLoop)
	u.spawn("tun", stInErrors, u.tunWriter)
	u.spawn("raw4", stInErrors, u.raw4Loop)
	if u.steerc != nil {
		u.spawn("steer", stInErrors, u.steerLoop)
	}
	u.spawn("timer", stOutErrors, u.timerLoop)
	u.spawn("tunev", stOutErrors, u.tunEvents)
	u.spawn("addr", stOutErrors, func() { u.addrWatch(addrs) })
	if u.raw6 != nil {
		u.spawn("raw6", stInErrors, u.raw6Loop)
	}
	return u, nil
}

// tunEvents drains the TUN library's events (up, down, MTU change: one or two per
// RTM_NEWLINK of the device). The library sends them on a channel of 5 from its netlink
// and status listeners; undrained, the sixth blocks those goroutines for good, so they
// never see Close either. The path takes its MTU from Config and its state from the
// device itself, so the events carry nothing it needs. The library closes the channel
// once its listeners have ended (after Close), which ends this loop; when Repair made
// a new device (and closed the old one), the loop goes on with the new device's.
func (u *userspace) tunEvents() {
	for {
		d := u.dev.Load()
		for range d.tun.Events() {
		}
		if u.dev.Load() == d {
			return
		}
	}
}

// tunDev is one TUN device and its interface index.
type tunDev struct {
	tun tun.Device
	idx int
}

// makeTun creates the TUN device, up, in the calling thread's network namespace.
func (u *userspace) makeTun() (*tunDev, error) {
	t, err := tun.CreateTUN(u.tunName, int(u.mtu.Load()))
	if err != nil {
		return nil, fmt.Errorf("esp: tun %s: %w", u.tunName, err)
	}
	d := &tunDev{tun: t}
	fail := func(what string, err error) (*tunDev, error) {
		t.Close()
		return nil, fmt.Errorf("esp: tun %s%s: %w", u.tunName, what, err)
	}
	if name, err := t.Name(); err == nil && name != u.tunName {
		u.tunName = name // at Open only: Repair asks for the name it got then
	}
	link, err := u.nl.LinkByName(u.tunName)
	if err != nil {
		return fail("", err)
	}
	d.idx = link.Attrs().Index
	if err := u.nl.LinkSetUp(link); err != nil {
		return fail(" up", err)
	}
	// Decrypted packets arrive on the TUN from addresses routed elsewhere.
	_ = os.WriteFile("/proc/sys/net/ipv4/conf/"+u.tunName+"/rp_filter", []byte("0"), 0o644)
	return d, nil
}

func (u *userspace) rule(fam int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = fam
	r.Table = u.cfg.Table
	r.Priority = u.cfg.RulePriority
	r.Mark = u.cfg.BypassMark
	m := u.cfg.BypassMark
	r.Mask = &m
	r.Invert = true
	return r
}

func (u *userspace) openRaw() error {
	// Every socket that sends ESP carries the bypass mark: without it routerd's own ESP
	// packets would be routed into the ESP device again (the catch-all rule skips only
	// marked packets), so a socket that cannot be marked is an error, not a warning.
	// The buffer sizes are best effort (FORCE needs CAP_NET_ADMIN; the defaults work).
	mark := func(fd int, what string) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(u.cfg.BypassMark)); err != nil {
			unix.Close(fd)
			return fmt.Errorf("esp: %s socket: bypass mark: %w", what, err)
		}
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ESP)
	if err != nil {
		return fmt.Errorf("esp: raw ESP socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		unix.Close(fd)
		return fmt.Errorf("esp: raw ESP socket: IP_HDRINCL: %w", err)
	}
	if err := mark(fd, "raw ESP"); err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	f := os.NewFile(uintptr(fd), "esp4")
	u.raw4c, err = net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("esp: raw ESP socket: %w", err)
	}
	u.raw4 = ipv4.NewPacketConn(u.raw4c)

	// IPv6 may be off in the namespace: then there is no IPv6 ESP, not an error.
	if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ESP); err == nil {
		if err := mark(fd, "raw IPv6 ESP"); err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		f := os.NewFile(uintptr(fd), "esp6")
		c, err := net.FilePacketConn(f)
		f.Close()
		if err == nil {
			u.raw6c = c
			u.raw6 = ipv6.NewPacketConn(c)
			_ = u.raw6.SetControlMessage(ipv6.FlagDst, true)
		}
	}
	if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err == nil {
		if err := mark(fd, "raw bypass"); err != nil {
			return err
		}
		u.bypass4 = fd
	}
	// IPv6 IPPROTO_RAW sends the packet with its own header, as IP_HDRINCL does (the
	// kernel sets hdrincl for that protocol); no IPv6 in the namespace, no IPv6 bypass.
	if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err == nil {
		if err := mark(fd, "raw IPv6 bypass"); err != nil {
			return err
		}
		u.bypass6 = fd
	}
	if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ESP); err == nil {
		if err := mark(fd, "ESP fragmenting"); err != nil {
			return err
		}
		// A raw socket gets a copy of every ESP packet received: this one takes none.
		drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
		if unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}) == nil {
			u.frag4 = fd
		} else {
			unix.Close(fd)
		}
	}
	u.openICMP()
	return nil
}

// sendFrag4 sends an IPv4 ESP packet (outer header included) above its path's MTU: a
// tunnel's outer packet larger than the device's MTU (bpf/tunnel.c lets those through
// for the kernel to fragment once encrypted, as RFC 4303 has transport mode). The raw
// socket without IP_HDRINCL makes the kernel build the header (source, TOS and TTL as
// the given one has them) and fragment the packet to the path's MTU; with IP_HDRINCL
// it would refuse it (EMSGSIZE).
func (u *userspace) sendFrag4(p outPkt) error {
	if u.frag4 <= 0 || len(p.b) < 20 {
		return unix.EMSGSIZE
	}
	ihl := int(p.b[0]&0xf) * 4
	if ihl < 20 || ihl > len(p.b) {
		return unix.EINVAL
	}
	oob := append(pktinfo(p.ep.src), intCmsg(unix.IP_TOS, int32(p.b[1]))...)
	oob = append(oob, intCmsg(unix.IP_TTL, int32(p.b[8]))...)
	sa := &unix.SockaddrInet4{Addr: p.ep.dst.As4()}
	return unix.Sendmsg(u.frag4, p.b[ihl:], oob, sa, 0)
}

func intCmsg(typ int, v int32) []byte {
	b := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, int32(typ)
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], uint32(v))
	return b
}

func setMark(c syscall.Conn, mark uint32) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}); err != nil {
		return err
	}
	return serr
}

// SetBypassMark marks a socket (IKE's port 500 socket) so its packets skip the userspace
// path's steering table.
func SetBypassMark(c syscall.Conn, cfg Config) error { return setMark(c, cfg.BypassMark) }

func (u *userspace) Kind() Kind { return KindUserspace }

func (u *userspace) AddSA(ctx context.Context, sa SA) error {
	if u.closed.Load() {
		return ErrClosed
	}
	if sa.Dir != DirIn && sa.Dir != DirOut && sa.Dir != DirFwd {
		return fmt.Errorf("esp: SA direction %d: %w", sa.Dir, ErrNotSupported)
	}
	if sa.Mode == 0 {
		sa.Mode = ModeTunnel
	}
	if !sa.Src.IsValid() || !sa.Dst.IsValid() || sa.Src.Is4() != sa.Dst.Is4() {
		return fmt.Errorf("esp: SA 0x%08x: src and dst must be addresses of one family", sa.SPI)
	}
	if sa.Encap != nil && ((sa.Dst.Is4() && u.udp4 == nil) || (!sa.Dst.Is4() && u.udp6 == nil)) {
		return fmt.Errorf("esp: SA 0x%08x: UDP encapsulation without a 4500 socket: %w", sa.SPI, ErrNotSupported)
	}
	s, err := newSAState(sa)
	if err != nil {
		return err
	}
	u.mu.Lock()
	if _, ok := u.sas[s.k()]; ok {
		u.mu.Unlock()
		return fmt.Errorf("esp: SA 0x%08x to %s: %w", sa.SPI, sa.Dst, ErrExists)
	}
	u.sas[s.k()] = s
	if sa.Dir != DirOut {
		u.inSPI[sa.SPI] = s
		u.steerSA(s, true)
		u.mu.Unlock()
		return nil
	}
	u.outReq[sa.ReqID] = s
	u.mu.Unlock()
	u.sizeMTU()
	return nil
}

// maxTunMTU bounds the ESP device's MTU (a jumbo underlay's); the read buffers are sized
// for it.
const maxTunMTU = 9000

// sizeMTU sets the ESP device's MTU to what the smallest outbound SA carries without
// fragmenting its ESP packets: the MTU of its underlay (the route its ESP takes to the
// peer) less the outer header, the UDP encapsulation and the ESP overhead of its
// algorithms. Tunnel-mode traffic (TCP's MSS, PMTU discovery: the kernel answers a DF
// packet above it with frag-needed, as XFRM's tunnel mode does) and the tunnels' auto
// mtu so follow the real path, where a fixed 1400 fragmented every ESP packet on an
// underlay below about 1480 and wasted some 40 bytes a packet on Ethernet. It also
// records each SA's path MTU (saState.pmtu), by which the sender lets the kernel
// fragment larger ESP packets: the tunnels' outer packets, which pass the device whole
// whatever its MTU (bpf/tunnel.c route_out), as RouterOS fragments the ESP packet of a
// GRE tunnel's full-size packet. Never below IPv6's minimum (the kernel takes IPv6 off
// a device below 1280, and the steering routes with it): on a smaller path the ESP
// packets of the largest inner packets are fragmented. Without outbound SAs, or when
// the device refuses, the MTU stays. Called when an outbound SA comes, goes or moves
// and every few seconds (a changed underlay, a learnt PMTU). Takes u.mu itself: never
// call it with u.mu held.
func (u *userspace) sizeMTU() {
	u.polMu.Lock() // u.nl, beside SetPolicies
	defer u.polMu.Unlock()
	if u.closed.Load() || u.nl == nil {
		return
	}
	var outs []*saState
	u.mu.RLock()
	for _, s := range u.sas {
		if s.sa.Dir == DirOut && !s.dead.Load() {
			outs = append(outs, s)
		}
	}
	u.mu.RUnlock()
	mtu := 0
	// One lookup per path and per link, however many SAs (road warriors) share them.
	paths, links := map[[2]netip.Addr]int{}, map[int]int{}
	for _, s := range outs {
		ep := s.ep.Load()
		l, ok := paths[[2]netip.Addr{ep.src, ep.dst}]
		if !ok {
			l = u.underlayMTU(ep, links)
			paths[[2]netip.Addr{ep.src, ep.dst}] = l
		}
		s.pmtu.Store(int32(l))
		if l > 0 {
			if m := s.t.innerMTU(l, ep.dst.Is4(), ep.encap != nil); mtu == 0 || m < mtu {
				mtu = m
			}
		}
	}
	d := u.dev.Load()
	if mtu == 0 || d == nil {
		return
	}
	mtu = min(max(mtu, minTunMTU), maxTunMTU)
	if int32(mtu) == u.mtu.Load() {
		return
	}
	if link, err := u.nl.LinkByIndex(d.idx); err != nil || u.nl.LinkSetMTU(link, mtu) != nil {
		return
	}
	u.mtu.Store(int32(mtu))
}

// minTunMTU is IPv6's minimum link MTU (RFC 8200): the ESP device carries IPv6 too.
const minTunMTU = 1280

// underlayMTU is the MTU of the path ep's ESP packets take (the route to the peer with
// the bypass mark, as they are sent, and a PMTU learnt on it), or 0 when there is none.
// links memoizes the links' MTUs by index.
func (u *userspace) underlayMTU(ep *endpoint, links map[int]int) int {
	rs, err := u.nl.RouteGetWithOptions(ep.dst.AsSlice(), &netlink.RouteGetOptions{Mark: u.cfg.BypassMark, SrcAddr: ep.src.AsSlice()})
	if err != nil || len(rs) == 0 {
		return 0
	}
	mtu, ok := links[rs[0].LinkIndex]
	if !ok {
		l, err := u.nl.LinkByIndex(rs[0].LinkIndex)
		if err != nil {
			return 0
		}
		mtu = l.Attrs().MTU
		links[rs[0].LinkIndex] = mtu
	}
	if r := rs[0].MTU; r > 0 && r < mtu {
		mtu = r
	}
	return mtu
}

func (u *userspace) UpdateSA(ctx context.Context, sa SA) error {
	if err := u.updateSA(sa); err != nil {
		return err
	}
	if sa.Dir == DirOut {
		u.sizeMTU() // a float may take another path
	}
	return nil
}

func (u *userspace) updateSA(sa SA) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sas[Key{sa.SPI, sa.Dst}]
	if !ok {
		// A float changes the destination of an outbound SA: find it by SPI.
		for _, c := range u.sas {
			if c.sa.SPI == sa.SPI && c.sa.Dir == sa.Dir {
				s, ok = c, true
				break
			}
		}
	}
	if !ok {
		return fmt.Errorf("esp: SA 0x%08x: %w", sa.SPI, ErrNoSA)
	}
	s.ep.Store(&endpoint{src: sa.Src, dst: sa.Dst, encap: cloneEncap(sa.Encap), life: sa.Lifetime})
	return nil
}

// MoveSA moves an SA to new endpoints (a peer's NAT mapping changed): the same state,
// its sequence numbers, replay window and counters, under its new key.
func (u *userspace) MoveSA(ctx context.Context, old Key, sa SA) error {
	if err := u.moveSA(old, sa); err != nil {
		return err
	}
	if sa.Dir == DirOut {
		u.sizeMTU()
	}
	return nil
}

func (u *userspace) moveSA(old Key, sa SA) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sas[old]
	if !ok || s.sa.Dir != sa.Dir {
		return fmt.Errorf("esp: SA 0x%08x to %s: %w", old.SPI, old.Dst, ErrNoSA)
	}
	nk := Key{SPI: sa.SPI, Dst: sa.Dst}
	if nk != old {
		if _, taken := u.sas[nk]; taken {
			return fmt.Errorf("esp: SA 0x%08x to %s: %w", sa.SPI, sa.Dst, ErrExists)
		}
		u.steerSA(s, false)
		delete(u.sas, old)
		u.sas[nk] = s
		s.key.Store(&nk)
		u.steerSA(s, true)
	}
	s.ep.Store(&endpoint{src: sa.Src, dst: sa.Dst, encap: cloneEncap(sa.Encap), life: sa.Lifetime})
	return nil
}

func (u *userspace) DeleteSA(ctx context.Context, k Key) error {
	u.mu.Lock()
	s, ok := u.sas[k]
	if !ok {
		u.mu.Unlock()
		return fmt.Errorf("esp: SA 0x%08x to %s: %w", k.SPI, k.Dst, ErrNoSA)
	}
	u.removeLocked(s)
	u.mu.Unlock()
	if s.sa.Dir == DirOut {
		u.sizeMTU() // the smallest path may have gone
	}
	return nil
}

func (u *userspace) removeLocked(s *saState) {
	s.dead.Store(true)
	u.steerSA(s, false)
	delete(u.sas, s.k())
	if u.inSPI[s.sa.SPI] == s {
		delete(u.inSPI, s.sa.SPI)
	}
	if u.outReq[s.sa.ReqID] == s {
		delete(u.outReq, s.sa.ReqID)
		// Fall back to the newest other outbound SA of this reqid (rekey overlap).
		var best *saState
		for _, c := range u.sas {
			if c.sa.Dir == DirOut && c.sa.ReqID == s.sa.ReqID && !c.dead.Load() && (best == nil || c.added.After(best.added)) {
				best = c
			}
		}
		if best != nil {
			u.outReq[s.sa.ReqID] = best
		}
	}
}

func (u *userspace) FlushSAs(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sas {
		s.dead.Store(true)
		u.steerSA(s, false)
	}
	u.sas = map[Key]*saState{}
	u.inSPI = map[uint32]*saState{}
	u.outReq = map[uint32]*saState{}
	return nil
}

func (u *userspace) Counters(k Key) (SACounters, error) {
	u.mu.RLock()
	s, ok := u.sas[k]
	u.mu.RUnlock()
	if !ok {
		return SACounters{}, ErrNoSA
	}
	c := s.counters()
	c.ReceivePath = u.saReceivePath(s)
	return c, nil
}

func (u *userspace) Statistics() Statistics {
	st := u.st.snapshot()
	st.InTemplateMismatches += u.dropBase[0].Load() + u.requireDrops(false)
	st.InPolicyBlocked += u.dropBase[1].Load() + u.requireDrops(true)
	st.OutPolicyBlocked += u.dropBase[2].Load() + u.outDiscards()
	st.OutErrors += u.tunDrops()
	return st
}

// tunDrops is how many packets the ESP device dropped on transmit: packets routed into
// it (tunnel mode traffic, the tunnels' outer packets) that found its queue to routerd
// full, because the out loop did not read them in time. The kernel counts them in the
// device's TX dropped (ip -s link) and nowhere else; they are outbound errors that no
// other counter names, so Statistics adds them to out-errors. Counts never go back: a
// device made again by Repair starts from what the one before had shown.
func (u *userspace) tunDrops() uint64 {
	u.polMu.Lock() // u.nl, which closeAll closes under it
	defer u.polMu.Unlock()
	d := u.dev.Load()
	if d == nil || u.closed.Load() {
		return u.tunDrop.base + u.tunDrop.last
	}
	if d != u.tunDrop.dev {
		u.tunDrop.base += u.tunDrop.last
		u.tunDrop.dev, u.tunDrop.last = d, 0
	}
	if l, err := u.nl.LinkByIndex(d.idx); err == nil && l.Attrs().Statistics != nil {
		u.tunDrop.last = l.Attrs().Statistics.TxDropped
	}
	return u.tunDrop.base + u.tunDrop.last
}

func (u *userspace) Events() <-chan Event { return u.events }

func (u *userspace) emit(e Event) bool {
	select {
	case u.events <- e:
		return true
	default: // IKE is not reading; dropping beats stalling the data path
		return false
	}
}

// mappingChanged raises EventMapping once per new source of an authenticated ESP-in-UDP
// packet that is not the SA's peer endpoint: the peer's NAT mapping moved (RFC 7296
// 2.23, RFC 3948). IKE decides whether to follow (only a peer behind a NAT is).
func (u *userspace) mappingChanged(s *saState, ep *endpoint, src netip.Addr, sport uint16) {
	if ep.encap == nil || (src == ep.src && sport == ep.encap.SrcPort) {
		return
	}
	from := netip.AddrPortFrom(src, sport)
	if last := s.mapped.Load(); last != nil && *last == from {
		return
	}
	if u.emit(Event{Kind: EventMapping, SA: s.k(), ReqID: s.sa.ReqID, Dir: DirIn, From: from,
		OldFrom: netip.AddrPortFrom(ep.src, ep.encap.SrcPort)}) {
		s.mapped.Store(&from)
	}
}

// SetPolicies replaces the SPD and reconciles the steering routes: one route per outbound
// encrypt policy's dst-address through the TUN in cfg.Table.
func (u *userspace) SetPolicies(ctx context.Context, ps []Policy) error {
	cp := append([]Policy(nil), ps...) // the caller keeps its slice
	for i := range cp {
		p := &cp[i]
		if !p.Src.IsValid() || !p.Dst.IsValid() {
			return fmt.Errorf("esp: policy %d: src-address and dst-address must be prefixes", p.ID)
		}
		if p.Mode == 0 {
			p.Mode = ModeTunnel
		}
	}
	u.polMu.Lock()
	defer u.polMu.Unlock()
	u.pols.Store(&cp)
	u.portPolicy.Store(selectsPorts(cp))
	errs := u.syncRoutesAround(cp, func() error { return u.syncSelectorRules(cp) })
	if err := u.applyRequire(cp); err != nil {
		errs = errors.Join(errs, fmt.Errorf("esp: level=require rules: %w", err))
	}
	if errs == nil {
		u.noteAddrSync(nil) // in place: the address watch's warning no longer holds
	}
	return errs
}

// syncRoutes makes the steering routes those of the policies cp (polMu held): what
// differs from the routes installed is replaced, added or removed.
func (u *userspace) syncRoutes(cp []Policy) error { return u.syncRoutesAround(cp, nil) }

// syncRoutesAround is syncRoutes running between (the selector rules' sync) after the
// routes are added and before those no longer wanted are removed: a new selector rule
// finds its route in place, and an old one is gone before its route (a rule whose table
// has no route for the packet lets it fall through to the main table).
func (u *userspace) syncRoutesAround(cp []Policy, between func() error) error {
	tunIdx := u.dev.Load().idx
	want := map[string]netlink.Route{}
	owner := map[string]uint32{} // the policy each route is for (not keepLocal's)
	wantRules := map[string]*netlink.Rule{}
	var full4, full6 bool    // a full tunnel's backstop (fullbackstop.go) in that family
	var local []netip.Prefix // the host's addresses in full tunnels' sources (ownRules)
	for i, p := range cp {
		if p.Dir != DirOut {
			continue
		}
		dst := p.Dst.Masked()
		table := u.policyTable(&p)
		k := routeKey(table, dst)
		if fullTunnel(&p) {
			bt := u.cfg.BackstopTable()
			bk := routeKey(bt, dst)
			if _, dup := want[bk]; !dup {
				want[bk] = u.steeringRoute(&p, bt, tunIdx)
				owner[bk] = p.ID
				want[backstopKey(bk)] = backstop(dst, bt)
			}
			r := u.backstopRule(&p)
			wantRules[ruleKey(r)] = r
			if src, ok := u.localAddrIn(p.Src); ok {
				local = append(local, netip.PrefixFrom(src, src.BitLen()))
			}
			full4, full6 = full4 || dst.Addr().Is4(), full6 || dst.Addr().Is6()
		}
		if _, dup := want[k]; dup {
			continue
		}
		switch p.Action {
		case ActionDiscard:
			// Dropped by the out_discard chains (require.go), in the kernel.
			continue
		case ActionNone:
			// A throw route sends what the policy passes back to the main lookup instead
			// of into the device with an encrypt policy's wider route, to be sent on in
			// the clear from userspace. Only where the route is exact: any source, all
			// protocols and ports, and no earlier encrypt policy whose destination
			// covers this one (its packets would otherwise skip that policy).
			if !throwable(cp[:i], p) {
				continue
			}
			want[k] = netlink.Route{Dst: prefixNet(dst), Table: u.cfg.Table, Type: unix.RTN_THROW,
				Protocol: 4}
			continue
		}
		want[k] = u.steeringRoute(&p, table, tunIdx)
		owner[k] = p.ID
		if p.Level != LevelUse && dst.Bits() > 0 {
			want[backstopKey(k)] = backstop(dst, table)
		}
	}
	u.keepLocal(cp, want)
	u.mirrorThrows(want, full4, full6)
	hk := u.holdKey()
	if src := ownSrc(cp, local, false); full6 && src.IsValid() {
		if idx, err := u.holdLink(); err != nil {
			u.holdFailed(err)
		} else {
			want[hk] = u.holdRoute(src, idx)
		}
	}
	// Make before break: a changed route is replaced in place (same table, destination and
	// metric: RTM_NEWROUTE with NLM_F_REPLACE) and new ones go in before the routes no
	// longer wanted leave, so that no packet of a protected destination finds no route
	// here for a moment, falls through to the main table and leaves in the clear.
	var errs error
	for k, r := range want {
		if have, ok := u.routes[k]; ok && sameRoute(have, r) {
			continue
		}
		if err := u.nl.RouteReplace(&r); err != nil {
			if k == hk {
				u.holdFailed(err) // the hold takes all of the host's IPv6, as before
				continue
			}
			err = u.routeError(r, err)
			if id, ok := owner[k]; ok {
				err = &PolicyError{ID: id, Err: err}
			}
			errs = errors.Join(errs, err)
			continue
		}
		u.routes[k] = r
	}
	if between != nil {
		errs = errors.Join(errs, between())
	}
	// The skips only where the hold route is in place, and before it leaves (hold6.go).
	_, hold := want[hk]
	if hold {
		have, ok := u.routes[hk]
		hold = ok && sameRoute(have, want[hk])
		if hold {
			u.holdErr = ""
		}
	}
	maps.Copy(wantRules, u.ownRules(cp, local, hold))
	if u.bsRules == nil {
		u.bsRules = map[string]*netlink.Rule{}
	}
	errs = errors.Join(errs, u.syncRules(u.bsRules, wantRules))
	if u.nRules == nil {
		u.nRules = map[string]*netlink.Rule{}
	}
	errs = errors.Join(errs, u.syncRules(u.nRules, noneRules(cp)))
	for k, r := range u.routes {
		if _, ok := want[k]; !ok {
			if err := u.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = errors.Join(errs, err)
			}
			delete(u.routes, k)
		}
	}
	if _, ok := want[hk]; !ok {
		errs = errors.Join(errs, u.delHoldLink())
	}
	return errs
}

// steeringRoute is p's route through the TUN device (tunIdx) in table.
func (u *userspace) steeringRoute(p *Policy, table, tunIdx int) netlink.Route {
	r := netlink.Route{
		LinkIndex: tunIdx, Dst: prefixNet(p.Dst.Masked()), Table: table,
		Scope: netlink.SCOPE_LINK, Protocol: 4, // RTPROT_STATIC
	}
	if src, ok := u.localAddrIn(p.Src); ok {
		r.Src = src.AsSlice()
	}
	return r
}

// backstopMetric is the metric of the backstop routes: the least preferred, so that the
// steering route through the device, at the default metric, is the one taken.
const backstopMetric = 0xffffffff

// backstop is the blackhole route kept beneath a protected destination's steering route
// (the destination of an encrypt policy of level require or unique) in its table. While
// the steering route is missing (the device was deleted and not yet made again, the
// kernel refused the route), the packets are dropped, as XFRM drops a protected packet
// without an SA, instead of falling through to the main table and leaving in the clear.
// A level=use policy's packets may go in the clear and get none. A default route (a full
// tunnel's 0.0.0.0/0) has its backstop in a table of its own, reached by the policy's
// source (fullbackstop.go).
func backstop(dst netip.Prefix, table int) netlink.Route {
	return netlink.Route{Dst: prefixNet(dst), Table: table, Type: unix.RTN_BLACKHOLE, Priority: backstopMetric,
		Protocol: 4}
}

func backstopKey(k string) string { return k + " backstop" }

func isBackstopKey(k string) bool { return strings.HasSuffix(k, " backstop") }

// adoptBackstops takes the backstop routes an earlier run left in the tables as this
// run's (Open), so that the protected destinations stay covered until the first
// policies come, and those no longer wanted then go with the first syncRoutes.
func (u *userspace) adoptBackstops() error {
	bt := u.cfg.BackstopTable()
	for _, table := range []int{u.cfg.Table, u.cfg.SelectorTable(), bt} {
		rs, err := nldump.Retry(func() ([]netlink.Route, error) {
			return u.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: table},
				netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return fmt.Errorf("esp: routes of table %d: %w", table, err)
		}
		for _, r := range rs {
			if r.Dst == nil {
				continue
			}
			p, ok := netPrefix(r.Dst)
			if !ok {
				continue
			}
			switch {
			case r.Type == unix.RTN_BLACKHOLE && r.Priority == backstopMetric:
				u.routes[backstopKey(routeKey(table, p))] = backstop(p, table)
			case table == bt && isHoldRoute(&r):
				u.routes[u.holdKey()] = r
			case r.Type == unix.RTN_THROW && table == bt:
				// A full tunnel's throws, kept with its backstop (closeAll).
				u.routes[routeKey(table, p)] = netlink.Route{Dst: prefixNet(p), Table: table, Type: unix.RTN_THROW,
					Protocol: 4}
			}
		}
	}
	return nil
}

// routeError says in an operator's words which steering route the kernel refused, and
// why when it is known: a source address still tentative (duplicate address detection
// not finished) or whose detection failed (another host has it; it never becomes usable
// by itself) is refused EINVAL.
func (u *userspace) routeError(r netlink.Route, err error) error {
	what := fmt.Sprintf("route to %s through %s (table %d", r.Dst, u.tunName, r.Table)
	if r.Src != nil {
		what += fmt.Sprintf(", source %s", r.Src)
	}
	what += ")"
	if r.Src != nil {
		addrs, lerr := nldump.Retry(func() ([]netlink.Addr, error) { return u.nl.AddrList(nil, netlink.FAMILY_ALL) })
		for _, a := range addrs {
			if lerr != nil || !a.IP.Equal(r.Src) {
				continue
			}
			// The kernel keeps IFA_F_TENTATIVE set beside IFA_F_DADFAILED: test the failure first.
			if a.Flags&unix.IFA_F_DADFAILED != 0 {
				return fmt.Errorf("esp: %s: source address %s failed duplicate address detection (another host on the link has it): %w", what, r.Src, err)
			}
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				return fmt.Errorf("esp: %s: source address %s is not usable yet (tentative): %w", what, r.Src, err)
			}
		}
	}
	return fmt.Errorf("esp: %s: %w", what, err)
}

func sameRoute(a, b netlink.Route) bool {
	return a.Dst.String() == b.Dst.String() && net.IP(a.Src).Equal(b.Src) && a.Type == b.Type && a.Table == b.Table &&
		a.LinkIndex == b.LinkIndex
}

// throwable says whether a none policy p, after the policies before, may be a throw
// route: its selectors are its destination alone, and no earlier outbound encrypt
// policy covers that destination (a longer-prefix throw would take that policy's
// packets from it). Earlier discard policies are enforced by nftables in order anyway.
func throwable(before []Policy, p Policy) bool {
	if p.Protocol != 0 || p.SrcPort != 0 || p.DstPort != 0 || p.Src.Bits() != 0 {
		return false
	}
	for _, q := range before {
		if q.Dir == DirOut && q.Action == ActionEncrypt && q.Dst.Addr().Is4() == p.Dst.Addr().Is4() &&
			q.Dst.Bits() <= p.Dst.Bits() && q.Dst.Masked().Contains(p.Dst.Addr()) {
			return false
		}
	}
	return true
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// localAddrIn finds an address of this host inside p, to be the source of routed traffic.
// Loopback addresses never are: a packet from 127.0.0.1 cannot leave the host, so a
// 0.0.0.0/0 policy's route with src 127.0.0.1 would send the router's own traffic into
// the tunnel with a source no peer answers.
func (u *userspace) localAddrIn(p netip.Prefix) (netip.Addr, bool) {
	addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return u.nl.AddrList(nil, ipFamily(p.Addr().Is4())) })
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && p.Contains(ip.Unmap()) && !ip.Unmap().IsLoopback() {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// keepLocal adds throw routes to want so that an encrypt policy's wide route (a full
// tunnel's 0.0.0.0/0) does not capture the networks this host is directly connected to,
// nor the IKE peer's own address: those go back to the main lookup, as with XFRM,
// where connected routes win and only packets matching the policy's selectors (here:
// from the mode config address) are tunnelled. An exact encrypt route (a transport
// policy to the peer itself) is left alone. The networks are those of the addresses at
// the time: addrWatch syncs again when they change.
func (u *userspace) keepLocal(ps []Policy, want map[string]netlink.Route) {
	type route struct {
		dst   netip.Prefix
		table int
	}
	var wide []route
	for i := range ps {
		if p := &ps[i]; p.Dir == DirOut && p.Action == ActionEncrypt {
			wide = append(wide, route{p.Dst.Masked(), u.policyTable(p)})
		}
	}
	if len(wide) == 0 {
		return
	}
	throw := func(c netip.Prefix) {
		c = c.Masked()
		for _, w := range wide {
			k := routeKey(w.table, c)
			if _, ok := want[k]; ok {
				continue
			}
			if w.dst.Addr().Is4() == c.Addr().Is4() && w.dst.Bits() < c.Bits() && w.dst.Contains(c.Addr()) {
				want[k] = netlink.Route{Dst: prefixNet(c), Table: w.table, Type: unix.RTN_THROW, Protocol: 4}
			}
		}
	}
	for _, p := range ps {
		if p.Dir == DirOut && p.Action == ActionEncrypt && p.Mode == ModeTunnel && p.TunnelDst.IsValid() {
			throw(netip.PrefixFrom(p.TunnelDst.Unmap(), p.TunnelDst.Unmap().BitLen()))
		}
	}
	addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return u.nl.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return
	}
	for _, a := range addrs {
		if a.LinkIndex == u.dev.Load().idx || a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		throw(netip.PrefixFrom(ip.Unmap(), ones))
		// A point-to-point address's connected route is its peer's prefix.
		if a.Peer != nil {
			if p, ok := netPrefix(a.Peer); ok {
				throw(p)
			}
		}
	}
}

// lookup returns the first policy of direction dir matching s (RouterOS order).
func (u *userspace) lookup(s *selector, out bool) *Policy {
	pp := u.pols.Load()
	if pp == nil {
		return nil
	}
	ps := *pp
	for i := range ps {
		p := &ps[i]
		if (p.Dir == DirOut) != out {
			continue
		}
		if p.matches(s) {
			return p
		}
	}
	return nil
}

func (u *userspace) outSA(p *Policy) *saState {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if p.SPI != 0 {
		for _, s := range u.sas {
			if s.sa.SPI == p.SPI && s.sa.Dir == DirOut && !s.dead.Load() {
				return s
			}
		}
		return nil
	}
	s := u.outReq[p.ReqID]
	if s == nil || s.dead.Load() {
		return nil
	}
	return s
}

func (u *userspace) acquire(p *Policy, s *selector) {
	now := time.Now()
	u.acqMu.Lock()
	last, seen := u.acqLast[p.ID]
	if seen && now.Sub(last) < time.Second {
		u.acqMu.Unlock()
		return
	}
	u.acqLast[p.ID] = now
	u.acqMu.Unlock()
	u.emit(Event{Kind: EventAcquire, ReqID: p.ReqID, Dir: DirOut, PolicyID: p.ID,
		Src: s.src, Dst: s.dst, Protocol: s.proto, SrcPort: s.srcPort, DstPort: s.dstPort})
}

// account adds a packet to an SA's counters and fires byte lifetimes.
func (u *userspace) account(s *saState, n int) {
	b := s.bytes.Add(uint64(n))
	s.packets.Add(1)
	life := s.ep.Load().life
	if life.SoftBytes != 0 && b >= life.SoftBytes && !s.softFired.Swap(true) {
		u.emit(Event{Kind: EventSoftExpire, SA: s.k(), ReqID: s.sa.ReqID, Dir: s.sa.Dir, ByBytes: true})
	}
	if life.HardBytes != 0 && b >= life.HardBytes && !s.dead.Load() {
		s.hardByBytes.Store(true)
		s.dead.Store(true) // the timer loop removes it and reports
	}
}

// timerLoop fires time lifetimes and removes dead SAs.
func (u *userspace) timerLoop() {
	tk := time.NewTicker(250 * time.Millisecond)
	defer tk.Stop()
	for i := 1; ; i++ {
		select {
		case <-u.done:
			return
		case now := <-tk.C:
			u.expire(now)
			if i%mtuEvery == 0 {
				u.sizeMTU() // an underlay whose MTU changed, a PMTU learnt on the path
				u.checkSteer()
			}
		}
	}
}

// mtuEvery: the timer loop sizes the device's MTU every 2 s (in its 250 ms ticks).
const mtuEvery = 8

func (u *userspace) expire(now time.Time) {
	defer u.recovered("timer", stOutErrors)
	for _, e := range u.expireLocked(now) {
		u.emit(e)
	}
}

// expireLocked removes the SAs whose lifetime ended and returns the events to send.
func (u *userspace) expireLocked(now time.Time) []Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.inject("timer")
	var evs []Event
	for _, s := range u.sas {
		life := s.ep.Load().life
		age := now.Sub(s.added)
		if life.SoftTime != 0 && age >= life.SoftTime && !s.softFired.Swap(true) {
			evs = append(evs, Event{Kind: EventSoftExpire, SA: s.k(), ReqID: s.sa.ReqID, Dir: s.sa.Dir})
		}
		if (life.HardTime != 0 && age >= life.HardTime) || s.dead.Load() {
			evs = append(evs, Event{Kind: EventHardExpire, SA: s.k(), ReqID: s.sa.ReqID, Dir: s.sa.Dir, ByBytes: s.hardByBytes.Load()})
			u.removeLocked(s)
		}
	}
	return evs
}

// --- outbound -------------------------------------------------------------------------

type outPkt struct {
	s   *saState
	ep  *endpoint
	b   []byte // UDP: the ESP bytes; raw v4: outer IPv4 header + ESP; raw v6: ESP
	udp bool
}

// outBatch is one batch of the out loop: the packets read from the TUN (bufs, sizes)
// and, once encrypted in place, the ESP packets to send (pkts, pointing into bufs).
type outBatch struct {
	bufs  [][]byte
	sizes []int
	n     int
	pkts  []outPkt
}

func newOutBatch(bs int) *outBatch {
	b := &outBatch{bufs: make([][]byte, bs), sizes: make([]int, bs), pkts: make([]outPkt, 0, bs)}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, headroom+maxTunMTU+256)
	}
	return b
}

// outDepth is how many batches the out loop has: one being read and encrypted, one
// being sent, one spare so that neither waits on the other's hand-over.
const outDepth = 3

// outLoop reads the TUN in batches and encrypts them; a send stage of its own (the
// sendLoop goroutine it starts and joins) sends them, so that on a machine with two
// cores the reads (one system call per packet: the TUN has no batched read) and the
// sends (the kernel's work for every ESP packet) run at once, in order. A batch of at
// most smallOutBatch packets that finds the stage idle is sent by the loop itself
// (Config.outStaged, ROUTERD_ESP_TUNREAD=staged: every batch to the stage, the path
// before). With Config.outInline (ROUTERD_ESP_TUNREAD=unbatched or inline) the loop
// sends each batch itself, as before the stage.
func (u *userspace) outLoop() {
	d := u.dev.Load()
	bs := d.tun.BatchSize()
	if bs < 1 {
		bs = 1
	}
	depth := outDepth
	if u.cfg.outInline {
		depth = 1
	}
	free := make(chan *outBatch, depth)
	for range depth {
		free <- newOutBatch(bs)
	}
	sender := newOutSender(u)
	var full chan *outBatch
	var queued atomic.Int32 // batches handed to the stage and not yet sent
	if !u.cfg.outInline {
		full = make(chan *outBatch, depth)
		sent := make(chan struct{})
		go u.sendLoop(sender, full, free, sent, &queued)
		defer func() {
			close(full)
			<-sent
		}()
	}
	pause := time.Millisecond
	rd := newTUNReader(d.tun, u.cfg.TUNReadsPerWake)
	for {
		var ob *outBatch
		select {
		case ob = <-free:
		case <-u.done:
			return
		}
		n, skipped, err := rd.read(d.tun, ob.bufs, ob.sizes, headroom)
		for range skipped {
			u.st.inc(stOutErrors) // those packets alone
		}
		if err != nil || n == 0 {
			free <- ob
		}
		if err != nil {
			if u.closed.Load() {
				return
			}
			if now := u.dev.Load(); now != d {
				// Repair made the device again (and closed this one).
				d, pause = now, time.Millisecond
				rd = newTUNReader(d.tun, u.cfg.TUNReadsPerWake)
				continue
			}
			if errors.Is(err, os.ErrClosed) {
				// Neither Close nor Repair: the device was deleted behind routerd's
				// back (the library reads the kernel's EBADFD as closed). Ask the owner
				// to make it again (EventDevice) and wait for Repair.
				u.markGone(d)
				select {
				case <-u.done:
					return
				case <-time.After(pause):
				}
				pause = min(2*pause, 100*time.Millisecond)
				continue
			}
			u.st.inc(stOutErrors)
			if errors.Is(err, tun.ErrTooManySegments) || errors.Is(err, errVirtio) {
				continue // that packet alone
			}
			time.Sleep(pause)
			pause = min(2*pause, 100*time.Millisecond)
			continue
		}
		pause = time.Millisecond
		if n == 0 {
			continue
		}
		u.perf.tunReads.Add(uint64(rd.reads))
		u.perf.tunReadPkts.Add(uint64(n))
		u.perf.tunWakes.Add(1)
		ob.n = n
		ok := u.encapBatch(ob)
		switch {
		case !ok:
			free <- ob
		case full == nil || (!u.cfg.outStaged && len(ob.pkts) <= smallOutBatch && queued.Load() == 0):
			// Nothing in the stage's hands, so order holds.
			u.perf.inlineSends.Add(1)
			u.sendBatch(sender, ob)
			free <- ob
		default:
			queued.Add(1)
			full <- ob
		}
	}
}

// smallOutBatch is the most ESP packets of a batch that the out loop sends itself when
// the send stage is idle. Traffic that does not aggregate (UDP of fixed size, VoIP,
// DNS) and does not fill the link comes one or a few packets a wakeup; handing each
// such batch over woke the stage's goroutine, often a thread on the other CPU, and put
// it to sleep again: per 1400-byte UDP datagram at 100 Mbit/s (two packets) rA made
// 3.2-3.6 system calls and 1.3 context switches against 2.0-3.0 and 0.5-1.0 sent inline,
// and the CPU time a datagram fell in 10 of 12 rates and lengths (test/ipsec
// BenchmarkForwardedUDPVsCharon, docs/perf.md). The time the loop spends sending also
// lets the next batch grow, and a batch larger than this goes to the stage, so a
// saturated link keeps both CPUs.
const smallOutBatch = 8

// sendLoop sends the batches outLoop encrypted, in order, and hands each back to it; it
// ends when full is closed and says so by closing sent. queued counts the batches
// handed to it and not yet sent.
func (u *userspace) sendLoop(sender *outSender, full <-chan *outBatch, free chan<- *outBatch, sent chan<- struct{}, queued *atomic.Int32) {
	defer close(sent)
	for ob := range full {
		u.sendBatch(sender, ob)
		queued.Add(-1)
		free <- ob
	}
}

// encapBatch encrypts a batch read from the TUN into ob.pkts (recover.go: a panic costs
// the batch, and then it returns false).
func (u *userspace) encapBatch(ob *outBatch) (ok bool) {
	defer u.recovered("out", stOutErrors)
	ob.pkts = ob.pkts[:0]
	for i := range ob.n {
		if p, ok := u.encapOne(ob.bufs[i][:headroom+ob.sizes[i]]); ok {
			ob.pkts = append(ob.pkts, p)
		}
	}
	return true
}

// sendBatch sends ob's ESP packets (a panic costs the batch).
func (u *userspace) sendBatch(sender *outSender, ob *outBatch) {
	defer u.recovered("out", stOutErrors)
	sender.send(ob.pkts)
}

// encapOne encrypts the inner packet at buf[headroom:] in place.
func (u *userspace) encapOne(buf []byte) (outPkt, bool) {
	pkt := buf[headroom:]
	u.inject("out")
	sel, err := parseInner(pkt)
	if err != nil {
		u.st.inc(stOutErrors)
		return outPkt{}, false
	}
	if len(u.reasm.m) > 0 {
		// A datagram whose first fragment went to transport mode: the others follow it
		// whatever their own lookup (they carry no ports) would say.
		if f, ok := parseFragment(pkt); ok && u.reasm.pending(f.key) {
			return u.reassemble(&f)
		}
	}
	p := u.lookup(&sel, true)
	if u.portPolicy.Load() {
		if f, ok := parseFragment(pkt); ok {
			now := time.Now()
			if f.off == 0 {
				u.follow.first(f.key, p, now)
			} else if p, ok = u.follow.later(f.key, now); !ok {
				u.st.inc(stOutPolicyBlocked)
				return outPkt{}, false
			}
		}
	}
	if p == nil || p.Action == ActionNone {
		u.bypass(pkt, sel.dst)
		return outPkt{}, false
	}
	if p.Action == ActionDiscard {
		u.st.inc(stOutPolicyBlocked)
		return outPkt{}, false
	}
	s := u.outSA(p)
	if s == nil {
		u.acquire(p, &sel)
		if p.Level == LevelUse {
			u.bypass(pkt, sel.dst) // level=use: in the clear until an SA exists
			return outPkt{}, false
		}
		u.st.inc(stOutNoStates)
		return outPkt{}, false
	}
	ep := s.ep.Load()
	if sel.src.Is4() != ep.dst.Is4() && s.sa.Mode == ModeTransport {
		u.st.inc(stOutStateModeErrors)
		return outPkt{}, false
	}
	if s.sa.Mode == ModeTransport && sel.src == ep.src && sel.dst == ep.dst {
		if f, ok := parseFragment(pkt); ok {
			return u.reassemble(&f)
		}
	}
	seq := s.seq.Add(1)
	if (!s.sa.ESN && seq > 0xffffffff) || seq == 0 {
		u.st.inc(stOutStateSequenceErrors) // RFC 4303 3.3.3: never cycle; IKE must rekey
		s.seq.Add(^uint64(0))
		return outPkt{}, false
	}
	if !s.sa.ESN && seq == seqSoftLimit && !s.softFired.Swap(true) {
		// Rekey well before the 32-bit counter runs out, whatever the lifetimes say.
		u.emit(Event{Kind: EventSoftExpire, SA: s.k(), ReqID: s.sa.ReqID, Dir: DirOut})
	}
	t := s.t
	var payload []byte
	var nh byte
	var hdr [60]byte
	hlen := 0
	if s.sa.Mode == ModeTransport {
		if sel.src != ep.src || sel.dst != ep.dst || (sel.src.Is6() && sel.hdrLen != 40) {
			u.st.inc(stOutStateModeErrors)
			return outPkt{}, false
		}
		hlen = copy(hdr[:], pkt[:sel.hdrLen])
		payload, nh = pkt[sel.hdrLen:], sel.proto
	} else {
		payload, nh = pkt, 4
		if sel.src.Is6() {
			nh = 41
		}
	}
	espOff := headroom + hlen - 8 - t.ivLen
	need := t.sealedLen(len(payload))
	outer := 0 // what the outer IP length field counts besides the ESP packet
	if ep.encap != nil {
		outer += 8
	}
	if ep.dst.Is4() {
		outer += 20
	}
	if espOff+need > cap(buf) || outer+need > 0xffff {
		// The latter: a reassembled datagram near 64 KiB, whose ESP packet no IP
		// header can say the length of.
		u.st.inc(stOutErrors)
		return outPkt{}, false
	}
	esp := buf[espOff : espOff+need]
	t.seal(esp, s.sa.SPI, seq, s.sa.ESN, payload, nh)
	u.account(s, len(payload))
	tos, ttl := byte(0), byte(64)
	if sel.src.Is4() {
		tos = hdr[1]
		if hlen == 0 {
			tos = pkt[1]
		} else {
			ttl = hdr[8]
		}
	}
	if ep.encap != nil {
		return outPkt{s: s, ep: ep, b: esp, udp: true}, true
	}
	if ep.dst.Is4() {
		ip := buf[espOff-20 : espOff+need]
		putIPv4(ip, tos, ttl, 50, ep.src, ep.dst)
		return outPkt{s: s, ep: ep, b: ip}, true
	}
	return outPkt{s: s, ep: ep, b: esp}, true
}

// reassemble hands a fragment of a transport-mode datagram to the out loop's reassembly
// (reasm.go) and encrypts the datagram when it is whole.
func (u *userspace) reassemble(f *fragment) (outPkt, bool) {
	buf, res, expired := u.reasm.add(f, time.Now())
	for range expired {
		u.st.inc(stOutErrors)
	}
	switch res {
	case reasmWhole:
		u.perf.reasmWhole.Add(1)
		return u.encapOne(buf)
	case reasmBad:
		u.st.inc(stOutStateModeErrors)
	case reasmNoSpace:
		u.st.inc(stOutErrors)
	}
	return outPkt{}, false
}

func putIPv4(ip []byte, tos, ttl, proto byte, src, dst netip.Addr) {
	ip[0], ip[1] = 0x45, tos
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint32(ip[4:], 0) // id and flags: the kernel picks the id
	ip[8], ip[9] = ttl, proto
	ip[10], ip[11] = 0, 0
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
}

func ipChecksum(b []byte) uint16 { return ^fold(csumAdd(0, b)) }

// bypass sends a packet that the steering routes brought into the TUN but no encrypt
// policy wants (RouterOS sends such packets in the clear).
func (u *userspace) bypass(pkt []byte, dst netip.Addr) {
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() {
		return // the TUN's own neighbour discovery and MLD: nothing to carry
	}
	var fd int
	var sa unix.Sockaddr
	if dst.Is4() {
		fd, sa = u.bypass4, &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		fd, sa = u.bypass6, &unix.SockaddrInet6{Addr: dst.As16()}
	}
	if fd < 0 {
		u.st.inc(stOutPolicyErrors)
		return
	}
	if err := unix.Sendto(fd, pkt, unix.MSG_DONTWAIT, sa); err != nil {
		// Larger than the link it leaves by: fragmented or answered as the kernel's
		// forwarding would (toobig.go).
		if errors.Is(err, unix.EMSGSIZE) && u.tooBig(fd, pkt, dst) {
			return
		}
		u.st.inc(stOutErrors)
	}
}

// outSender batches outer packets: UDP GSO (one sendmsg per run of equal-size datagrams
// to one peer) for ESP-in-UDP, sendmmsg for raw ESP.
type outSender struct {
	u     *userspace
	gso   []byte
	msgs4 []ipv4.Message
	raw4  []outPkt // msgs4's packets
}

func newOutSender(u *userspace) *outSender {
	return &outSender{u: u, gso: make([]byte, 0, 65535), msgs4: make([]ipv4.Message, 0, maxBatch),
		raw4: make([]outPkt, 0, maxBatch)}
}

// wireLen is p's length on the wire, outer IP header included.
func (p *outPkt) wireLen() int {
	n := len(p.b) // raw IPv4: the outer header is in b
	if p.udp {
		n += 8
	}
	if !p.ep.dst.Is4() {
		n += 40
	} else if p.udp {
		n += 20
	}
	return n
}

// whole says whether p fits its path's MTU as one packet; false while the path's MTU is
// not known.
func (p *outPkt) whole() bool {
	m := p.s.pmtu.Load()
	return m > 0 && p.wireLen() <= int(m)
}

// send sends a batch of ESP packets in order. One above its path's MTU (a tunnel's outer
// packet larger than the device's MTU: bpf/tunnel.c passes those whole) is handed to the
// kernel to fragment: raw IPv4 through sendFrag4 (IP_HDRINCL refuses it), ESP-in-UDP
// alone (UDP GSO refuses segments above the path's MTU); raw IPv6 is fragmented by the
// kernel anyway.
func (o *outSender) send(batch []outPkt) {
	u := o.u
	for i := 0; i < len(batch); {
		p := batch[i]
		if !p.udp {
			switch {
			case !p.ep.dst.Is4():
				o.flush4()
				u.sendRaw6(p)
			case p.s.pmtu.Load() > 0 && !p.whole():
				o.flush4()
				o.frag4(p)
			default:
				o.msgs4 = append(o.msgs4, ipv4.Message{Buffers: [][]byte{p.b}, Addr: &net.IPAddr{IP: p.ep.dst.AsSlice()}})
				o.raw4 = append(o.raw4, p)
			}
			i++
			continue
		}
		o.flush4()
		// A run of datagrams to the same peer: all but the last must be the same size.
		j := i + 1
		size := len(p.b)
		total := size
		if u.udpGSO.Load() && p.whole() {
			for j < len(batch) && j-i < 64 {
				q := batch[j]
				if !q.udp || q.ep.dst != p.ep.dst || q.ep.src != p.ep.src || *q.ep.encap != *p.ep.encap ||
					len(q.b) > size || total+len(q.b) > 65000 {
					break
				}
				total += len(q.b)
				j++
				if len(q.b) < size {
					break
				}
			}
		}
		u.sendUDP(batch[i:j], &o.gso, size)
		i = j
	}
	o.flush4()
}

// flush4 sends the raw IPv4 ESP packets gathered (sendmmsg). One the kernel finds too
// big (the path's MTU fell since sizeMTU looked, or it was not known) goes to sendFrag4.
func (o *outSender) flush4() {
	u := o.u
	for len(o.msgs4) > 0 {
		n, err := u.raw4.WriteBatch(o.msgs4, 0)
		u.perf.rawSends.Add(1)
		u.perf.rawSendPkts.Add(uint64(max(n, 0)))
		if err != nil {
			// sendmmsg fails only on its first message.
			if errors.Is(err, unix.EMSGSIZE) {
				o.frag4(o.raw4[0])
			} else {
				u.st.inc(stOutErrors)
			}
			n = 1
		}
		o.msgs4, o.raw4 = o.msgs4[n:], o.raw4[n:]
	}
	o.msgs4, o.raw4 = o.msgs4[:0], o.raw4[:0]
}

// frag4 sends one raw IPv4 ESP packet for the kernel to fragment.
func (o *outSender) frag4(p outPkt) {
	o.u.perf.fragSends.Add(1)
	if err := o.u.sendFrag4(p); err != nil {
		o.u.st.inc(stOutErrors)
	}
}

func (u *userspace) sendUDP(run []outPkt, gso *[]byte, size int) {
	ep := run[0].ep
	c := u.udp4
	if !ep.dst.Is4() {
		c = u.udp6
	}
	dst := netip.AddrPortFrom(ep.dst, ep.encap.DstPort)
	oob := pktinfo(ep.src)
	u.perf.udpSends.Add(1)
	u.perf.udpSendPkts.Add(uint64(len(run)))
	if len(run) == 1 {
		if _, _, err := c.WriteMsgUDPAddrPort(run[0].b, oob, dst); err != nil {
			u.st.inc(stOutErrors)
		}
		return
	}
	b := (*gso)[:0]
	for _, p := range run {
		b = append(b, p.b...)
	}
	*gso = b
	oob = append(oob, udpSegment(size)...)
	if _, _, err := c.WriteMsgUDPAddrPort(b, oob, dst); err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) {
			u.udpGSO.Store(false) // no UDP GSO here: one datagram per call from now on
			for _, p := range run {
				if _, _, err := c.WriteMsgUDPAddrPort(p.b, pktinfo(ep.src), dst); err != nil {
					u.st.inc(stOutErrors)
				}
			}
			return
		}
		u.st.inc(stOutErrors)
	}
}

func pktinfo(src netip.Addr) []byte {
	if !src.IsValid() {
		return nil
	}
	if src.Is4() {
		return (&ipv4.ControlMessage{Src: src.AsSlice()}).Marshal()
	}
	return (&ipv6.ControlMessage{Src: src.AsSlice()}).Marshal()
}

func udpSegment(size int) []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

func (u *userspace) sendRaw6(p outPkt) {
	if u.raw6 == nil {
		u.st.inc(stOutErrors)
		return
	}
	cm := &ipv6.ControlMessage{Src: p.ep.src.AsSlice()}
	if _, err := u.raw6.WriteTo(p.b, cm, &net.IPAddr{IP: p.ep.dst.AsSlice()}); err != nil {
		u.st.inc(stOutErrors)
	}
}

// --- inbound --------------------------------------------------------------------------

// raw4Loop reads raw IPv4 ESP in batches (recvmmsg), decrypts them and writes what they
// carry into the TUN itself, one write a batch (steerLoop too), which the TUN library
// coalesces: handing each packet to tunWriter cost a wakeup of another goroutine (often
// another thread, a cross-CPU wakeup) per batch or per packet, and a second copy.
func (u *userspace) raw4Loop() {
	u.readDecapLoop(u.raw4, 64, 0, u.decapRaw4)
}

// readDecapLoop is an inbound reader's loop: n messages of 64 KB (oob bytes of control
// data each, for GRO's segment size), read in batches until the path closes, decap
// decrypts a batch into the reader's own tunBatch, which is then written.
func (u *userspace) readDecapLoop(pc *ipv4.PacketConn, n, oob int, decap func([]ipv4.Message, *tunBatch)) {
	msgs := make([]ipv4.Message, n)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		if oob > 0 {
			msgs[i].OOB = make([]byte, oob)
		}
	}
	w := newTunBatch(64)
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if u.closed.Load() {
				return
			}
			u.st.inc(stInBufferErrors)
			time.Sleep(time.Millisecond)
			continue
		}
		decap(msgs[:n], w)
		u.writeBatch(w)
	}
}

// decapRaw4 decrypts a batch read from the raw IPv4 socket into w (recover.go: a panic
// costs the batch).
func (u *userspace) decapRaw4(msgs []ipv4.Message, w *tunBatch) {
	defer u.recovered("raw4", stInErrors)
	for i := range msgs {
		b := msgs[i].Buffers[0][:msgs[i].N]
		if len(b) < 20 || b[0]>>4 != 4 {
			u.st.inc(stInHeaderErrors)
			continue
		}
		ihl := int(b[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || tot > len(b) || tot < ihl {
			u.st.inc(stInHeaderErrors)
			continue
		}
		src := netip.AddrFrom4([4]byte(b[12:16]))
		dst := netip.AddrFrom4([4]byte(b[16:20]))
		u.decapTo(w, nil, b[ihl:tot], src, dst, 0, false)
	}
}

func (u *userspace) raw6Loop() {
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := u.raw6.ReadFrom(buf)
		if err != nil {
			if u.closed.Load() {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		u.decapRaw6(buf[:n], cm, from)
	}
}

// decapRaw6 handles a packet read from the raw IPv6 socket (recover.go).
func (u *userspace) decapRaw6(b []byte, cm *ipv6.ControlMessage, from net.Addr) {
	defer u.recovered("raw6", stInErrors)
	var src, dst netip.Addr
	if a, ok := from.(*net.IPAddr); ok {
		src, _ = netip.AddrFromSlice(a.IP)
	}
	if cm != nil {
		dst, _ = netip.AddrFromSlice(cm.Dst)
	}
	u.decap(b, src, dst, 0, false)
}

// InputUDP takes ESP-in-UDP read by IKE on port 4500. It runs on IKE's reader, whose
// own recovery covers only IKE messages: a panic here is recovered here (recover.go).
func (u *userspace) InputUDP(b []byte, src, dst netip.AddrPort) {
	if u.closed.Load() {
		return
	}
	defer u.recovered("udp", stInErrors)
	// decap works in place; b belongs to the caller, so copy once into our own buffer,
	// with room for transport mode's inner header in front of the payload.
	pb := getPbuf(len(b) + 40)
	n := copy(pb.b, b)
	u.decapInto(pb, pb.b[:n], src.Addr().Unmap(), dst.Addr().Unmap(), src.Port(), true)
}

// InputUDPBatch decrypts one read of ESP-in-UDP (a GRO batch of a peer's UDP GSO send,
// or datagrams that came one by one) and writes what it carries into the TUN itself,
// one write a batch, as the raw IPv4 reader does: queueing each packet for tunWriter cost
// a copy and a wakeup of its goroutine per read.
func (u *userspace) InputUDPBatch(n int, at func(i int) (b []byte, src, dst netip.AddrPort)) {
	if u.closed.Load() {
		return
	}
	if u.cfg.udpInQueued {
		for i := range n {
			u.InputUDP(at(i))
		}
		return
	}
	// One batch for all 4500 readers (IPv4 and IPv6): they seldom both carry ESP.
	u.udpInMu.Lock()
	defer u.udpInMu.Unlock()
	if u.udpIn == nil {
		u.udpIn = newTunBatch(64)
	}
	u.decapUDPBatch(n, at)
	u.writeBatch(u.udpIn)
}

// decapUDPBatch decrypts InputUDPBatch's packets into u.udpIn (recover.go: a panic costs
// the rest of the read).
func (u *userspace) decapUDPBatch(n int, at func(i int) (b []byte, src, dst netip.AddrPort)) {
	defer u.recovered("udp", stInErrors)
	for i := range n {
		b, src, dst := at(i)
		u.decapTo(u.udpIn, nil, b, src.Addr().Unmap(), dst.Addr().Unmap(), src.Port(), true)
	}
}

func (u *userspace) decap(esp []byte, src, dst netip.Addr, sport uint16, udp bool) {
	u.decapInto(nil, esp, src, dst, sport, udp)
}

// decapInto authenticates and decrypts one ESP packet (in place), checks it against the
// inbound SPD and queues the inner packet for the TUN. pb, if not nil, holds esp and is
// reused for the output.
func (u *userspace) decapInto(pb *pbuf, esp []byte, src, dst netip.Addr, sport uint16, udp bool) {
	u.decapTo(nil, pb, esp, src, dst, sport, udp)
}

// decapTo is decapInto that adds the inner packet to w, when not nil, for its reader to
// write, instead of queueing it for tunWriter.
func (u *userspace) decapTo(w *tunBatch, pb *pbuf, esp []byte, src, dst netip.Addr, sport uint16, udp bool) {
	u.inject("in")
	release := func() {
		if pb != nil {
			putPbuf(pb)
		}
	}
	if len(esp) < 8 {
		u.st.inc(stInHeaderErrors)
		release()
		return
	}
	spi := binary.BigEndian.Uint32(esp)
	u.mu.RLock()
	s := u.inSPI[spi]
	u.mu.RUnlock()
	if s == nil || (dst.IsValid() && !dst.IsUnspecified() && dst != s.k().Dst) {
		u.st.inc(stInNoStates)
		release()
		return
	}
	if s.dead.Load() {
		u.st.inc(stInStateExpired)
		release()
		return
	}
	if len(esp) < s.t.minLen() {
		u.st.inc(stInHeaderErrors)
		release()
		return
	}
	ep := s.ep.Load()
	if (ep.encap != nil) != udp {
		u.st.inc(stInStateMismatches)
		release()
		return
	}
	seq := s.win.infer(binary.BigEndian.Uint32(esp[4:]), s.sa.ESN)
	if !s.win.check(seq) {
		u.st.inc(stInStateSequenceErrors)
		s.replayErrs.Add(1)
		release()
		return
	}
	payload, nh, err := s.t.open(esp, seq, s.sa.ESN)
	if err != nil {
		if errors.Is(err, errShort) {
			u.st.inc(stInHeaderErrors)
		} else {
			u.st.inc(stInStateProtocolErrors)
			if errors.Is(err, errAuth) {
				s.authErrs.Add(1)
			}
		}
		release()
		return
	}
	if !s.win.update(seq) {
		u.st.inc(stInStateSequenceErrors)
		s.replayErrs.Add(1)
		release()
		return
	}
	u.account(s, len(payload))
	if udp {
		u.mappingChanged(s, ep, src, sport)
	}
	if nh == 59 { // dummy packet (RFC 4303 2.6)
		release()
		return
	}
	if s.sa.Mode == ModeTunnel && (nh != 4 || len(payload) < 20 || payload[0]>>4 != 4) &&
		(nh != 41 || len(payload) < 40 || payload[0]>>4 != 6) {
		u.st.inc(stInStateModeErrors) // a tunnel's payload is an IP packet
		release()
		return
	}
	if w != nil && pb == nil && s.sa.Mode == ModeTunnel {
		// The payload is the inner packet: w copies it, no pbuf between.
		if u.admitFor(s, payload) {
			u.toTun(w, payload)
		}
		return
	}
	out := pb
	if out == nil {
		out = getPbuf(len(payload) + 40)
	}
	var inner []byte
	if s.sa.Mode == ModeTunnel {
		inner = payload
		if pb == nil {
			out.n = copy(out.b, payload)
			inner = out.b[:out.n]
		}
	} else {
		// Transport: rebuild the IP header from the outer addresses. The header says
		// the payload is a whole datagram: one that cannot be (a sender that
		// encrypted fragments one by one) would reach the host broken, so it stops here.
		d := dst
		if !d.IsValid() || d.IsUnspecified() {
			d = ep.dst
		}
		if !wholeInner(nh, payload, src, d, udp) {
			u.st.inc(stInStateModeErrors)
			putPbuf(out)
			return
		}
		if ep.src.Is4() {
			tot := 20 + len(payload)
			copy(out.b[20:], payload) // payload may live in out.b further right: copy moves safely
			ip := out.b[:tot]
			putIPv4(ip, 0, 64, nh, src, d)
			if udp {
				fixL4Checksum(ip)
			}
			inner = ip
		} else {
			tot := 40 + len(payload)
			copy(out.b[40:], payload)
			ip := out.b[:tot]
			ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
			binary.BigEndian.PutUint16(ip[4:], uint16(len(payload)))
			ip[6], ip[7] = nh, 64
			copy(ip[8:24], src.AsSlice())
			copy(ip[24:40], d.AsSlice())
			if udp {
				fixL4Checksum(ip)
			}
			inner = ip
		}
	}
	if !u.admitFor(s, inner) {
		putPbuf(out)
		return
	}
	if w != nil {
		u.toTun(w, inner)
		putPbuf(out)
		return
	}
	if &inner[0] != &out.b[0] {
		out.n = copy(out.b, inner)
	} else {
		out.n = len(inner)
	}
	u.perf.queuedIn.Add(1)
	select {
	case u.inq <- out:
	case <-u.done:
		putPbuf(out)
	}
}

// admitFor checks a decrypted inner packet of s against the inbound SPD and counts
// what it refuses.
func (u *userspace) admitFor(s *saState, inner []byte) bool {
	sel, err := parseInner(inner)
	if err != nil {
		u.st.inc(stInStateModeErrors)
		return false
	}
	if p := u.lookup(&sel, false); p == nil {
		if u.hasInbound() {
			u.st.inc(stInNoPolicies)
			return false
		}
	} else if p.Action == ActionDiscard {
		u.st.inc(stInPolicyBlocked)
		return false
	} else if p.Action == ActionEncrypt && p.ReqID != 0 && s.sa.ReqID != 0 && p.ReqID != s.sa.ReqID {
		u.st.inc(stInTemplateMismatches)
		return false
	}
	return true
}

func (u *userspace) hasInbound() bool {
	pp := u.pols.Load()
	if pp == nil {
		return false
	}
	for _, p := range *pp {
		if p.Dir != DirOut {
			return true
		}
	}
	return false
}

// wholeInner reports whether a transport-mode payload (next header nh, from src to dst)
// can be a whole datagram of its protocol, so far as a cheap look tells: a UDP length
// that is the payload's, a TCP header within it, an ICMP or ICMPv6 checksum that holds
// (ICMP is rare, and the first fragment of a large ping is the usual case). ICMPv6's
// sum covers the addresses, which a NAT (nat: ESP-in-UDP) may have changed: there only
// its length is looked at. TCP's and UDP's sums are left to the kernel.
func wholeInner(nh byte, p []byte, src, dst netip.Addr, nat bool) bool {
	switch nh {
	case 17:
		return len(p) >= 8 && int(binary.BigEndian.Uint16(p[4:])) == len(p)
	case 6:
		return len(p) >= 20 && int(p[12]>>4)*4 >= 20 && int(p[12]>>4)*4 <= len(p)
	case 1:
		return len(p) >= 8 && ipChecksum(p) == 0
	case 58:
		if len(p) < 8 || nat || !src.Is6() || !dst.Is6() {
			return len(p) >= 8
		}
		// The pseudo-header (RFC 8200 8.1): the addresses, the length, the next header.
		s16, d16 := src.As16(), dst.As16()
		sum := csumAdd(csumAdd(uint64(len(p))+58, s16[:]), d16[:])
		return fold(csumAdd(sum, p)) == 0xffff
	}
	return true
}

// fixL4Checksum recomputes a TCP/UDP (and, in IPv6, ICMPv6) checksum after the
// addresses changed (transport mode through a NAT, RFC 3948 3.1.2): IPv6 puts the
// addresses in every upper layer's pseudo-header (RFC 8200 8.1), ICMPv6's included. ip
// is an IPv4 header or an IPv6 header without extension headers.
func fixL4Checksum(ip []byte) {
	v6 := ip[0]>>4 == 6
	hl, proto := int(ip[0]&0xf)*4, ip[9]
	if v6 {
		hl, proto = 40, ip[6]
	}
	l4 := ip[hl:]
	off := -1
	switch proto {
	case 6:
		off = 16
	case 17:
		off = 6
		if !v6 && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return // no checksum (IPv6 has no such UDP)
		}
	case 58:
		if v6 {
			off = 2
		}
	}
	if off < 0 || len(l4) < off+2 {
		return
	}
	l4[off], l4[off+1] = 0, 0
	c := ^fold(csumAdd(pseudoSum(ip, v6, proto, len(l4)), l4))
	if c == 0 && proto == 17 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

// tunWriter drains decrypted packets into the TUN in batches, so the library coalesces
// TCP/UDP segments into GRO super-packets (one write for many packets).
func (u *userspace) tunWriter() {
	bufs := make([][]byte, maxBatch)
	store := make([][]byte, maxBatch)
	for i := range store {
		store[i] = make([]byte, tunWriteOffset+65536)
	}
	for {
		var first *pbuf
		select {
		case first = <-u.inq:
		case <-u.done:
			return
		}
		n := 0
		take := func(p *pbuf) {
			bufs[n] = store[n][:tunWriteOffset+copy(store[n][tunWriteOffset:], p.b[:p.n])]
			n++
			putPbuf(p)
		}
		take(first)
	drain:
		for n < maxBatch {
			select {
			case p := <-u.inq:
				take(p)
			default:
				break drain
			}
		}
		u.writeTun(bufs[:n])
	}
}

// tunBatch gathers the inner packets a reader decrypted from one read of its socket, for
// one TUN write.
type tunBatch struct {
	bufs  [][]byte
	store [][]byte
	n     int
}

func newTunBatch(size int) *tunBatch {
	w := &tunBatch{bufs: make([][]byte, size), store: make([][]byte, size)}
	for i := range w.store {
		w.store[i] = make([]byte, tunWriteOffset+65536)
	}
	return w
}

// add copies pkt into the batch; it returns false, and takes nothing, when it is full.
func (w *tunBatch) add(pkt []byte) bool {
	if w.n == len(w.store) {
		return false
	}
	w.bufs[w.n] = w.store[w.n][:tunWriteOffset+copy(w.store[w.n][tunWriteOffset:], pkt)]
	w.n++
	return true
}

// toTun adds pkt to w, writing w out first when it is full.
func (u *userspace) toTun(w *tunBatch, pkt []byte) {
	if !w.add(pkt) {
		u.writeBatch(w)
		w.add(pkt)
	}
}

// writeBatch writes what w holds into the TUN and empties it.
func (u *userspace) writeBatch(w *tunBatch) {
	if w.n > 0 {
		u.writeTun(w.bufs[:w.n])
		w.n = 0
	}
}

// writeTun writes a batch of decrypted packets into the TUN; the library parses them to
// coalesce segments (recover.go: a panic costs the batch).
func (u *userspace) writeTun(bufs [][]byte) {
	defer u.recovered("tun", stInErrors)
	u.inject("tun")
	u.perf.tunWrites.Add(1)
	u.perf.tunWritePkts.Add(uint64(len(bufs)))
	if _, err := u.dev.Load().tun.Write(bufs, tunWriteOffset); err != nil && !u.closed.Load() {
		u.st.inc(stInBufferErrors)
	}
}

// Close returns the steering routes and rules the kernel refused to remove: left
// behind, they send traffic into a device that is gone.
func (u *userspace) Close() error {
	if u.closed.Swap(true) {
		return nil
	}
	close(u.done)
	err := u.closeAll()
	u.wg.Wait()
	close(u.events)
	return err
}

func (u *userspace) closeAll() error {
	u.polMu.Lock()
	defer u.polMu.Unlock()
	var errs error
	if u.nl != nil {
		// The backstops outlive the process, with the rules that reach their tables:
		// while routerd is stopped or starting again (and after a crash, which
		// removes nothing but the device and its routes), a require or unique
		// policy's packets are dropped instead of taking the main table's route in
		// the clear. The next Open adopts them, and its first policies remove those
		// no longer wanted; the policy's removal removes its backstop.
		keep := map[int]bool{}
		for k, r := range u.routes {
			if isBackstopKey(k) {
				keep[r.Table] = true
			}
		}
		bt := u.cfg.BackstopTable()
		for k, r := range u.routes {
			// A full tunnel's throws stay with its backstop: the policy's sources keep
			// reaching the connected networks while routerd is down.
			// So does the hold route (hold6.go).
			if isBackstopKey(k) || (r.Table == bt && keep[bt] && (r.Type == unix.RTN_THROW || k == u.holdKey())) {
				continue
			}
			if err := u.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = errors.Join(errs, fmt.Errorf("esp: removing route %s: %w", k, err))
			}
		}
		if !keep[u.cfg.SelectorTable()] {
			errs = errors.Join(errs, u.closeSelectorRules())
		}
		if !keep[bt] {
			errs = errors.Join(errs, u.closeRules(u.bsRules), u.delHoldLink())
			u.bsRules = nil
		}
		if len(keep) == 0 {
			// The none policies' exceptions stay while any backstop does (nonerules.go).
			errs = errors.Join(errs, u.closeRules(u.nRules))
			u.nRules = nil
		}
		if !keep[u.cfg.Table] {
			for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
				errs = errors.Join(errs, u.delRule(u.rule(fam)))
			}
		}
		errs = errors.Join(errs, u.delBypassRules())
	}
	if d := u.dev.Load(); d != nil {
		d.tun.Close()
	}
	if u.raw4c != nil {
		u.raw4c.Close()
	}
	u.mu.Lock()
	u.closeSteer()
	u.mu.Unlock()
	if u.raw6c != nil {
		u.raw6c.Close()
	}
	if u.bypass6 >= 0 {
		unix.Close(u.bypass6)
	}
	if u.bypass4 >= 0 {
		unix.Close(u.bypass4)
	}
	for _, fd := range []int{u.frag4, u.icmp4, u.icmp6} {
		if fd > 0 {
			unix.Close(fd)
		}
	}
	if u.nl != nil {
		u.nl.Close()
	}
	if u.nsFd > 0 {
		u.dropRequire()
		unix.Close(u.nsFd)
		u.nsFd = 0
	}
	return errs
}

// devGone reports whether d's device no longer exists (its index has no link, or a link
// of another name).
func (u *userspace) devGone(d *tunDev) bool {
	l, err := u.nl.LinkByIndex(d.idx)
	if err != nil {
		var nf netlink.LinkNotFoundError
		return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
	}
	return l.Attrs().Name != u.tunName
}

// markGone records that d's device was deleted and, the first time, asks the owner for
// Repair (EventDevice).
func (u *userspace) markGone(d *tunDev) {
	if u.dev.Load() != d {
		return
	}
	err := fmt.Errorf("%s was deleted behind routerd's back", u.tunName)
	if u.devErr.CompareAndSwap(nil, &err) {
		u.emit(Event{Kind: EventDevice})
	}
}

// Health is nil while the TUN device is there, else why not (Repairer). Besides what
// the out loop saw, it looks the device up (a device renamed or deleted while the loop
// was between reads).
func (u *userspace) Health() error {
	if p := u.devErr.Load(); p != nil {
		return *p
	}
	if d := u.dev.Load(); d != nil && !u.closed.Load() && u.devGone(d) {
		return fmt.Errorf("%s was deleted behind routerd's back", u.tunName)
	}
	return nil
}

// Repair makes the TUN device again when it was deleted behind routerd's back, in the
// namespace the data path was opened in, with the steering routes the kernel removed
// with it; a device set down is set up again (Repairer). The loops move to the new
// device on their next batch. While the device cannot be made, Health says why.
func (u *userspace) Repair(ctx context.Context) (bool, error) {
	if u.closed.Load() {
		return false, nil
	}
	u.polMu.Lock()
	defer u.polMu.Unlock()
	old := u.dev.Load()
	l, err := u.nl.LinkByIndex(old.idx)
	if err == nil && l.Attrs().Name == u.tunName {
		if l.Attrs().Flags&net.FlagUp != 0 {
			u.devErr.Store(nil)
			return false, nil
		}
		// Set down (ip link set ipsec0 down): the kernel took its routes too.
		if err := u.nl.LinkSetUp(l); err != nil {
			return false, fmt.Errorf("esp: tun %s up: %w", u.tunName, err)
		}
		return true, u.restoreRoutes()
	}
	if err != nil && !u.devGone(old) {
		return false, fmt.Errorf("esp: tun %s: %w", u.tunName, err)
	}
	var d *tunDev
	err = u.inNS(func() (err error) {
		d, err = u.makeTun()
		return err
	})
	if err != nil {
		err = fmt.Errorf("%s was deleted and cannot be made again: %w", u.tunName, err)
		u.devErr.Store(&err)
		return false, err
	}
	u.dev.Store(d)
	old.tun.Close()
	u.devErr.Store(nil)
	return true, u.restoreRoutes()
}

// restoreRoutes installs the steering routes again after the kernel removed those
// through the device (polMu held); throw routes (no device) are still there, and
// replacing them is harmless.
func (u *userspace) restoreRoutes() error {
	clear(u.routes)
	if ps := u.pols.Load(); ps != nil {
		return u.syncRoutes(*ps)
	}
	return nil
}

// inNS runs fn on a thread in the namespace the data path was opened in (the engine's
// caller may run elsewhere: the tests run several routers in one process). The thread is
// locked and never unlocked, so it ends with its goroutine instead of going back to the
// scheduler in another namespace.
func (u *userspace) inNS(fn func() error) error {
	if u.nsFd <= 0 {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("internal error: %v", p)
			}
		}()
		runtime.LockOSThread()
		if err := netns.Set(netns.NsHandle(u.nsFd)); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}
