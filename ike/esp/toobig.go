package esp

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A packet the bypass sockets send in the clear was routed into the ESP device, whose
// MTU follows the tunnel, not the link the packet then leaves by. When that link's MTU
// is smaller, the kernel refuses the header-included send (EMSGSIZE) whatever the DF
// bit: dropped there, the sender learnt nothing and its large packets were lost for
// good (issue 12). The kernel's forwarding path would have fragmented an IPv4 packet
// without DF and answered the others with ICMP fragmentation needed (RFC 1191) or
// ICMPv6 packet too big (RFC 8201); tooBig does the same.

// tooBig handles a bypassed packet fd refused with EMSGSIZE; false when it could not
// (no MTU reported, or no ICMP socket), for the caller to count.
func (u *userspace) tooBig(fd int, pkt []byte, dst netip.Addr) bool {
	mtu := localMTU(fd)
	if mtu <= 0 {
		return false
	}
	if dst.Is4() {
		if len(pkt) < 20 {
			return false
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x4000 == 0 {
			return u.fragBypass4(pkt, mtu, dst)
		}
		return u.sendTooBig4(pkt, mtu)
	}
	return u.sendTooBig6(pkt, mtu)
}

// localMTU reads the MTU of a send the kernel refused as too big from fd's error queue
// (IP_RECVERR / IPV6_RECVERR: the kernel queues it with the MTU it checked against);
// 0 if there is none. Other entries are drained with it, so they cannot fill the queue.
func localMTU(fd int) int {
	var b [256]byte
	oob := make([]byte, 512)
	mtu := 0
	for range 16 {
		_, oobn, _, _, err := unix.Recvmsg(fd, b[:], oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if !(m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) &&
				!(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR) {
				continue
			}
			if len(m.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
			if ee.Errno == uint32(unix.EMSGSIZE) && ee.Origin == unix.SO_EE_ORIGIN_LOCAL && ee.Info > 0 {
				mtu = int(ee.Info)
			}
		}
	}
	return mtu
}

// fragBypass4 sends an IPv4 packet without DF as fragments of at most mtu bytes, as a
// router forwarding it would (RFC 791): options marked copied go in every fragment,
// the others in the first only.
func (u *userspace) fragBypass4(pkt []byte, mtu int, dst netip.Addr) bool {
	hl := int(pkt[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < 20 || total > len(pkt) || total <= hl {
		return false
	}
	pkt = pkt[:total]
	first := pkt[:hl]
	rest := copiedOptions(pkt[20:hl])
	ff := binary.BigEndian.Uint16(pkt[6:])
	off0, moreAfter := int(ff&0x1fff)*8, ff&0x2000 != 0
	sa := &unix.SockaddrInet4{Addr: dst.As4()}
	buf := make([]byte, 0, mtu)
	data := pkt[hl:]
	for off := 0; off < len(data); {
		hdr := first
		if off > 0 {
			hdr = append(append(make([]byte, 0, 20+len(rest)), pkt[:20]...), rest...)
		}
		n := (mtu - len(hdr)) &^ 7
		if n <= 0 {
			return false
		}
		more := moreAfter
		if off+n < len(data) {
			more = true
		} else {
			n = len(data) - off
		}
		buf = append(append(buf[:0], hdr...), data[off:off+n]...)
		buf[0] = 0x40 | byte(len(hdr)/4)
		binary.BigEndian.PutUint16(buf[2:], uint16(len(buf)))
		fo := uint16((off0+off)/8) & 0x1fff
		if more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(buf[6:], fo)
		buf[10], buf[11] = 0, 0
		binary.BigEndian.PutUint16(buf[10:], ipChecksum(buf[:len(hdr)]))
		if err := unix.Sendto(u.bypass4, buf, unix.MSG_DONTWAIT, sa); err != nil {
			return false
		}
		off += n
	}
	return true
}

// copiedOptions returns the IPv4 options with the copied flag (padded to 4 bytes), those
// that go in every fragment.
func copiedOptions(opts []byte) []byte {
	var out []byte
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // end of options
			break
		}
		if t == 1 { // no operation
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			break
		}
		l := int(opts[i+1])
		if t&0x80 != 0 {
			out = append(out, opts[i:i+l]...)
		}
		i += l
	}
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}

// sendTooBig4 answers an IPv4 packet with DF that does not fit mtu with ICMP destination
// unreachable, fragmentation needed (RFC 1191), to its source. The ICMP socket lets the
// kernel pick the source address and route the answer as its own would be.
func (u *userspace) sendTooBig4(pkt []byte, mtu int) bool {
	if u.icmp4 <= 0 {
		return false
	}
	hl := int(pkt[0]&0xf) * 4
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	if hl < 20 || len(pkt) < hl || !errorWanted4(pkt, hl, src) {
		return true // nothing to answer, as the kernel would not: dropped
	}
	if !u.icmpLimit.allow() {
		return true
	}
	// RFC 1812 4.3.2.3: as much of the packet as fits in 576 bytes.
	quote := pkt[:min(len(pkt), 576-20-8)]
	m := make([]byte, 8+len(quote))
	m[0], m[1] = 3, 4 // destination unreachable, fragmentation needed and DF set
	binary.BigEndian.PutUint16(m[6:], uint16(mtu))
	copy(m[8:], quote)
	binary.BigEndian.PutUint16(m[2:], ipChecksum(m))
	return unix.Sendto(u.icmp4, m, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Addr: src.As4()}) == nil
}

// errorWanted4 says whether an ICMP error may answer the IPv4 packet (RFC 1122 3.2.2,
// RFC 1812 4.3.2.7): not for a later fragment, a source that is no single host, nor an
// ICMP error.
func errorWanted4(pkt []byte, hl int, src netip.Addr) bool {
	if binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0 {
		return false
	}
	if !src.IsGlobalUnicast() && !src.IsLoopback() && !src.IsLinkLocalUnicast() {
		return false
	}
	if pkt[9] == unix.IPPROTO_ICMP && len(pkt) > hl {
		switch pkt[hl] {
		case 3, 4, 5, 11, 12:
			return false
		}
	}
	return true
}

// sendTooBig6 answers an IPv6 packet that does not fit mtu with ICMPv6 packet too big
// (RFC 4443 3.2) to its source; the kernel fills the checksum and the source address.
func (u *userspace) sendTooBig6(pkt []byte, mtu int) bool {
	if u.icmp6 <= 0 || len(pkt) < 40 {
		return false
	}
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	if src.IsUnspecified() || src.IsMulticast() {
		return true
	}
	if pkt[6] == unix.IPPROTO_ICMPV6 && len(pkt) > 40 && pkt[40] < 128 {
		return true // never an error about an error
	}
	if !u.icmpLimit.allow() {
		return true
	}
	// As much of the packet as keeps the answer within the minimum IPv6 MTU.
	quote := pkt[:min(len(pkt), 1280-40-8)]
	m := make([]byte, 8+len(quote))
	m[0] = 2 // packet too big
	binary.BigEndian.PutUint32(m[4:], uint32(mtu))
	copy(m[8:], quote)
	return unix.Sendto(u.icmp6, m, unix.MSG_DONTWAIT, &unix.SockaddrInet6{Addr: src.As16()}) == nil
}

// icmpLimiter bounds the ICMP errors sent, as the kernel's icmp_msgs_per_sec and
// icmp_msgs_burst do (1000 a second, bursts of 50): a flood of large packets must not
// make the router flood their sources.
type icmpLimiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

const (
	icmpPerSec = 1000
	icmpBurst  = 50
)

func (l *icmpLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.last.IsZero() {
		l.tokens = icmpBurst
	} else {
		l.tokens = min(icmpBurst, l.tokens+now.Sub(l.last).Seconds()*icmpPerSec)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// openICMP opens the sockets the too-big answers are sent by (marked as the bypass
// sockets, so that routing does not take them into the ESP device; they receive
// nothing) and has the bypass sockets queue the MTU of a refused send (localMTU).
// Best effort: without them large bypassed packets are dropped as before.
func (u *userspace) openICMP() {
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	open := func(family, proto int) int {
		fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return 0
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(u.cfg.BypassMark)) != nil ||
			unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}) != nil {
			unix.Close(fd)
			return 0
		}
		return fd
	}
	if u.bypass4 >= 0 {
		_ = unix.SetsockoptInt(u.bypass4, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		u.icmp4 = open(unix.AF_INET, unix.IPPROTO_ICMP)
	}
	if u.bypass6 >= 0 {
		_ = unix.SetsockoptInt(u.bypass6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		u.icmp6 = open(unix.AF_INET6, unix.IPPROTO_ICMPV6)
	}
}
