package ts

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// BridgePort reports whether an interface is a port of a Linux bridge. A bridge consumes
// what its ports receive before protocol sockets on the port see it, so a PTP port there
// receives through a tap (see tapSocket) and ptp/steer keeps PTP from being bridged.
func BridgePort(name string) (bool, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false, fmt.Errorf("ptp port %s: %w", name, err)
	}
	m := l.Attrs().MasterIndex
	if m == 0 {
		return false, nil
	}
	ml, err := netlink.LinkByIndex(m)
	if err != nil {
		return false, fmt.Errorf("master of %s: %w", name, err)
	}
	return ml.Type() == "bridge", nil
}

// tapFilter is the socket filter of a tap: PTP over Ethernet, or IPv4 UDP to port 319 or
// 320, not fragmented. (A VLAN tag the driver stripped is not in the data the filter
// sees; read() also skips one left in the frame.)
var tapFilter = func() []unix.SockFilter {
	ins, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: EtherType, SkipTrue: 10},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipFalse: 10},
		bpf.LoadAbsolute{Off: 23, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipFalse: 8},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3FFF, SkipTrue: 6},
		bpf.LoadMemShift{Off: 14},
		bpf.LoadIndirect{Off: 16, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: EventPort, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: GeneralPort, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xFFFF},
		bpf.RetConstant{Val: 0xFFFF},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	out := make([]unix.SockFilter, len(ins))
	for i, in := range ins {
		out[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return out
}()

// tapSocket opens a packet socket that sees every frame of the interface (ETH_P_ALL),
// filtered to PTP. Taps receive in __netif_receive_skb_core before the TC ingress hook
// and the bridge, with the software receive timestamp already taken.
func tapSocket(ifi *net.Interface, tsflags int) (*socket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ptp tap socket: %w", err)
	}
	fail := func(what string, err error) (*socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ptp tap on %s: %s: %w", ifi.Name, what, err)
	}
	prog := unix.SockFprog{Len: uint16(len(tapFilter)), Filter: &tapFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fail("SO_ATTACH_FILTER", err)
	}
	// Bound with the protocol only after the filter: nothing unfiltered gets queued.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsflags); err != nil {
		return fail("SO_TIMESTAMPING", err)
	}
	return &socket{fd: fd, l2: true, ifindex: ifi.Index}, nil
}

// sourceIPv4 is the address UDP messages from a bridge port carry: the port's own, else
// its bridge's, else 0.0.0.0 (receivers do not answer to it: replies are multicast).
func sourceIPv4(ifi *net.Interface) [4]byte {
	try := func(name string) ([4]byte, bool) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return [4]byte{}, false
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil || len(as) == 0 {
			return [4]byte{}, false
		}
		return [4]byte(as[0].IP.To4()), true
	}
	if a, ok := try(ifi.Name); ok {
		return a
	}
	if l, err := netlink.LinkByName(ifi.Name); err == nil && l.Attrs().MasterIndex != 0 {
		if m, err := netlink.LinkByIndex(l.Attrs().MasterIndex); err == nil {
			if a, ok := try(m.Attrs().Name); ok {
				return a
			}
		}
	}
	return [4]byte{}
}

// udpFrame builds Ethernet, IPv4 and UDP headers around a PTP message for a tap.
func udpFrame(src net.HardwareAddr, srcIP, dstIP [4]byte, id uint16, port int, b []byte) []byte {
	f := make([]byte, 14+20+8+len(b))
	copy(f, []byte{0x01, 0x00, 0x5e, dstIP[1] & 0x7f, dstIP[2], dstIP[3]})
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(b)))
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[8] = 1 // TTL 1, as the UDP sockets send
	ip[9] = unix.IPPROTO_UDP
	copy(ip[12:], srcIP[:])
	copy(ip[16:], dstIP[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := f[34:42]
	binary.BigEndian.PutUint16(u, uint16(port))
	binary.BigEndian.PutUint16(u[2:], uint16(port))
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(b)))
	// UDP checksum 0: none, which IPv4 allows.
	copy(f[42:], b)
	return f
}

// tapPayload returns the PTP message in a frame a tap read for mode, or nil.
func tapPayload(mode Mode, f []byte) []byte {
	if len(f) < 14 {
		return nil
	}
	typ, off := binary.BigEndian.Uint16(f[12:]), 14
	if typ == unix.ETH_P_8021Q || typ == unix.ETH_P_8021AD {
		if len(f) < 18 {
			return nil
		}
		typ, off = binary.BigEndian.Uint16(f[16:]), 18
	}
	switch {
	case mode != UDPv4 && typ == EtherType:
		return f[off:]
	case mode == UDPv4 && typ == unix.ETH_P_IP:
		ip := f[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0 {
			return nil
		}
		if d := net.IP(ip[16:20]); !d.Equal(PrimaryIPv4) && !d.Equal(PdelayIPv4) {
			return nil
		}
		hl := int(ip[0]&0xF) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if hl < 20 || tot < hl+8 || tot > len(ip) {
			return nil
		}
		u := ip[hl:tot]
		if p := binary.BigEndian.Uint16(u[2:]); p != EventPort && p != GeneralPort {
			return nil
		}
		return u[8:]
	}
	return nil
}
