package esp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"

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
}

// Receive paths ReceivePath names (/ip ipsec statistics print's datapath-receive).
const (
	RecvRawSocket = "raw-socket"
	RecvPortGRO   = "port-gro"
)

// openSteer opens the steering socket (UDP on an ephemeral port of every address, with
// UDP_GRO and the destination of each datagram) and gives its port to cfg.RxSteer.
// Without it, or when anything fails, the raw socket takes all ESP as before.
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
	return nil
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
		}
		return
	}
	_ = u.cfg.RxSteer.DelESPRx(k.Dst, k.SPI)
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
	if u.steerc != nil && !u.closed.Load() && u.cfg.RxSteer.ESPRxActive() {
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
func (u *userspace) decapSteered(msgs []ipv4.Message, w *tunBatch) {
	defer u.recovered("steer", stInErrors)
	for i := range msgs {
		ua, ok := msgs[i].Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		src := ua.AddrPort().Addr().Unmap()
		seg, dst := steerCmsgs(msgs[i].OOB[:msgs[i].NN])
		b := msgs[i].Buffers[0][:msgs[i].N]
		if seg <= 0 {
			seg = len(b)
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

// steerCmsgs reads the GRO segment size (0: one datagram) and the destination address
// (IP_PKTINFO; invalid without one) from a steering socket's control messages.
func steerCmsgs(oob []byte) (seg int, dst netip.Addr) {
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
			dst = netip.AddrFrom4([4]byte(data[8:12])) // in_pktinfo.ipi_addr: the header's destination
		}
		next := (l + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)
		if next >= len(oob) {
			return
		}
		oob = oob[next:]
	}
	return
}
