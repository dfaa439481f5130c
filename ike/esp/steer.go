package esp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// RxSteer is what hands the userspace path's inbound raw ESP to a UDP socket of its own
// before the stack: routerd's port program (dataplane.Tunnels, bpf/tunnel.c esp_steer)
// rewrites IPv4 ESP to an SA it was given into UDP to that socket's port, so that the
// port's GRO carries it up in 64 KB batches (one read and wakeup per batch) where the raw
// socket gets one skb, delivery and wakeup per ESP packet. It does so only while no
// firewall rule of an IPv4 table could see the ESP (the fast path's condition); the rest
// (IPv6, fragments, a port without the program, the firewall in use) stays on the raw
// socket, which keeps reading.
type RxSteer interface {
	SetESPRx(port uint16) error // 0: off
	AddESPRx(dst netip.Addr, spi uint32) error
	DelESPRx(dst netip.Addr, spi uint32) error
	// ESPRxActive says whether steering is on now (a port set, the fast path on).
	ESPRxActive() bool
	// ESPRxPort is the port set now (0: none); another one than the path's own, or
	// none, means the program's configuration was reset since (a new OpenTunnels).
	ESPRxPort() uint16
	// ESPRxLinks are the interfaces the program runs on: steered ESP comes in on one
	// of them; UDP to the port on any other is not the program's.
	ESPRxLinks() ([]int, error)
}

// Receive paths ReceivePath names (/ip ipsec statistics print's datapath-receive).
const (
	RecvRawSocket = "raw-socket"
	RecvPortGRO   = "port-gro"
)

// openSteer opens the steering socket (UDP on an ephemeral port of every address, with
// UDP_GRO and the destination and interface of each datagram) and gives its port to
// cfg.RxSteer. Without it, or when anything fails, the raw socket takes all ESP as
// before. Bound to every address: the SAs' local addresses come and go with them, and
// a bound address would not tell the program's datagrams from others anyway;
// decapSteered takes only those that came in on a link the program runs on.
func (u *userspace) openSteer() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return err
	}
	for _, o := range [][3]int{{unix.SOL_UDP, unix.UDP_GRO, 1}, {unix.IPPROTO_IP, unix.IP_PKTINFO, 1}} {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			unix.Close(fd)
			return err
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	if err := dropLoopback(fd); err != nil {
		unix.Close(fd)
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		unix.Close(fd)
		return err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return err
	}
	port := uint16(sa.(*unix.SockaddrInet4).Port)
	f := os.NewFile(uintptr(fd), "esp-steer")
	c, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return err
	}
	if err := u.cfg.RxSteer.SetESPRx(port); err != nil {
		c.Close()
		return err
	}
	u.steerc, u.steerPort = c, port
	u.listSteerLinks()
	return nil
}

// dropLoopback makes the kernel drop what fd would receive over lo: a local process's
// UDP to the steering port. steeredFrom cannot tell it: IP_PKTINFO names, for a datagram
// sent to a local address, the interface that holds the address (the WAN port, where
// the program runs), not lo.
func dropLoopback(fd int) error {
	const loIndex = 1 // the loopback device's index in every namespace
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex}, // the device it came in on
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: loIndex, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffffffff}, // all of it (a GRO batch is up to 64 KB)
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return err
	}
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

// steerLinks are the interfaces the port program runs on (RxSteer.ESPRxLinks), listed
// at the time at.
type steerLinks struct {
	idx map[int]bool
	at  time.Time
}

// steerRelist: a datagram from an interface not in the list has it listed again at
// most this often (a port the program was just attached to), so that UDP sent to the
// port from elsewhere costs no more than a map lookup.
const steerRelist = 100 * time.Millisecond

// listSteerLinks lists the interfaces the port program runs on again; on an error the
// list stays as it was.
func (u *userspace) listSteerLinks() *steerLinks {
	idx, err := u.cfg.RxSteer.ESPRxLinks()
	l := u.steerFrom.Load()
	if err != nil && l != nil {
		return l
	}
	nl := &steerLinks{idx: make(map[int]bool, len(idx)), at: time.Now()}
	for _, i := range idx {
		nl.idx[i] = true
	}
	u.steerFrom.Store(nl)
	return nl
}

// steeredFrom says whether a datagram the steering socket read on interface ifindex
// can be ESP the port program rewrote: it came in on an interface the program runs on.
// Anything else (a link without the program: ipsec0, a VLAN on a port) was UDP, never
// ESP, and never reaches the SAs; what a local process sends is dropped before
// (dropLoopback).
func (u *userspace) steeredFrom(ifindex int) bool {
	l := u.steerFrom.Load()
	if l.idx[ifindex] {
		return true
	}
	if time.Since(l.at) < steerRelist {
		return false
	}
	return u.listSteerLinks().idx[ifindex]
}

// checkSteer puts the steering back after the port program's configuration was reset
// while this path runs (the timer loop calls it every 2 s): a new OpenTunnels on the
// same pins (a tunnel engine started again) turns steering off and forgets the SAs,
// since the socket an earlier run steered to would be gone; this path's is not. It
// also lists the program's interfaces again (a port added or removed). A port set that
// is not this path's is another's (two routerd on one pin folder): left alone, and
// ReceivePath then says raw-socket.
func (u *userspace) checkSteer() {
	if u.steerc == nil || u.closed.Load() {
		return
	}
	u.listSteerLinks()
	if u.cfg.RxSteer.ESPRxPort() != 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	// Again under u.mu: Close's closeSteer (under it too) must come after, or steering
	// would lead to a closed socket.
	if u.closed.Load() {
		return
	}
	if err := u.cfg.RxSteer.SetESPRx(u.steerPort); err != nil {
		u.cfg.logger().Warn("esp: steering was reset and cannot be set again; raw ESP stays on the raw socket", "err", err)
		return
	}
	for _, s := range u.sas {
		u.steerSA(s, true)
	}
	u.cfg.logger().Warn("esp: the port program's steering was reset (its objects loaded again): set again", "port", u.steerPort)
}

// steerSA adds (or removes) an inbound raw IPv4 SA to the steered ones.
func (u *userspace) steerSA(s *saState, add bool) {
	if u.steerc == nil || s.sa.Dir == DirOut || !s.sa.Dst.Is4() {
		return
	}
	k := s.k()
	if add {
		if s.sa.Encap != nil {
			return // ESP-in-UDP: port 4500's GRO already batches it
		}
		if err := u.cfg.RxSteer.AddESPRx(k.Dst, k.SPI); err != nil {
			u.cfg.logger().Warn("esp: SA stays on the raw socket", "spi", fmt.Sprintf("0x%08x", k.SPI), "err", err)
			return
		}
		s.steered.Store(true)
		return
	}
	s.steered.Store(false)
	_ = u.cfg.RxSteer.DelESPRx(k.Dst, k.SPI)
}

// saReceivePath is how an inbound raw ESP SA's packets arrive now (installed-sa's
// datapath-receive): port-gro while the port program has it and steering is on, else
// raw-socket; "" for an outbound or ESP-in-UDP SA (the 4500 socket's GRO batches it).
func (u *userspace) saReceivePath(s *saState) string {
	if s.sa.Dir == DirOut || s.ep.Load().encap != nil {
		return ""
	}
	if s.steered.Load() && u.ReceivePath() == RecvPortGRO {
		return RecvPortGRO
	}
	return RecvRawSocket
}

// closeSteer turns steering off (the raw socket then gets the ESP again) and forgets
// the SAs (u.mu held or no longer needed).
func (u *userspace) closeSteer() {
	if u.steerc == nil {
		return
	}
	_ = u.cfg.RxSteer.SetESPRx(0)
	for _, s := range u.sas {
		u.steerSA(s, false)
	}
	u.steerc.Close()
}

// ReceivePath says which path inbound raw IPv4 ESP takes now.
func (u *userspace) ReceivePath() string {
	if u.steerc != nil && !u.closed.Load() && u.cfg.RxSteer.ESPRxActive() && u.cfg.RxSteer.ESPRxPort() == u.steerPort {
		return RecvPortGRO
	}
	return RecvRawSocket
}

// SteeredPackets counts the ESP packets read from the steering socket and the datagrams
// they came in (GRO merges a run of equal-size ones into one).
func (u *userspace) SteeredPackets() (pkts, datagrams uint64) {
	return u.perf.steerPkts.Load(), u.perf.steerDgrams.Load()
}

func (u *userspace) steerLoop() {
	u.readDecapLoop(ipv4.NewPacketConn(u.steerc), 16, 128, u.decapSteered) // GRO: up to 64 KB each
}

// decapSteered handles a batch read from the steering socket: each datagram is raw ESP
// the port program rewrote, or several of one size aggregated by GRO (recover.go: a panic
// costs the batch), into w, which it writes each time it is full (raw4Loop says why).
// A datagram from an interface the program does not run on is dropped and counted in
// in-errors (steeredFrom).
func (u *userspace) decapSteered(msgs []ipv4.Message, w *tunBatch) {
	defer u.recovered("steer", stInErrors)
	for i := range msgs {
		ua, ok := msgs[i].Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		src := ua.AddrPort().Addr().Unmap()
		seg, dst, ifindex := steerCmsgs(msgs[i].OOB[:msgs[i].NN])
		b := msgs[i].Buffers[0][:msgs[i].N]
		if seg <= 0 {
			seg = max(len(b), 1)
		}
		if !u.steeredFrom(ifindex) {
			// Each datagram GRO merged counts (UDP through a tunnel comes in batches).
			u.st[stInErrors].Add(uint64((len(b) + seg - 1) / seg))
			continue
		}
		u.perf.steerDgrams.Add(1)
		for len(b) > 0 {
			d := b[:min(seg, len(b))]
			b = b[len(d):]
			u.perf.steerPkts.Add(1)
			u.decapTo(w, nil, d, src, dst, 0, false)
		}
	}
}

// steerCmsgs reads the GRO segment size (0: one datagram), the destination address and
// the interface it came in on (IP_PKTINFO; invalid and 0 without one) from a steering
// socket's control messages.
func steerCmsgs(oob []byte) (seg int, dst netip.Addr, ifindex int) {
	for len(oob) >= unix.SizeofCmsghdr {
		// struct cmsghdr: a size_t length, then level and type (int).
		var l int
		if unix.SizeofPtr == 8 {
			l = int(min(binary.NativeEndian.Uint64(oob), uint64(len(oob))+1))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		lvl := int32(binary.NativeEndian.Uint32(oob[unix.SizeofPtr:]))
		typ := int32(binary.NativeEndian.Uint32(oob[unix.SizeofPtr+4:]))
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		data := oob[unix.SizeofCmsghdr:l]
		switch {
		case lvl == unix.SOL_UDP && typ == unix.UDP_GRO && len(data) >= 4:
			seg = int(binary.NativeEndian.Uint32(data))
		case lvl == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			ifindex = int(int32(binary.NativeEndian.Uint32(data))) // in_pktinfo.ipi_ifindex
			dst = netip.AddrFrom4([4]byte(data[8:12]))             // in_pktinfo.ipi_addr: the header's destination
		}
		next := (l + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)
		if next >= len(oob) {
			return
		}
		oob = oob[next:]
	}
	return
}
