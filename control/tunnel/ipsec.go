package tunnel

import (
	"encoding/binary"
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/ike/esp"
)

// ipsecTable is the routing table an ipsec-secret tunnel's outer packets are routed in:
// on the userspace ESP path, the routes to the ESP device of the policies that select a
// protocol (the tunnel's transport policy is one), so that until the tunnel's policy is
// installed the encapsulator drops them rather than send GRE (or IPIP, EoIP, 6to4) in
// the clear. With the kernel's XFRM, 0: the main lookup.
func ipsecTable() uint32 {
	if esp.Probe().Kind != esp.KindUserspace {
		return 0
	}
	return uint32(esp.DefaultConfig().SelectorTable())
}

// ProtectRule is one inbound IPsec policy as the decapsulator needs it: packets from Src
// to Dst of Proto (0: any) that arrive in the clear are dropped (Drop: an encrypt policy
// of level require or unique, or a discard policy) or let through (none, level use).
// Rules are in policy order; the first match decides.
type ProtectRule struct {
	Src, Dst netip.Prefix
	Proto    uint8
	Drop     bool
}

// Protect is the service the tunnel engine offers the ipsec engine: after every change
// of its policies the ipsec engine hands over the inbound rules, and a tunnel whose outer
// packets a dropping rule matches takes them only from the ESP path (dataplane.Tunnel
// IPsec), as an ipsec-secret tunnel always does. The XDP decapsulator runs before
// nftables, where the require policies' drop is: without this it would deliver such a
// tunnel's cleartext packets.
type Protect func([]ProtectRule)

// SecretStatus is the service the tunnel engine offers the ipsec engine: the tunnels
// whose ipsec-secret the ipsec engine cannot apply, by name, and why (another tunnel to
// the same remote address carries another secret: one IPsec peer per address). Such a
// tunnel is invalid with that status: it would only ever drop its packets.
type SecretStatus func(map[string]string)

// setSecretStatus stores the ipsec engine's refusals and runs a full pass when they
// changed.
func (e *Engine) setSecretStatus(why map[string]string) {
	e.mu.Lock()
	same := maps.Equal(e.secretWhy, why)
	if !same {
		e.secretWhy = why
		e.full = true
	}
	e.mu.Unlock()
	if !same && e.eh != nil {
		e.eh.Kick()
	}
}

// secretRefused is why the ipsec engine cannot apply a tunnel's ipsec-secret ("": it
// can).
func (e *Engine) secretRefused(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.secretWhy[name]
}

// setProtect stores the ipsec engine's rules and runs a pass when they changed.
func (e *Engine) setProtect(rules []ProtectRule) {
	e.mu.Lock()
	same := slices.Equal(e.protect, rules)
	if !same {
		e.protect = slices.Clone(rules)
		e.full = true // tunnels whose items did not change may be protected now
	}
	e.mu.Unlock()
	if !same && e.eh != nil {
		e.eh.Kick()
	}
}

// protected says whether a tunnel's received packets (from remote to local, IP protocol
// proto) meet a policy that refuses them in the clear.
func (e *Engine) protected(remote, local netip.Addr, proto uint8) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.protect {
		if (r.Proto == 0 || r.Proto == proto) && r.Src.Contains(remote) && r.Dst.Contains(local) {
			return r.Drop
		}
	}
	return false
}

// outerProto is the IP protocol of a tunnel kind's outer packets.
func outerProto(k dataplane.Kind) uint8 {
	switch k {
	case dataplane.IPIP:
		return 4
	case dataplane.SixToFour:
		return 41
	}
	return 47 // GRE, EoIP
}

// espDevice is the userspace ESP path's device when a tunnel is IPsec-protected: its
// outer packets leave through it (the policy's route) and come back out of it decrypted,
// so the decapsulator runs there as well as on the underlay (which drops the cleartext),
// and its MTU bounds the tunnel's. The underlay is found by the route to the remote,
// which the kernel looks up for no protocol: the ESP path's rules select the tunnel's
// protocol only (ike/esp selrules.go).
func (e *Engine) espDevice(ps *passState, protected bool) (name string, index, mtu int) {
	if !protected || ipsecTable() == 0 {
		return "", 0, 0
	}
	name = esp.DefaultConfig().TunName
	l, err := e.linkByName(ps, name)
	if err != nil {
		return "", 0, 0 // the ipsec engine has not opened it yet: a later pass finds it
	}
	return name, l.Attrs().Index, l.Attrs().MTU
}

// errNoPacketSocket: a protected tunnel's keepalive cannot go through its encapsulator.
var errNoPacketSocket = errors.New("no packet socket: keepalive not sent")

// sendKeepalive sends a keepalive (pkt, outer IPv4 header included). An ipsec-secret
// tunnel on the userspace ESP path (viaEncap) hands it to its own encapsulator, through
// the visible end as if the stack had sent it there, so that it is routed as the
// tunnel's traffic is: in the IPsec table alone, into the ESP device, and dropped while
// that table has no route to the remote (the tunnel's policy not installed yet, or
// being replaced). Sent through the kernel's routing instead it fell through to the
// main table whenever the policy's selector rule or route was missing, and left in the
// clear (issue 12: a GRE keepalive was on the wire at the tunnel's creation, before
// the ipsec engine's pass installed its policy). Other tunnels send it as before.
func (e *Engine) sendKeepalive(t *tunnel, pkt []byte) error {
	if !t.viaEncap {
		return sendOuter(e.raw, pkt, &unix.SockaddrInet4{Addr: t.remote.As4()})
	}
	if e.pkt <= 0 {
		return errNoPacketSocket
	}
	frame, dst := encapFrame(t, pkt)
	sa := &unix.SockaddrLinklayer{Protocol: htons(binary.BigEndian.Uint16(frame[12:])), Ifindex: t.visibleIdx, Halen: 6}
	copy(sa.Addr[:], dst)
	return unix.Sendto(e.pkt, frame, 0, sa)
}

// encapFrame is the frame that makes the encapsulator (bpf/tunnel.c tun_encap) send
// the keepalive pkt, and its destination MAC. GRE, IPIP and 6to4: the keepalive's inner
// packet in an Ethernet frame to the hidden end, which the encapsulator wraps in the
// same outer header. EoIP, whose keepalive carries no frame: the whole outer packet
// behind an all-zero Ethernet header, as the encapsulator sends its own EoIP packets
// on (eoip_resend).
func encapFrame(t *tunnel, pkt []byte) (frame []byte, dst net.HardwareAddr) {
	if t.kind == dataplane.EoIP {
		frame = make([]byte, 14+len(pkt))
		binary.BigEndian.PutUint16(frame[12:], unix.ETH_P_IP)
		copy(frame[14:], pkt)
		return frame, make(net.HardwareAddr, 6)
	}
	inner := pkt[20:] // behind the outer IPv4 header
	if t.kind == dataplane.GRE {
		inner = pkt[24:] // and the GRE header, which the encapsulator writes
	}
	typ := uint16(unix.ETH_P_IP)
	if t.kind == dataplane.SixToFour {
		typ = unix.ETH_P_IPV6
	}
	frame = make([]byte, 14+len(inner))
	copy(frame[0:6], t.hiddenMAC)
	copy(frame[6:12], t.visibleMAC)
	binary.BigEndian.PutUint16(frame[12:], typ)
	copy(frame[14:], inner)
	return frame, t.hiddenMAC
}

// sendOuter sends an outer packet built whole (a keepalive) through the IPPROTO_RAW
// socket fd. The kernel routes such a packet as protocol 255 unless told its protocol
// (IP_PROTOCOL, Linux 6.x): policies select by protocol (XFRM's, and the ESP path's
// rules for a tunnel protected by a configured policy), and a protected tunnel's
// keepalive must be encrypted like its traffic. A kernel without the option refuses it
// (EINVAL).
func sendOuter(fd int, pkt []byte, sa *unix.SockaddrInet4) error {
	if len(pkt) >= 20 {
		oob := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PROTOCOL
		h.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(oob[unix.CmsgLen(0):], uint32(pkt[9]))
		if err := unix.Sendmsg(fd, pkt, oob, sa, 0); !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return unix.Sendto(fd, pkt, 0, sa)
}
