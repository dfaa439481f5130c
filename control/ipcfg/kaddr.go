package ipcfg

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Proto marks the addresses (IFA_PROTO) and routes (RTPROT) routerd installs. 0xc4 is
// unassigned in the kernel's and iproute2's protocol tables.
const Proto = 0xc4

// ifaProto is IFA_PROTO (linux/if_addr.h, Linux 5.18), which x/sys/unix does not name.
const ifaProto = 11

// kaddr is one kernel address.
type kaddr struct {
	index  int
	prefix netip.Prefix
	proto  uint8
	scope  uint8
	flags  uint32
	// peer is the other end of a point-to-point address (IFA_ADDRESS differing from
	// IFA_LOCAL); invalid otherwise.
	peer netip.Addr
}

// addrDump lists the kernel's addresses of one family with their protocol, which the
// netlink library does not decode.
func addrDump(family int) ([]kaddr, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfAddrmsg(family))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
	if err != nil {
		return nil, fmt.Errorf("address dump: %w", err)
	}
	var out []kaddr
	for _, m := range msgs {
		ka, ok := parseAddrMsg(m)
		if ok {
			out = append(out, ka)
		}
	}
	return out, nil
}

// parseAddrMsg decodes one RTM_NEWADDR message (kernel bytes; fuzzed).
func parseAddrMsg(m []byte) (kaddr, bool) {
	if len(m) < unix.SizeofIfAddrmsg {
		return kaddr{}, false
	}
	msg := nl.DeserializeIfAddrmsg(m)
	attrs, ok := routeAttrs(m[unix.SizeofIfAddrmsg:])
	if !ok {
		return kaddr{}, false
	}
	ka := kaddr{index: int(msg.Index), scope: msg.Scope, flags: uint32(msg.Flags)}
	var local, address []byte
	for _, a := range attrs {
		switch a.typ {
		case unix.IFA_LOCAL:
			local = a.val
		case unix.IFA_ADDRESS:
			address = a.val
		case ifaProto:
			if len(a.val) >= 1 {
				ka.proto = a.val[0]
			}
		case unix.IFA_FLAGS:
			if len(a.val) >= 4 {
				ka.flags = nl.NativeEndian().Uint32(a.val[:4])
			}
		}
	}
	raw := local
	if raw == nil {
		raw = address
	}
	ip, ok := netip.AddrFromSlice(raw)
	if !ok {
		return kaddr{}, false
	}
	p := netip.PrefixFrom(ip.Unmap(), int(msg.Prefixlen))
	if !p.IsValid() {
		return kaddr{}, false
	}
	ka.prefix = p
	if local != nil && address != nil {
		if pa, ok := netip.AddrFromSlice(address); ok && pa.Unmap() != ip.Unmap() {
			ka.peer = pa.Unmap()
		}
	}
	return ka, true
}

// addrAdd installs an address marked with Proto.
func addrNew(index int, p netip.Prefix, noDAD bool, peer netip.Addr, flags int) error {
	family := unix.AF_INET
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, flags|unix.NLM_F_ACK)
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(index)
	msg.Prefixlen = uint8(p.Bits())
	req.AddData(msg)
	ip := p.Addr().AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	if peer.IsValid() {
		// A point-to-point address: the kernel routes the peer through this link.
		req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, peer.AsSlice()))
	} else {
		req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
	}
	if p.Addr().Is4() && p.Bits() < 31 && !peer.IsValid() {
		n := p.Masked().Addr().As4()
		for i := p.Bits(); i < 32; i++ {
			n[i/8] |= 1 << (7 - uint(i%8))
		}
		req.AddData(nl.NewRtAttr(unix.IFA_BROADCAST, n[:]))
	}
	if noDAD {
		req.AddData(nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(unix.IFA_F_NODAD)))
	}
	req.AddData(nl.NewRtAttr(ifaProto, []byte{Proto}))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// addrDel removes an address.
func addrDel(index int, p netip.Prefix) error {
	family := unix.AF_INET
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	req := nl.NewNetlinkRequest(unix.RTM_DELADDR, unix.NLM_F_ACK)
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(index)
	msg.Prefixlen = uint8(p.Bits())
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, p.Addr().AsSlice()))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// eui64 fills the host half of a /64 from a MAC address (RFC 4291 appendix A).
func eui64(p netip.Prefix, mac net.HardwareAddr) (netip.Prefix, bool) {
	if len(mac) != 6 || p.Bits() > 64 {
		return p, false
	}
	b := p.Addr().As16()
	b[8], b[9], b[10] = mac[0]^2, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.PrefixFrom(netip.AddrFrom16(b), p.Bits()), true
}

type rtattr struct {
	typ uint16
	val []byte
}

// routeAttrs splits netlink route attributes, refusing malformed lengths (the netlink
// library's parser panics on some, which its fuzz target found).
func routeAttrs(b []byte) ([]rtattr, bool) {
	var out []rtattr
	for len(b) >= unix.SizeofRtAttr {
		l := int(nl.NativeEndian().Uint16(b[0:2]))
		t := nl.NativeEndian().Uint16(b[2:4])
		if l < unix.SizeofRtAttr || l > len(b) {
			return nil, false
		}
		out = append(out, rtattr{t, b[unix.SizeofRtAttr:l]})
		al := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return out, true
}
