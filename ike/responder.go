package ike

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// respondInit answers an IKE_SA_INIT request (d.mu held).
func (d *Daemon) respondInit(b []byte, h Header, from, local netip.AddrPort) {
	if sa := d.halfOpen[halfKey{h.SPIi, from}]; sa != nil {
		if bytes.Equal(sa.initI, b) && sa.hasResp {
			sa.countRx(b)
			sa.sendPkts(sa.lastResp) // retransmitted request
		}
		return
	}
	m, err := Parse(b)
	if n := unsupportedCritical(err); n != nil {
		d.unauthReply(h, n, from, local, "unsupported critical payload", "payload-type", n.Data[0])
		return
	}
	if err != nil {
		d.Stats.Malformed.Add(1)
		return
	}
	d.logMessage("received", IKESAInit, false, 0, m.Payloads, "", local, from)
	reply := func(ps ...Payload) {
		d.logMessage("sending", IKESAInit, true, 0, ps, "", local, from)
		r := &Message{Header: Header{SPIi: h.SPIi, Version: Version2, Exchange: IKESAInit, Flags: FlagResponse}, Payloads: ps}
		d.send(r.Encode(), local, from)
	}
	// refuse answers with an error notify. Anyone can make us send these, spoofing
	// the source, so they share the budget of unauthReply (RFC 7296 2.21.4); a
	// refused initiator retransmits and is answered once the flood leaves room.
	// COOKIE is not refused here: it is the answer to a flood, and the full answers
	// of acceptable requests are never paced.
	refuse := func(n *Notify) {
		if !d.replies.take(time.Now()) {
			d.Stats.RepliesPaced.Add(1)
			return
		}
		reply(n)
	}
	sap, ke, ni := Find[*SA](m.Payloads), Find[*KE](m.Payloads), Find[*Nonce](m.Payloads)
	if sap == nil || ke == nil || ni == nil || h.MsgID != 0 {
		d.Stats.Malformed.Add(1)
		refuse(&Notify{NType: NotifyInvalidSyntax})
		return
	}
	if len(d.halfOpen) >= d.opts.CookieThreshold {
		want := d.cookie(ni.Data, from, h.SPIi)
		got := FindNotify(m.Payloads, NotifyCookie)
		if got == nil || !hmac.Equal(got.Data, want) {
			d.Stats.CookiesSent.Add(1)
			reply(&Notify{NType: NotifyCookie, Data: want})
			return
		}
	}
	tiers := d.peerTiers(from.Addr())
	if len(tiers) == 0 {
		d.strangers.log(d.log, slog.LevelInfo, from.Addr(), "ipsec: IKE_SA_INIT from an address no peer covers", "remote", from.Addr())
		d.Stats.NoProposal.Add(1)
		refuse(&Notify{NType: NotifyNoProposalChosen})
		return
	}
	// The first of the most specific peers whose profile accepts the offer answers
	// IKE_SA_INIT; the others as specific that accept the chosen proposal too are
	// candidates in IKE_AUTH. When none of the most specific accepts it, the next less
	// specific ones are tried, as strongSwan goes on to its next matching ike config:
	// a tunnel's dynamic /32 peer (ipsec-secret, profile default) must not shadow a
	// catch-all peer whose profile takes a client's offer only because the tunnel came
	// up first. Which peer's refusal is logged is the most specific one's.
	p, chosen, ok := tiers[0][0], (*Proposal)(nil), false
	for _, peers := range tiers {
		for _, q := range peers {
			if chosen, ok = Select(sap.Proposals, q.Proposals); ok {
				p = q
				break
			}
		}
		if ok {
			break
		}
	}
	if ok {
		if p.Remote.Bits() != tiers[0][0].Remote.Bits() {
			d.log.Info("ipsec: no peer of the most specific address accepts the proposal; a less specific one does",
				"peer", p.Name, "instead-of", tiers[0][0].Name, "remote", from.Addr())
		}
		d.logChosen("IKE SA", p.Name, chosen)
	}
	if !ok {
		d.Stats.NoProposal.Add(1)
		d.strangers.log(d.log, slog.LevelWarn, from.Addr(), "ipsec: no suitable proposal found (IKE SA)", "peer", p.Name, "remote", from.Addr(), "offered", proposalsString(sap.Proposals))
		refuse(&Notify{NType: NotifyNoProposalChosen})
		return
	}
	suite, _ := SuiteOf(chosen)
	if ke.Group != suite.DH {
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], suite.DH)
		refuse(&Notify{NType: NotifyInvalidKEPayload, Data: g[:]})
		return
	}
	dh, err := NewDH(suite.DH)
	if err != nil {
		return
	}
	shared, err := dh.Shared(ke.Data)
	if err != nil {
		d.Stats.Malformed.Add(1)
		refuse(&Notify{NType: NotifyInvalidSyntax})
		return
	}
	sa := d.newSA(p, false)
	sa.initProp = *chosen
	sa.spiI, sa.spiR = h.SPIi, d.newSPI()
	sa.local, sa.remote = local, from
	sa.suite, sa.dh, sa.ni, sa.nr = suite, dh, ni.Data, nonce()
	sa.initI = b
	sa.countRx(b)
	sa.state = stateHalfOpen
	sa.recvReqID = 1
	sa.fragOK = FindNotify(m.Payloads, NotifyIKEv2FragmentationSupp) != nil
	sa.detectNAT(m.Payloads, from, 0)
	if err := sa.deriveKeys(shared, nil, nil); err != nil {
		return
	}
	chosen.SPI = nil // the responder's SPI goes in the header only
	ps := []Payload{&SA{Proposals: []Proposal{*chosen}}, &KE{Group: dh.Group(), Data: dh.Public()}, &Nonce{Data: sa.nr}}
	if p.NATTraversal && FindNotify(m.Payloads, NotifyNATDetectionSourceIP) != nil {
		ps = append(ps,
			&Notify{NType: NotifyNATDetectionSourceIP, Data: natHash(sa.spiI, sa.spiR, local)},
			&Notify{NType: NotifyNATDetectionDestIP, Data: natHash(sa.spiI, sa.spiR, from)})
	}
	if sa.fragOK {
		ps = append(ps, &Notify{NType: NotifyIKEv2FragmentationSupp})
	}
	sa.noteSigInit(m.Payloads)
	ps = append(ps, sa.sigInitPayloads(true)...)
	r := &Message{Header: Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: Version2, Exchange: IKESAInit, Flags: FlagResponse}, Payloads: ps}
	d.logMessage("sending", IKESAInit, true, 0, ps, p.Name, local, from)
	out := r.Encode()
	sa.initR = out
	sa.lastResp, sa.hasResp, sa.lastRespID = [][]byte{out}, true, 0
	d.sas[sa.spiR] = sa
	d.halfOpen[halfKey{sa.spiI, from}] = sa
	sa.sendPkts(sa.lastResp)
}

// proposalsString names offered proposals as the menus name the algorithms: one suite
// per proposal (aes128-sha256-modp2048), or, where a proposal lists alternatives of one
// type, its transforms by type (encr=aes-128-cbc,aes-256-cbc integ=sha256 dh=modp2048,ecp256).
func proposalsString(ps []Proposal) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		if s, err := SuiteOf(&p); err == nil {
			b.WriteString(s.String())
			if s.ESN {
				// Named as strongSwan's proposals do: routerd has no extended sequence
				// numbers, so an offer of only ESN is refused for this part alone.
				b.WriteString("-esn")
			}
			continue
		}
		byType := map[TransformType][]string{}
		for _, t := range p.Transforms {
			byType[t.Type] = append(byType[t.Type], transformName(t))
		}
		sep := ""
		for _, k := range []struct {
			t    TransformType
			name string
		}{{TransformENCR, "encr"}, {TransformINTEG, "integ"}, {TransformPRF, "prf"}, {TransformDH, "dh"}, {TransformESN, "esn"}} {
			if v := byType[k.t]; len(v) > 0 {
				fmt.Fprintf(&b, "%s%s=%s", sep, k.name, strings.Join(v, ","))
				sep = " "
			}
		}
	}
	return b.String()
}

// transformName names one transform as /ip ipsec profile and proposal do.
func transformName(t Transform) string {
	switch t.Type {
	case TransformENCR:
		if e := Encr(t.ID); e != nil {
			bits := int(t.KeyLen)
			switch e.ID {
			case EncrAESCBC:
				return fmt.Sprintf("aes-%d-cbc", bits)
			case EncrAESCTR:
				return fmt.Sprintf("aes-%d-ctr", bits)
			case EncrAESGCM16:
				return fmt.Sprintf("aes-%d-gcm", bits)
			case EncrChaCha:
				return "chacha20poly1305"
			}
			return e.Name
		}
	case TransformINTEG:
		if h := integSpecs[t.ID]; h != nil {
			return h.Name
		}
	case TransformPRF:
		if h := prfSpecs[t.ID]; h != nil {
			return h.Name
		}
	case TransformDH:
		return DHName(t.ID)
	case TransformESN:
		if t.ID == 0 {
			return "no"
		}
		return "yes"
	}
	return fmt.Sprintf("%d", t.ID)
}

// authRequest handles IKE_AUTH as responder.
func (sa *IKESA) authRequest(h Header, ps []Payload) {
	if sa.initiator || sa.state != stateHalfOpen {
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidSyntax}})
		return
	}
	if sa.eapAuthRequest(h, ps) {
		return
	}
	idi, _ := FindType(ps, PayloadIDi).(*ID)
	auth := Find[*Auth](ps)
	if idi == nil || auth == nil {
		if Find[*EAP](ps) == nil && auth == nil {
			sa.d.Stats.Malformed.Add(1)
		}
		sa.authFailed(h, "IKE_AUTH without IDi or AUTH (EAP is not supported yet)")
		return
	}
	rid := Identity{Type: idi.IDType, Data: idi.Data}
	// The switch to port 4500 happened with this message (RFC 7296 2.23).
	ident, why := sa.authPeer(rid, idi.body(nil), auth, ps)
	if ident == nil {
		sa.authFailed(h, why)
		return
	}
	sa.ident = ident
	sa.remoteID, sa.remoteIDBody = rid, idi.body(nil)
	sa.myID = sa.localIdentity()
	if FindNotify(ps, NotifyInitialContact) != nil {
		// INITIAL_CONTACT: the peer lost its state; other IKE SAs with it are stale.
		for _, o := range sa.d.sas {
			if o != sa && o.peer == sa.peer && o.remoteID.Equal(rid) && o.remote.Addr() == sa.remote.Addr() && o.state == stateEstablished {
				// Tell the peer anyway: when both sides initiated at once it may still
				// hold this SA, and a delete for a forgotten SPI costs nothing.
				o.sendDelete()
				o.destroy("initial contact from the peer")
			}
		}
	}
	own, err := sa.ownAuth(ident, false, sa.myID)
	if err != nil {
		sa.authFailed(h, err.Error())
		return
	}
	out := append([]Payload{&ID{Responder: true, IDType: sa.myID.Type, Data: sa.myID.Data}}, own...)
	if c := Find[*CP](ps); c != nil && c.CfgType == CPRequest && ident.ModeConfig != nil && ident.ModeConfig.Responder {
		reply, err := sa.giveConfig(ident.ModeConfig, c)
		if err != nil {
			sa.d.log.Warn("ipsec: no mode config address for the peer", "peer", sa.peer.Name, "err", err)
			sa.respond(h.Exchange, h.MsgID, append(out, &Notify{NType: NotifyInternalAddressFailure}))
			sa.setEstablished()
			return
		}
		reply.Attrs = append(reply.Attrs, cpDNSDomains(ident.ModeConfig, c)...)
		out = append(out, reply)
	}
	sa.setEstablished()
	if Find[*SA](ps) != nil {
		cps, c := sa.acceptChild(ps, sa.ni, sa.nr, nil)
		sa.answerWithChild(h, append(out, cps...), c, nil)
		return
	}
	sa.respond(h.Exchange, h.MsgID, out)
}

func (sa *IKESA) authFailed(h Header, why string) {
	sa.d.Stats.AuthFailed.Add(1)
	sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyAuthenticationFailed}})
	sa.d.strangers.log(sa.d.log, slog.LevelWarn, sa.remote.Addr(), "ipsec: authentication failed", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "reason", why)
	sa.destroy("authentication failed")
}

// giveConfig hands the peer an address (and the split networks and DNS servers) in
// answer to its request req.
func (sa *IKESA) giveConfig(mc *ModeConfig, req *CP) (*CP, error) {
	addr := mc.Address
	if mc.Allocate != nil {
		var asked netip.Addr
		for _, a := range req.Attrs {
			if a.Type == CPInternalIP4Address && len(a.Value) == 4 {
				asked = netip.AddrFrom4([4]byte(a.Value))
			}
		}
		a, _, err := sa.poolAddress(mc, asked)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	if !addr.IsValid() || !addr.Is4() {
		return nil, errors.New("mode config has no IPv4 address or pool")
	}
	sa.vip = addr
	a4 := addr.As4()
	c := &CP{CfgType: CPReply, Attrs: []CPAttr{{Type: CPInternalIP4Address, Value: a4[:]}}}
	if mc.PrefixLen > 0 {
		m := net.CIDRMask(mc.PrefixLen, 32)
		c.Attrs = append(c.Attrs, CPAttr{Type: CPInternalIP4Netmask, Value: []byte(m)})
	}
	for _, p := range mc.Split {
		if !p.Addr().Is4() {
			continue
		}
		b := p.Masked().Addr().As4()
		c.Attrs = append(c.Attrs, CPAttr{Type: CPInternalIP4Subnet, Value: append(b[:], net.CIDRMask(p.Bits(), 32)...)})
	}
	for _, d := range mc.DNS {
		if d.Is4() {
			b := d.As4()
			c.Attrs = append(c.Attrs, CPAttr{Type: CPInternalIP4DNS, Value: b[:]})
		}
	}
	sa.d.log.Info("ipsec: mode config address given", "peer", sa.peer.Name, "address", addr)
	return c, nil
}

// poolAddress leases the peer an address of mode config's pool. The address it asks
// for, when a live IKE SA of the same client holds it, is given again and shares that
// SA's lease (released when the last of them goes); that SA is returned. A
// make-before-break reauthentication and IKEv1's rekey (a new phase 1 while the old one
// lives) so keep the client's address, and its connections, as strongSwan's pools give
// an online lease back to its identity. Anything else comes new from the pool: an
// address is never handed to a second client.
func (sa *IKESA) poolAddress(mc *ModeConfig, asked netip.Addr) (netip.Addr, *IKESA, error) {
	if asked.IsValid() && !asked.IsUnspecified() {
		for _, o := range sa.d.sas {
			if o != sa && o.state != stateDead && !o.initiator && o.vip == asked && o.vipLease != nil && sa.sameClient(o) {
				sa.vipLease = o.vipLease
				sa.d.log.Info("ipsec: mode config address given again to the client holding it",
					"peer", sa.peer.Name, "address", asked, "remote", sa.remote.Addr())
				return asked, o, nil
			}
		}
	}
	a, release, err := mc.Allocate(sa.remoteID.String())
	if err != nil {
		return netip.Addr{}, nil, err
	}
	sa.vipLease = &vipLease{release: release}
	return a, nil, nil
}

// sameClient reports whether o was set up by the same client as sa: the same peer, ID
// and address, and the same EAP or XAuth user where one logged in (the clients of a
// group key may share an ID).
func (sa *IKESA) sameClient(o *IKESA) bool {
	if o.peer != sa.peer || o.ident != sa.ident || !o.remoteID.Equal(sa.remoteID) || o.remote.Addr() != sa.remote.Addr() {
		return false
	}
	if (sa.eap == nil) != (o.eap == nil) || sa.eap != nil && sa.eap.user != o.eap.user {
		return false
	}
	if (sa.v1 == nil) != (o.v1 == nil) || sa.v1 == nil {
		return true
	}
	c, oc := sa.v1.cfg, o.v1.cfg
	if c == nil || oc == nil {
		return c == oc
	}
	return c.xauth == oc.xauth && c.user == oc.user
}

// acceptChild answers a CHILD_SA request: proposal, selectors narrowed to a policy (or a
// template with generate-policy), keys. It returns the response payloads and the
// CHILD_SA to install after the response is sent.
func (sa *IKESA) acceptChild(ps []Payload, ni, nr []byte, shared []byte) ([]Payload, *ChildSA) {
	sap := Find[*SA](ps)
	tsi, _ := FindType(ps, PayloadTSi).(*TS)
	tsr, _ := FindType(ps, PayloadTSr).(*TS)
	if sap == nil || tsi == nil || tsr == nil {
		return []Payload{&Notify{NType: NotifyInvalidSyntax}}, nil
	}
	offeredI := tsi.Selectors
	if !sa.initiator && !sa.vip.IsValid() && sa.ident != nil && sa.ident.ModeConfig != nil && sa.ident.ModeConfig.Responder {
		// A mode config identity's peers own only the address we gave them; one that
		// asked for none could otherwise claim another peer's (road-warrior hijack).
		sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name,
			"reason", "the identity has mode-config but the peer was given no address (it asked for none)",
			"tsi", selString(tsi.Selectors))
		return []Payload{&Notify{NType: NotifyTSUnacceptable}}, nil
	}
	if sa.vip.IsValid() {
		// The peer's side is the address it was given (RFC 7296 2.9 narrowing).
		var narrowed []Selector
		for _, s := range offeredI {
			if n, ok := intersectSel(s, Selector{IPProto: s.IPProto, StartPort: s.StartPort, EndPort: s.EndPort, Start: sa.vip, End: sa.vip}); ok {
				narrowed = append(narrowed, n)
			}
		}
		offeredI = narrowed
	}
	offeredR := tsr.Selectors
	transportReq := FindNotify(ps, NotifyUseTransportMode) != nil
	var origI, origR netip.Addr
	if transportReq && !sa.vip.IsValid() { // a virtual address is never the host's own
		offeredI, origI = natTransport(offeredI, sa.natRemote, sa.remote.Addr())
		offeredR, origR = natTransport(offeredR, sa.natLocal, sa.local.Addr())
	}
	if len(tsi.Selectors) == 0 || len(offeredR) == 0 {
		sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name,
			"reason", "the peer offered no traffic selectors (its own configuration narrowed them to nothing)",
			"tsi", selString(tsi.Selectors), "tsr", selString(tsr.Selectors), "transport", transportReq)
		return []Payload{&Notify{NType: NotifyTSUnacceptable}}, nil
	}
	cfg, li, ri := sa.matchPolicy(offeredI, offeredR)
	if cfg == nil {
		sa.d.log.Warn("ipsec: no policy matches the peer's traffic selectors", "peer", sa.peer.Name,
			"tsi", selString(tsi.Selectors), "tsr", selString(tsr.Selectors))
		return []Payload{&Notify{NType: NotifyTSUnacceptable}}, nil
	}
	if transportReq && cfg.Dynamic && !sa.hostToHost(li, ri) {
		// A generated policy between other addresses than the SA's own can only be a
		// tunnel, and a peer that asked for transport deletes a tunnel answer.
		sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name,
			"reason", "transport mode asked for traffic selectors that are not the two hosts' addresses",
			"tsi", selString(tsi.Selectors), "tsr", selString(tsr.Selectors))
		return []Payload{&Notify{NType: NotifyTSUnacceptable}}, nil
	}
	ours := cfg.Proposals
	if shared == nil {
		ours = stripDH(ours)
	}
	var offered []Proposal
	for _, p := range sap.Proposals {
		if p.Protocol == ProtoESP && len(p.SPI) == 4 {
			offered = append(offered, p)
		}
	}
	chosen, ok := Select(offered, ours)
	if ok {
		sa.d.logChosen("CHILD SA", sa.peer.Name, chosen)
	}
	if !ok {
		sa.d.Stats.NoProposal.Add(1)
		sa.d.log.Warn("ipsec: no suitable proposal found (CHILD SA)", "peer", sa.peer.Name, "offered", proposalsString(sap.Proposals))
		return []Payload{&Notify{NType: NotifyNoProposalChosen}}, nil
	}
	suite, _ := SuiteOf(chosen)
	inSPI := sa.d.newChildSPI()
	tunnel := cfg.Tunnel || !transportReq
	c := sa.makeChild(cfg, suite, inSPI, binary.BigEndian.Uint32(chosen.SPI), shared, ni, nr, false, tunnel)
	lis, allR := sa.allSelectors(cfg, li, ri, offeredI, offeredR)
	if cfg.Dynamic {
		other, why, replaced := sa.dynamicConflict(lis, allR)
		if other != "" {
			sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name, "reason", why,
				"other", other, "tsi", selString(allR), "tsr", selString(lis))
			return []Payload{&Notify{NType: NotifyTSUnacceptable}}, nil
		}
		for _, o := range replaced {
			sa.d.log.Info("ipsec: mode config address taken over by a reconnection; deleting the old IKE SA",
				"peer", o.peer.Name, "address", sa.vip, "old", o.remote.Addr(), "new", sa.remote.Addr())
			if o.state == stateEstablished {
				o.sendDelete()
			}
			o.destroy("mode config address taken over by a reconnection")
		}
	}
	c.LocalTS, c.RemoteTS = lis, allR
	resp := *chosen
	resp.SPI = spiBytes(inSPI)
	var out []Payload
	if !tunnel {
		out = append(out, &Notify{NType: NotifyUseTransportMode})
	}
	out = append(out, &SA{Proposals: []Proposal{resp}})
	// The answer carries the selectors in the initiator's terms (its private address
	// behind a NAT); the SA's policies use the substituted ones.
	rlis := make([]Selector, len(lis))
	for i, l := range lis {
		rlis[i] = withAddr(l, origR)
	}
	rris := make([]Selector, len(allR))
	for i, r := range allR {
		rris[i] = withAddr(r, origI)
	}
	return append(out, &TS{Selectors: rris}, &TS{Responder: true, Selectors: rlis}), c
}

// dynamicConflict checks a generated policy (local x remote) against the other peers'
// configured policies, which it may not overlap, and the other IKE SAs' generated ones.
// Of those it refuses (naming the other SA's remote address and why) one that
// overlaps an address mode config gave another peer (a peer must not take another's
// return traffic: the road-warrior hijack) or that duplicates another peer's policy
// exactly (RouterOS's duplicate policy, the later would take the first's traffic).
// Site-to-site policies that only overlap are allowed: RouterOS keeps them in order. A
// peer given the same fixed mode config address as an older SA (the same client
// reconnecting from elsewhere before the old SA died) takes it over: the older SAs are
// returned to be deleted. SAs of the same peer ID from the same address (a
// reauthentication, a rekey) do not count.
func (sa *IKESA) dynamicConflict(local, remote []Selector) (other, why string, replaced []*IKESA) {
	// A configured policy of another peer is never overlapped: the generated one would
	// take its traffic (a group-PSK client asking for a site-to-site policy's selectors).
	for _, p := range sa.d.peers {
		if p == sa.peer {
			continue
		}
		for _, c := range p.Children {
			if !c.Dynamic && selOverlapAny([]Selector{c.Remote}, remote) && selOverlapAny([]Selector{c.Local}, local) {
				return p.Name, "the generated policy would overlap another peer's configured policy", nil
			}
		}
	}
	for _, o := range sa.d.sas {
		if o == sa || (o.remote.Addr() == sa.remote.Addr() && o.remoteID.Equal(sa.remoteID)) {
			continue
		}
		oVIP := !o.initiator && o.vip.IsValid()
		for _, c := range o.children {
			if c.Policy == nil || !c.Policy.Dynamic || !selOverlapAny(c.RemoteTS, remote) || !selOverlapAny(c.LocalTS, local) {
				continue
			}
			switch {
			case oVIP && o.vip == sa.vip && o.vipLease == nil && sa.vipLease == nil:
				if !slices.Contains(replaced, o) {
					replaced = append(replaced, o)
				}
				continue
			case oVIP || sa.vip.IsValid():
				return o.remote.Addr().String(), "the generated policy would overlap an address mode config gave another peer", nil
			case selSame(c.RemoteTS, remote) && selSame(c.LocalTS, local):
				return o.remote.Addr().String(), "the generated policy would duplicate another peer's dynamic policy", nil
			}
		}
	}
	return "", "", replaced
}

// selSame reports whether a selector of a is one of b.
func selSame(a, b []Selector) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// selOverlapAny reports whether a selector of a intersects one of b.
func selOverlapAny(a, b []Selector) bool {
	for _, x := range a {
		for _, y := range b {
			if _, ok := intersectSel(x, y); ok {
				return true
			}
		}
	}
	return false
}

// matchPolicy narrows the initiator's selectors (tsi: its side, our remote; tsr: our
// local side) to the first policy that intersects them, or creates a dynamic policy
// from a template when the identity has generate-policy.
func (sa *IKESA) matchPolicy(tsi, tsr []Selector) (*ChildConfig, Selector, Selector) {
	for _, c := range sa.peer.Children {
		for _, i := range tsi {
			r, ok := intersectSel(i, c.Remote)
			if !ok {
				continue
			}
			for _, t := range tsr {
				l, ok := intersectSel(t, c.Local)
				if ok {
					return c, l, r
				}
			}
		}
	}
	if sa.ident == nil || sa.ident.GeneratePolicy == "" || sa.ident.GeneratePolicy == "no" {
		return nil, Selector{}, Selector{}
	}
	for _, t := range sa.ident.Templates {
		for _, i := range tsi {
			for _, r := range tsr {
				ii, r := i, r
				if sa.ident.GeneratePolicy == "port-override" {
					ii.StartPort, ii.EndPort, r.StartPort, r.EndPort = 0, 65535, 0, 65535
				}
				rem, ok1 := intersectSel(ii, t.Remote)
				loc, ok2 := intersectSel(r, t.Local)
				if !ok1 || !ok2 || rem != ii || loc != r {
					continue // a template must cover what the peer asks
				}
				dyn := *t
				dyn.Dynamic = true
				dyn.Local, dyn.Remote = loc, rem
				// A policy between other addresses than the SA's own is a tunnel,
				// whatever the template says (RouterOS shows such policies tunnel=yes).
				if loc.Start != loc.End || loc.Start != sa.local.Addr() || rem.Start != rem.End || rem.Start != sa.remote.Addr() {
					dyn.Tunnel = true
				}
				dyn.ReqID = sa.generatedReqID(&dyn)
				return &dyn, loc, rem
			}
		}
	}
	return nil, Selector{}, Selector{}
}

// generatedReqID is the reqid of a policy generated from a template: the one a CHILD SA
// of this IKE SA already has for the same template and selectors (a rekey: IKEv2's
// CREATE_CHILD_SA asks for the old SA's selectors, IKEv1's is a new Quick Mode for them),
// else a new one. Linux XFRM with charon keeps it so too (a reqid per set of selectors).
// With a new reqid, the old SA's generated policy, ahead in the SPD until the old SA
// went, refused the new SA's packets (in-template-mismatches): 150-200 ms of traffic lost
// at each rekey the initiator started.
func (sa *IKESA) generatedReqID(dyn *ChildConfig) uint32 {
	for _, c := range sa.children {
		p := c.Policy
		if p != nil && p.Dynamic && p.ID == dyn.ID && p.Local == dyn.Local && p.Remote == dyn.Remote && p.Tunnel == dyn.Tunnel {
			return c.ReqID
		}
	}
	sa.d.reqID++
	return sa.d.reqID
}

func intersectSel(a, b Selector) (Selector, bool) {
	if a.Start.Is4() != b.Start.Is4() {
		return Selector{}, false
	}
	out := a
	switch {
	case a.IPProto == 0:
		out.IPProto = b.IPProto
	case b.IPProto != 0 && a.IPProto != b.IPProto:
		return Selector{}, false
	}
	out.StartPort, out.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if out.StartPort > out.EndPort {
		return Selector{}, false
	}
	if a.Start.Less(b.Start) {
		out.Start = b.Start
	}
	if b.End.Less(a.End) {
		out.End = b.End
	}
	if out.End.Less(out.Start) {
		return Selector{}, false
	}
	return out, true
}

// SelectorFromPrefix is the selector of a policy side: an address prefix, an IP
// protocol (0: all) and a port (0: any).
func SelectorFromPrefix(p netip.Prefix, proto uint8, port uint16) Selector {
	p = p.Masked()
	s := Selector{IPProto: proto, Start: p.Addr(), End: lastAddr(p), StartPort: 0, EndPort: 65535}
	if port != 0 {
		s.StartPort, s.EndPort = port, port
	}
	return s
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func selString(ss []Selector) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// String writes a selector as a prefix when it is one, else as a range.
func (s Selector) String() string {
	var a string
	if p, ok := rangePrefix(s.Start, s.End); ok {
		a = p.String()
	} else {
		a = s.Start.String() + "-" + s.End.String()
	}
	if s.IPProto != 0 {
		a += fmt.Sprintf("[%d", s.IPProto)
		if s.StartPort != 0 || s.EndPort != 65535 {
			a += fmt.Sprintf("/%d-%d", s.StartPort, s.EndPort)
		}
		a += "]"
	}
	return a
}

func rangePrefix(a, b netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= a.BitLen(); bits++ {
		p := netip.PrefixFrom(a, bits)
		if p.Masked().Addr() == a && lastAddr(p) == b {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// createChildRequest answers CREATE_CHILD_SA: a new or rekeyed CHILD_SA, or an IKE SA
// rekey.
func (sa *IKESA) createChildRequest(h Header, ps []Payload) {
	if sa.state != stateEstablished {
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyTemporaryFailure}})
		return
	}
	sap, ni := Find[*SA](ps), Find[*Nonce](ps)
	if sap == nil || ni == nil || len(sap.Proposals) == 0 {
		sa.d.log.Warn("ipsec: malformed request", "peer", sa.peer.Name, "exchange", h.Exchange, "err", "CREATE_CHILD_SA without SA or nonce")
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidSyntax}})
		return
	}
	nr := nonce()
	ke := Find[*KE](ps)
	if sap.Proposals[0].Protocol == ProtoIKE {
		sa.rekeyIKERequest(h, sap, ni.Data, nr, ke)
		return
	}
	var old *ChildSA
	if n := FindNotify(ps, NotifyRekeySA); n != nil && len(n.SPI) == 4 {
		spi := binary.BigEndian.Uint32(n.SPI)
		for _, c := range sa.children {
			if c.OutSPI == spi {
				old = c
			}
		}
		if old == nil || old.rekeyed {
			sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{Protocol: ProtoESP, SPI: n.SPI, NType: NotifyChildSANotFound}})
			return
		}
	}
	var shared []byte
	var dh DH
	if ke != nil {
		// PFS: answer in the group the initiator picked when our proposals allow it.
		var err error
		if dh, err = NewDH(ke.Group); err != nil {
			g := sa.childDHGroup()
			sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name, "reason", "unsupported PFS group", "group", ke.Group, "ours", g)
			if g == 0 {
				// No PFS group of ours to ask for: refusing the SA leaves the IKE SA up
				// (INVALID_SYNTAX would make the peer tear it down, RFC 7296 3.10.1).
				sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyNoProposalChosen}})
				return
			}
			var b [2]byte
			binary.BigEndian.PutUint16(b[:], g)
			sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidKEPayload, Data: b[:]}})
			return
		}
		if shared, err = dh.Shared(ke.Data); err != nil {
			sa.d.log.Warn("ipsec: CHILD SA refused", "peer", sa.peer.Name, "reason", "bad PFS key exchange", "err", err)
			sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyNoProposalChosen}})
			return
		}
	}
	out, c := sa.acceptChild(ps, ni.Data, nr, shared)
	if c != nil {
		out = append(out, &Nonce{Data: nr})
		if dh != nil {
			out = append(out, &KE{Group: dh.Group(), Data: dh.Public()})
		}
		if old != nil {
			c.LocalTS, c.RemoteTS = old.LocalTS, old.RemoteTS
			if old.rekeying {
				old.collision = c
			}
		}
	}
	sa.answerWithChild(h, out, c, old)
}

// rekeyIKERequest answers an IKE SA rekey (RFC 7296 2.18).
func (sa *IKESA) rekeyIKERequest(h Header, sap *SA, ni, nr []byte, ke *KE) {
	chosen, ok := Select(sap.Proposals, sa.peer.Proposals)
	if !ok || len(chosen.SPI) != 8 || ke == nil {
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyNoProposalChosen}})
		return
	}
	if sa.childExchangeOpen() {
		// Our own CHILD SA exchange on this IKE SA is not answered yet: its answer
		// would come on this IKE SA after the CHILD SAs moved to the new one, and a
		// rekeyed CHILD SA installed here then went with this SA's delete while the
		// peer kept it (a blackhole until the next rekey), a delete answered here
		// removed nothing. The peer tries again shortly (RFC 7296 2.25, as charon).
		sa.d.log.Info("ipsec: IKE SA rekey by the peer put off: a CHILD SA exchange is in flight", "peer", sa.peer.Name)
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyTemporaryFailure}})
		return
	}
	suite, _ := SuiteOf(chosen)
	if ke.Group != suite.DH {
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], suite.DH)
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidKEPayload, Data: g[:]}})
		return
	}
	dh, err := NewDH(suite.DH)
	if err != nil {
		return
	}
	shared, err := dh.Shared(ke.Data)
	if err != nil {
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidSyntax}})
		return
	}
	spi := sa.d.newSPI()
	n := sa.successor(false, spi, binary.BigEndian.Uint64(chosen.SPI), suite, ni, nr)
	if err := n.deriveKeys(shared, sa.skD, sa.suite.PRF); err != nil {
		return
	}
	resp := *chosen
	resp.SPI = spi64(spi)
	sa.respond(h.Exchange, h.MsgID, []Payload{&SA{Proposals: []Proposal{resp}}, &Nonce{Data: nr}, &KE{Group: dh.Group(), Data: dh.Public()}})
	n.recvReqID = 0
	sa.d.sas[spi] = n
	sa.d.Stats.IKERekeys.Add(1)
	if sa.rekeying {
		sa.acceptPeerRekey(n) // both rekey at once: the nonces decide (2.8.2)
		return
	}
	n.children = sa.children
	sa.children = nil
	sa.handedTo = n
	n.redoDeletes()
	sa.d.log.Info("ipsec: IKE SA rekeyed by the peer", "peer", sa.peer.Name, "suite", n.suite.String())
	sa.d.changed()
}

// childExchangeOpen says whether a request of ours about CHILD SAs (a CREATE_CHILD_SA
// that is no IKE SA rekey, a delete of CHILD SAs) is in flight or queued on sa.
func (sa *IKESA) childExchangeOpen() bool {
	open := func(r *request) bool {
		if r == nil {
			return false
		}
		switch r.exch {
		case CreateChildSA:
			p := Find[*SA](r.payloads)
			return p == nil || len(p.Proposals) == 0 || p.Proposals[0].Protocol != ProtoIKE
		case Informational:
			for _, p := range r.payloads {
				if del, ok := p.(*Delete); ok && del.Protocol != ProtoIKE {
					return true
				}
			}
		}
		return false
	}
	if open(sa.pending) {
		return true
	}
	return slices.ContainsFunc(sa.queue, open)
}

// informational answers INFORMATIONAL requests: deletes, DPD probes, notifies.
func (sa *IKESA) informational(h Header, ps []Payload) {
	var out []Payload
	var deleteIKE bool
	if n := FindNotify(ps, NotifyAuthenticationFailed); n != nil && !sa.initiator {
		// The initiator refused our IKE_AUTH answer (RFC 7296 2.21.2): the SA never was.
		sa.d.Stats.AuthFailed.Add(1)
		sa.d.log.Warn("ipsec: the peer refused our authentication (AUTHENTICATION_FAILED)",
			"peer", sa.peer.Name, "remote", sa.remote.Addr(), "remote-id", sa.remoteID.String())
		sa.respond(h.Exchange, h.MsgID, nil)
		sa.destroy("the peer refused our authentication")
		return
	}
	for _, p := range ps {
		del, ok := p.(*Delete)
		if !ok {
			continue
		}
		switch del.Protocol {
		case ProtoIKE:
			deleteIKE = true
		case ProtoESP, ProtoAH:
			var ours [][]byte
			for _, s := range del.SPIs {
				if len(s) != 4 {
					continue
				}
				spi := binary.BigEndian.Uint32(s)
				holder, c := sa.childByOutSPI(spi)
				if c == nil {
					continue
				}
				if !c.rekeyed || !c.deleteAt.IsZero() { // not already being deleted by us
					ours = append(ours, spiBytes(c.InSPI))
				}
				holder.peerDeletedChild(c)
			}
			if len(ours) > 0 {
				out = append(out, &Delete{Protocol: del.Protocol, SPIs: ours})
			}
		}
	}
	sa.respond(h.Exchange, h.MsgID, out)
	if deleteIKE {
		sa.d.log.Info("ipsec: peer deleted the IKE SA", "peer", sa.peer.Name, "remote", sa.remote.Addr())
		if n := sa.peerRekey; n != nil && n.state != stateDead {
			// Its rekey won before our exchange ended: the CHILD_SAs live on there.
			sa.peerRekey = nil
			sa.moveChildren(n)
		}
		sa.destroy("deleted by the peer")
	}
}
