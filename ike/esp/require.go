package esp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// requireTable enforces level=require/unique for inbound policies on the userspace path:
// the kernel hands cleartext packets to the host without passing the TUN, so a packet from
// a protected network that did not come out of the TUN is dropped here (and counted as
// in-template-mismatches, as XFRM counts a packet that misses its policy's template). IKE
// (UDP 500 and 4500) and ESP itself are exempt.
const requireTable = "routerd_ipsec"

func (u *userspace) nftConn() (*nftables.Conn, error) {
	if u.nsFd <= 0 {
		return nil, ErrNotSupported // no namespace handle (unit tests without devices)
	}
	return nftables.New(nftables.WithNetNSFd(u.nsFd))
}

func nftTable() *nftables.Table {
	return &nftables.Table{Name: requireTable, Family: nftables.TableFamilyINet}
}

// applyRequire replaces the enforcement table with one rule per inbound require policy.
func (u *userspace) applyRequire(ps []Policy) error {
	c, err := u.nftConn()
	if err != nil {
		return nil
	}
	// Inbound policies in SPD order, each deciding a cleartext packet it matches first:
	// encrypt (require, unique) and discard drop it, encrypt level=use and none let it
	// pass. With no dropping policy the table is not needed at all.
	var req []Policy
	drops := false
	for _, p := range ps {
		if p.Dir == DirOut {
			continue
		}
		if dropsCleartext(p) {
			drops = true
		}
		req = append(req, p)
	}
	t := nftTable()
	if _, err := c.ListTableOfFamily(requireTable, t.Family); err == nil {
		// The counters go with the table: keep what they held.
		u.dropBase[0].Add(u.requireDrops(false))
		u.dropBase[1].Add(u.requireDrops(true))
		u.dropBase[2].Add(u.outDiscards())
		c.DelTable(t)
	}
	if !drops && !hasOutDiscard(ps) {
		return c.Flush()
	}
	c.AddTable(t)
	if !drops {
		u.addOutDiscard(c, t, ps)
		return c.Flush()
	}
	prio := nftables.ChainPriority(-160) // after raw/conntrack defrag, before mangle
	ch := c.AddChain(&nftables.Chain{Name: "in_require", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: &prio})
	accept := func(e ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(e, &expr.Verdict{Kind: expr.VerdictAccept})})
	}
	// What came out of the TUN was decrypted (and checked) by us.
	accept(&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(u.tunName)})
	// The host talking to itself never crossed a wire (XFRM: lo has disable_policy).
	accept(&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")})
	// IPv6 neighbour discovery is the kernel's, sent in the clear by the device.
	accept(neighbourDiscovery()...)
	l4 := func(p byte) []expr.Any {
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
	}
	accept(l4(unix.IPPROTO_ESP)...)
	// The steering port's UDP is ESP the port program rewrote (steer.go).
	for _, port := range []uint16{500, 4500, u.steerPort} {
		if port == 0 {
			continue
		}
		accept(append(l4(unix.IPPROTO_UDP),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})...)
	}
	// A UDP datagram's fragments after the first carry no ports to be told by: the first
	// decides for them all (dropped, its datagram never completes; accepted, it is IKE's
	// or ESP-in-UDP, a transport SA's ESP packet above the path's MTU). Nothing puts
	// them together before this chain where the namespace has no conntrack. Only those
	// addressed to this host: forwarded, a spoofed later fragment would complete a
	// datagram whose first came decrypted out of the TUN, on a host behind us.
	for _, f := range []struct {
		nfproto byte
		offset  expr.Any // loads the 2 bytes that hold the fragment offset
		mask    []byte
	}{
		{unix.NFPROTO_IPV4, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 2},
			[]byte{0x1f, 0xff}}, // the offset below the flags
		{unix.NFPROTO_IPV6, &expr.Exthdr{DestRegister: 1, Type: unix.IPPROTO_FRAGMENT, Offset: 2, Len: 2, Op: expr.ExthdrOpIpv6},
			[]byte{0xff, 0xf8}}, // the offset above the M flag
	} {
		// Every test loads register 1, so the offset is loaded last, right before its test.
		e := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.nfproto}}}
		e = append(e, l4(unix.IPPROTO_UDP)...)
		e = append(e, &expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
		accept(append(e, f.offset,
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: f.mask, Xor: []byte{0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0}})...)
	}
	for _, p := range req {
		e := policyMatch(p)
		if !dropsCleartext(p) {
			e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: []byte(fmt.Sprintf("pass %d", p.ID))})
			continue
		}
		tag := "policy"
		if p.Action == ActionDiscard {
			tag = "discard"
		}
		e = append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: []byte(fmt.Sprintf("%s %d", tag, p.ID))})
	}
	u.addOutDiscard(c, t, ps)
	return c.Flush()
}

// neighbourDiscovery matches IPv6 neighbour discovery (RFC 4861: router solicitation
// and advertisement, neighbour solicitation and advertisement, redirect; hop limit 255,
// so it comes from the link itself). The kernel sends it by the device, never through
// the ESP device, so a host-to-host policy of level require dropped the peer's
// advertisement as cleartext and the peer never resolved. RFC 4301's SPD may bypass ND
// by its ICMPv6 types, as Linux users do for XFRM with a passthrough policy. Only these
// types: an echo or any other ICMPv6 in the clear is still the policy's to drop.
func neighbourDiscovery() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 7, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{255}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{133}},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{137}},
	}
}

// policyMatch is the nftables match of a policy's selectors (src, dst, protocol, ports)
// on a packet as it travels in the policy's direction.
func policyMatch(p Policy) []expr.Any {
	var e []expr.Any
	fam, off, alen := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if p.Src.Addr().Is6() {
		fam, off, alen = unix.NFPROTO_IPV6, 8, 16
	}
	e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}})
	e = append(e, prefixMatch(p.Src, off)...)
	e = append(e, prefixMatch(p.Dst, off+alen)...)
	if p.Protocol != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.Protocol}})
		for i, port := range []uint16{p.SrcPort, p.DstPort} {
			if port != 0 {
				e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: uint32(2 * i), Len: 2},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
			}
		}
	}
	return e
}

func hasOutDiscard(ps []Policy) bool {
	for _, p := range ps {
		if p.Dir == DirOut && p.Action == ActionDiscard {
			return true
		}
	}
	return false
}

// addOutDiscard enforces the outbound discard policies in the kernel: a chain at output
// and forward with the outbound policies in SPD order up to the last discard, each
// deciding what it matches first (discard: counted and dropped; encrypt, none: on to
// routing, which steers encrypt traffic into the ESP device). Discard policies get no
// route into the device, so neither what they drop nor the traffic they do not match
// (a discard 0.0.0.0/0 covers everything) goes through the userspace ESP engine. Outer
// packets (the bypass mark: IKE, ESP, what userspace sends in the clear) are exempt.
func (u *userspace) addOutDiscard(c *nftables.Conn, t *nftables.Table, ps []Policy) {
	last := -1
	for i, p := range ps {
		if p.Dir == DirOut && p.Action == ActionDiscard {
			last = i
		}
	}
	if last < 0 {
		return
	}
	prio := nftables.ChainPriority(-160)
	for _, hook := range []struct {
		name string
		num  *nftables.ChainHook
	}{{"out_discard", nftables.ChainHookOutput}, {"fwd_discard", nftables.ChainHookForward}} {
		ch := c.AddChain(&nftables.Chain{Name: hook.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook.num, Priority: &prio})
		mark := binaryutil.NativeEndian.PutUint32(u.cfg.BypassMark)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mark, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: mark},
			&expr.Verdict{Kind: expr.VerdictAccept}}})
		if hook.name == "out_discard" {
			// The kernel's neighbour discovery never reaches the ESP device (it is sent by
			// the device, not routed): only a discard policy here could catch it.
			c.AddRule(&nftables.Rule{Table: t, Chain: ch,
				Exprs: append(neighbourDiscovery(), &expr.Verdict{Kind: expr.VerdictAccept})})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
				&expr.Verdict{Kind: expr.VerdictAccept}}})
		}
		for _, p := range ps[:last+1] {
			if p.Dir != DirOut {
				continue
			}
			e := policyMatch(p)
			if p.Action != ActionDiscard {
				e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: []byte(fmt.Sprintf("pass %d", p.ID))})
				continue
			}
			e = append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: []byte(fmt.Sprintf("discard %d", p.ID))})
		}
	}
}

// dropsCleartext: a cleartext packet matching the inbound policy p first is dropped.
func dropsCleartext(p Policy) bool {
	return p.Action == ActionDiscard || (p.Action == ActionEncrypt && p.Level != LevelUse)
}

func prefixMatch(p netip.Prefix, off uint32) []expr.Any {
	p = p.Masked()
	a := p.Addr().AsSlice()
	mask := make([]byte, len(a))
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(a))},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(a)), Mask: mask, Xor: make([]byte, len(a))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a},
	}
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// requireDrops sums the counters of the drop rules of encrypt policies (discard false)
// or of discard policies (discard true).
func (u *userspace) requireDrops(discard bool) uint64 {
	return u.chainDrops("in_require", discard)
}

// outDiscards sums what the outbound discard policies dropped (out-policy-block).
func (u *userspace) outDiscards() uint64 {
	return u.chainDrops("out_discard", true) + u.chainDrops("fwd_discard", true)
}

func (u *userspace) chainDrops(chain string, discard bool) uint64 {
	c, err := u.nftConn()
	if err != nil {
		return 0
	}
	t := nftTable()
	rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
	if err != nil {
		return 0
	}
	var n uint64
	for _, r := range rules {
		if strings.HasPrefix(string(r.UserData), "discard ") != discard {
			continue
		}
		for _, e := range r.Exprs {
			if ct, ok := e.(*expr.Counter); ok {
				n += ct.Packets
			}
		}
	}
	return n
}

func (u *userspace) dropRequire() {
	c, err := u.nftConn()
	if err != nil {
		return
	}
	if _, err := c.ListTableOfFamily(requireTable, nftables.TableFamilyINet); err == nil {
		c.DelTable(nftTable())
		c.Flush()
	}
}
