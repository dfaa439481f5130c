package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Quick Mode (RFC 2409 5.5), informational exchanges, DPD (RFC 3706) and the timers of
// IKEv1 SAs.

func (sa *IKESA) v1NewMsgID() uint32 {
	for {
		var b [4]byte
		rand.Read(b[:])
		id := binary.BigEndian.Uint32(b[:])
		if id != 0 && sa.v1.qms[id] == nil {
			return id
		}
	}
}

// v1HashedSeal builds an encrypted message whose first payload is HASH = prf(SKEYID_a,
// M-ID | pre... | the payloads after HASH).
func (sa *IKESA) v1HashedSeal(exch ExchangeType, msgID uint32, pre [][]byte, rest []v1Payload, iv []byte) ([]byte, []byte) {
	k := sa.v1.keys
	restB, first := appendV1Payloads(nil, rest)
	parts := append([][]byte{binary.BigEndian.AppendUint32(nil, msgID)}, pre...)
	h := k.hash.Sum(k.a, append(parts, restB)...)
	body := append([]byte{first, 0, byte((4 + len(h)) >> 8), byte(4 + len(h))}, h...)
	body = append(body, restB...)
	ct := k.encrypt(iv, body)
	b := v1Header(sa.spiI, sa.spiR, v1PHash, exch, v1FlagEncrypted, msgID, HeaderLen+len(ct))
	return append(b, ct...), lastBlock(ct, len(iv))
}

// v1CheckHash verifies the leading HASH payload of a decrypted message.
func (sa *IKESA) v1CheckHash(ps []v1Payload, pt []byte, msgID uint32, pre ...[]byte) bool {
	if len(ps) == 0 || ps[0].Type != v1PHash {
		return false
	}
	start := ps[0].Off + 4 + len(ps[0].Body)
	last := ps[len(ps)-1]
	end := last.Off + 4 + len(last.Body)
	k := sa.v1.keys
	parts := append([][]byte{binary.BigEndian.AppendUint32(nil, msgID)}, pre...)
	want := k.hash.Sum(k.a, append(parts, pt[start:end])...)
	return hmac.Equal(ps[0].Body, want)
}

func (sa *IKESA) v1Encap(tunnel bool) uint16 {
	nat := sa.natLocal || sa.natRemote
	switch {
	case nat && sa.v1.natt == v1NATTRFC:
		if tunnel {
			return v1EncapUDPTunnel
		}
		return v1EncapUDPTransport
	case nat && sa.v1.natt == v1NATTDraft:
		if tunnel {
			return v1EncapUDPTunnelDraft
		}
		return v1EncapUDPTranspDraft
	case tunnel:
		return v1EncapTunnel
	}
	return v1EncapTransport
}

// v1ESPOffers turns a policy's proposals into Quick Mode ESP proposals.
func (sa *IKESA) v1ESPOffers(cfg *ChildConfig, spi uint32, pfs uint16) []v1Proposal {
	var out []v1Proposal
	for _, p := range cfg.Proposals {
		var encs []Transform
		var integs []uint16
		for _, t := range p.Transforms {
			switch t.Type {
			case TransformENCR:
				encs = append(encs, t)
			case TransformINTEG:
				integs = append(integs, t.ID)
			}
		}
		prop := v1Proposal{Num: uint8(len(out) + 1), Proto: v1ProtoESP, SPI: spiBytes(spi)}
		for _, e := range encs {
			spec := Encr(e.ID)
			auths := integs
			if spec == nil || spec.AEAD() || len(auths) == 0 {
				auths = []uint16{IntegNone}
			}
			for _, a := range auths {
				t := v1Transform{Num: uint8(len(prop.Transforms) + 1), ID: uint8(e.ID)}
				if cfg.Lifetime > 0 {
					t.Attrs = append(t.Attrs, v1Attr{v1PAttrLifeType, v1LifeSeconds}, v1Attr{v1PAttrLifeDur, uint64(cfg.Lifetime / time.Second)})
				}
				if cfg.Lifebytes > 0 {
					t.Attrs = append(t.Attrs, v1Attr{v1PAttrLifeType, v1LifeKilobytes}, v1Attr{v1PAttrLifeDur, cfg.Lifebytes / 1024})
				}
				if pfs != 0 {
					t.Attrs = append(t.Attrs, v1Attr{v1PAttrGroup, uint64(pfs)})
				}
				t.Attrs = append(t.Attrs, v1Attr{v1PAttrEncap, uint64(sa.v1Encap(cfg.Tunnel))})
				if a != IntegNone {
					aid, _ := reverse16(v1AuthAlgs, a)
					t.Attrs = append(t.Attrs, v1Attr{v1PAttrAuth, uint64(aid)})
				}
				if e.KeyLen != 0 {
					t.Attrs = append(t.Attrs, v1Attr{v1PAttrKeyLength, uint64(e.KeyLen)})
				}
				prop.Transforms = append(prop.Transforms, t)
			}
		}
		if len(prop.Transforms) > 0 {
			out = append(out, prop)
		}
	}
	return out
}

// v1ESP is a decoded ESP transform.
type v1ESP struct {
	suite  *Suite
	group  uint16
	encap  uint16
	life   time.Duration
	lifeKB uint64
}

func v1ESPOf(t *v1Transform) (v1ESP, error) {
	var e v1ESP
	spec := Encr(uint16(t.ID))
	if spec == nil {
		return e, fmt.Errorf("%w: ESP transform %d", ErrNotSupported, t.ID)
	}
	s := &Suite{Protocol: ProtoESP, Encr: spec}
	lifeType := uint64(0)
	for _, a := range t.Attrs {
		switch a.Type {
		case v1PAttrLifeType:
			lifeType = a.Value
		case v1PAttrLifeDur:
			if lifeType == v1LifeKilobytes {
				e.lifeKB = a.Value
			} else {
				e.life = time.Duration(min(a.Value, 1<<32)) * time.Second
			}
		case v1PAttrGroup:
			e.group = uint16(a.Value)
		case v1PAttrEncap:
			e.encap = uint16(a.Value)
		case v1PAttrAuth:
			id, ok := v1AuthAlgs[uint16(a.Value)]
			if !ok {
				return e, fmt.Errorf("%w: ESP auth algorithm %d", ErrNotSupported, a.Value)
			}
			s.Integ = Integ(id)
		case v1PAttrKeyLength:
			s.KeyBits = int(a.Value)
		}
	}
	if spec.KeyLens != nil && s.KeyBits == 0 {
		s.KeyBits = 128
	}
	if spec.KeyLens == nil && s.KeyBits != 0 {
		return e, fmt.Errorf("%w: key length for %s", ErrNotSupported, spec.Name)
	}
	if spec.AEAD() != (s.Integ == nil) {
		return e, fmt.Errorf("%w: %s with integrity %v", ErrNotSupported, spec.Name, s.Integ != nil)
	}
	if e.group != 0 && !DHSupported(e.group) {
		return e, fmt.Errorf("%w: PFS group %d", ErrNotSupported, e.group)
	}
	s.DH = e.group
	e.suite = s
	return e, nil
}

// v1Accepts reports whether one of our proposals allows an ESP transform.
func v1Accepts(ours []Proposal, e v1ESP, pfs uint16) bool {
	if pfs != 0 && e.group != pfs {
		return false
	}
	for _, p := range ours {
		encOK, integOK := false, e.suite.Integ == nil
		for _, t := range p.Transforms {
			switch t.Type {
			case TransformENCR:
				if t.ID == e.suite.Encr.ID && int(t.KeyLen) == e.suite.KeyBits {
					encOK = true
				}
			case TransformINTEG:
				if e.suite.Integ != nil && t.ID == e.suite.Integ.ID {
					integOK = true
				}
			}
		}
		if encOK && integOK {
			return true
		}
	}
	return false
}

func encapTunnel(m uint16) bool {
	return m == v1EncapTunnel || m == v1EncapUDPTunnel || m == v1EncapUDPTunnelDraft
}

// v1CreateChild starts a Quick Mode for a policy (rekey: replacing an IPsec SA).
func (sa *IKESA) v1CreateChild(cfg *ChildConfig, rekey *ChildSA) {
	v := sa.v1
	if sa.state != stateEstablished || v.p1iv == nil || !sa.v1Ready() {
		return
	}
	for _, q := range v.qms {
		if q.initiator && !q.done && q.xchg == 0 && (q.cfg == cfg || q.cfg.ID == cfg.ID && q.cfg.Local == cfg.Local && q.cfg.Remote == cfg.Remote) {
			return // one at a time per policy (the engine may hand a new copy of it)
		}
	}
	qm := &v1QM{msgID: sa.v1NewMsgID(), initiator: true, cfg: cfg, spi: sa.d.newChildSPI(), rekey: rekey, created: time.Now()}
	qm.ni = nonce()[:20]
	pfs := firstDH(cfg.Proposals)
	if pfs != 0 {
		dh, err := NewDH(pfs)
		if err != nil {
			return
		}
		qm.dh = dh
	}
	qm.offers = sa.v1ESPOffers(cfg, qm.spi, pfs)
	if len(qm.offers) == 0 {
		sa.d.log.Warn("ipsec: the policy's proposal has nothing IKEv1 can offer", "peer", sa.peer.Name, "policy", cfg.ID)
		return
	}
	local, remote := cfg.Local, cfg.Remote
	if rekey != nil && len(rekey.LocalTS) > 0 && len(rekey.RemoteTS) > 0 {
		local, remote = rekey.LocalTS[0], rekey.RemoteTS[0]
	}
	ps := []v1Payload{{Type: v1PSA, Body: (&v1SAPayload{Proposals: qm.offers}).encode()}, {Type: v1PNonce, Body: qm.ni}}
	if qm.dh != nil {
		ps = append(ps, v1Payload{Type: v1PKE, Body: qm.dh.Public()})
	}
	ps = append(ps, v1Payload{Type: v1PID, Body: selectorID(local).encode()}, v1Payload{Type: v1PID, Body: selectorID(remote).encode()})
	qm.iv = v.keys.ivFor(v.p1iv, qm.msgID)
	qm.out, qm.iv = sa.v1HashedSeal(v1ExchQuick, qm.msgID, nil, ps, qm.iv)
	qm.wait, qm.sentAt, qm.tries, qm.timeout = true, time.Now(), 1, sa.d.opts.Retransmit
	v.qms[qm.msgID] = qm
	sa.sendPkts([][]byte{qm.out})
}

// v1Quick handles a Quick Mode message.
func (sa *IKESA) v1Quick(b []byte, h Header, from, local netip.AddrPort) {
	v := sa.v1
	qm := v.qms[h.MsgID]
	if qm != nil && qm.xchg != 0 {
		sa.d.Stats.ReplayedOrStale.Add(1) // a transaction's message ID
		return
	}
	if qm != nil && qm.lastIn != nil && string(qm.lastIn) == string(b) {
		// A retransmission: the peer missed our answer.
		sa.d.Stats.ReplayedOrStale.Add(1)
		if qm.out != nil {
			sa.sendPkts([][]byte{qm.out})
		}
		return
	}
	if qm == nil {
		sa.v1QuickR1(b, h, from, local)
		return
	}
	if qm.done {
		sa.d.Stats.ReplayedOrStale.Add(1)
		return
	}
	ps, pt, next, err := sa.v1Open(b, h, qm.iv)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	if qm.initiator {
		if !sa.v1CheckHash(ps, pt, h.MsgID, qm.ni) {
			sa.v1BadHash()
			sa.d.log.Warn("ipsec: quick mode reply with a bad hash dropped", "peer", sa.peer.Name)
			return
		}
		sa.v1Alive(from, local)
		qm.lastIn, qm.iv = b, next
		sa.v1QuickI2(qm, ps, h)
		return
	}
	// Responder: message 3.
	// HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
	_ = pt
	k := v.keys
	want := k.hash.Sum(k.a, []byte{0}, binary.BigEndian.AppendUint32(nil, h.MsgID), qm.ni, qm.nr)
	if len(ps) == 0 || ps[0].Type != v1PHash || !hmac.Equal(ps[0].Body, want) {
		sa.v1BadHash()
		sa.d.log.Warn("ipsec: quick mode message 3 with a bad hash dropped", "peer", sa.peer.Name)
		return
	}
	sa.v1Alive(from, local)
	qm.lastIn, qm.done, qm.wait = b, true, false
	qm.out = nil
	if c := qm.child; c != nil {
		qm.child = nil
		sa.v1ResponderInstall(c)
		if qm.commit {
			n := &v1Notify{Proto: v1ProtoESP, Type: v1NConnected, SPI: spiBytes(c.InSPI)}
			sa.v1SendInfo([]v1Payload{{Type: v1PNotify, Body: n.encode()}})
		}
	}
}

// v1BadHash counts a message whose HASH does not verify (a protocol error of the
// statistics, as an IKEv2 message whose ICV fails).
func (sa *IKESA) v1BadHash() {
	sa.d.Stats.Malformed.Add(1)
	sa.d.Stats.BadIntegrity.Add(1)
}

// v1Alive notes a verified message: the peer lives, and behind a NAT this is its
// address now.
func (sa *IKESA) v1Alive(from, local netip.AddrPort) {
	sa.lastRecv = time.Now()
	if sa.natRemote && from != sa.remote && sa.state == stateEstablished {
		sa.moveTo(from, "IKE")
	}
}

func (sa *IKESA) v1QuickI2(qm *v1QM, ps []v1Payload, h Header) {
	v := sa.v1
	fail := func(why string) {
		qm.done, qm.wait = true, false
		sa.d.log.Warn("ipsec: quick mode failed", "peer", sa.peer.Name, "policy", qm.cfg.ID, "reason", why)
		if qm.rekey != nil {
			qm.rekey.rekeying = false
		}
		sa.childFailed(qm.cfg, qm.rekey, why)
	}
	sap, np := findV1(ps, v1PSA), findV1(ps, v1PNonce)
	if sap == nil || np == nil || len(np.Body) < 8 || len(np.Body) > 256 {
		sa.d.Stats.Malformed.Add(1)
		fail("reply without SA or nonce")
		return
	}
	r, err := parseV1SA(sap.Body)
	if err != nil || len(r.Proposals) != 1 || len(r.Proposals[0].Transforms) != 1 || len(r.Proposals[0].SPI) != 4 || r.Proposals[0].Proto != v1ProtoESP {
		sa.d.Stats.Malformed.Add(1)
		fail("reply with a bad SA")
		return
	}
	e, err := v1ESPOf(&r.Proposals[0].Transforms[0])
	if err != nil || !v1Accepts(qm.cfg.Proposals, e, firstDH(qm.cfg.Proposals)) {
		fail("the peer chose a transform that was not offered")
		return
	}
	qm.nr = append([]byte(nil), np.Body...)
	if qm.dh != nil {
		kp := findV1(ps, v1PKE)
		if kp == nil {
			fail("reply without the PFS key exchange")
			return
		}
		if qm.gxy, err = qm.dh.Shared(kp.Body); err != nil {
			fail(err.Error())
			return
		}
	}
	life := qm.cfg.Lifetime
	if e.life > 0 && (life == 0 || e.life < life) {
		life = e.life
	}
	for _, p := range allV1(ps, v1PNotify) {
		if n, err := parseV1Notify(p.Body); err == nil && n.Type == v1NResponderLifetime {
			if l := v1NotifyLifetime(n.Data); l > 0 && (life == 0 || l < life) {
				sa.d.log.Info("ipsec: responder shortened the lifetime", "peer", sa.peer.Name, "lifetime", l)
				life = l
			}
		}
	}
	local, remote := qm.cfg.Local, qm.cfg.Remote
	if qm.rekey != nil && len(qm.rekey.LocalTS) > 0 {
		local, remote = qm.rekey.LocalTS[0], qm.rekey.RemoteTS[0]
	}
	k := v.keys
	h3 := k.hash.Sum(k.a, []byte{0}, binary.BigEndian.AppendUint32(nil, h.MsgID), qm.ni, qm.nr)
	qm.out, qm.iv = sa.v1Seal(v1ExchQuick, h.MsgID, 0, []v1Payload{{Type: v1PHash, Body: h3}}, qm.iv)
	qm.done, qm.wait = true, false
	sa.sendPkts([][]byte{qm.out})
	c := sa.v1MakeChild(qm, e.suite, binary.BigEndian.Uint32(r.Proposals[0].SPI), encapTunnel(e.encap) || qm.cfg.Tunnel, life, true)
	c.LocalTS, c.RemoteTS = []Selector{local}, []Selector{remote}
	if h.Flags&v1FlagCommit != 0 {
		// The responder asked for the commit bit (RFC 2408 3.1): the SA is used once its
		// CONNECTED notify arrives.
		qm.child, qm.commit = c, true
		return
	}
	if old := qm.rekey; old != nil {
		sa.d.Stats.ChildRekeys.Add(1)
		sa.v1InitiatorRekeyed(c, old)
	} else {
		sa.v1Install(c)
		sa.v1DropRedundantChild(c)
	}
}

func v1NotifyLifetime(b []byte) time.Duration {
	// RESPONDER-LIFETIME data is SA attributes: life type, life duration.
	t := v1Transform{}
	ab := b
	for len(ab) >= 4 {
		typ := binary.BigEndian.Uint16(ab)
		if typ&0x8000 != 0 {
			t.Attrs = append(t.Attrs, v1Attr{typ &^ 0x8000, uint64(binary.BigEndian.Uint16(ab[2:]))})
			ab = ab[4:]
			continue
		}
		l := int(binary.BigEndian.Uint16(ab[2:]))
		if l > 8 || len(ab) < 4+l {
			return 0
		}
		var v uint64
		for _, c := range ab[4 : 4+l] {
			v = v<<8 | uint64(c)
		}
		t.Attrs = append(t.Attrs, v1Attr{typ, v})
		ab = ab[4+l:]
	}
	e, _ := lifeOf(t.Attrs)
	return e
}

func lifeOf(as []v1Attr) (time.Duration, uint64) {
	var lt uint64
	var life time.Duration
	var kb uint64
	for _, a := range as {
		switch a.Type {
		case v1PAttrLifeType:
			lt = a.Value
		case v1PAttrLifeDur:
			if lt == v1LifeKilobytes {
				kb = a.Value
			} else {
				life = time.Duration(min(a.Value, 1<<32)) * time.Second
			}
		}
	}
	return life, kb
}

// v1MakeChild derives an IPsec SA pair's keys (KEYMAT per direction, with the SPI of
// the receiving side).
func (sa *IKESA) v1MakeChild(qm *v1QM, s *Suite, outSPI uint32, tunnel bool, life time.Duration, initiatedHere bool) *ChildSA {
	k := sa.v1.keys
	el, il := s.EncrKeyLen(), s.IntegKeyLen()
	ni, nr := qm.ni, qm.nr
	in := k.keymat(qm.gxy, v1ProtoESP, qm.spi, ni, nr, el+il)
	out := k.keymat(qm.gxy, v1ProtoESP, outSPI, ni, nr, el+il)
	c := &ChildSA{Peer: sa.peer.Name, Policy: qm.cfg, ReqID: qm.cfg.ReqID, InSPI: qm.spi, OutSPI: outSPI,
		Local: sa.local, Remote: sa.remote, Encap: sa.natLocal || sa.natRemote, Tunnel: tunnel, Suite: s,
		Added: time.Now(), Initiator: initiatedHere, nonceI: ni, nonceR: nr, Lifetime: life, Lifebytes: qm.cfg.Lifebytes,
		InEncKey: in[:el], InIntegKey: in[el:], OutEncKey: out[:el], OutIntegKey: out[el:]}
	if life > 0 {
		c.Soft = jitter(life, 0.8, initiatedHere)
	}
	return c
}

func (sa *IKESA) v1Install(c *ChildSA) {
	_ = sa.installChild(c) // a refusal deletes it at the peer (refuseChild)
	if sa.done != nil {
		sa.done <- nil
		sa.done = nil
	}
}

// v1QuickR1 answers the first Quick Mode message (responder).
func (sa *IKESA) v1QuickR1(b []byte, h Header, from, local netip.AddrPort) {
	v := sa.v1
	if len(v.qms) > 64 {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	iv := v.keys.ivFor(v.p1iv, h.MsgID)
	ps, pt, next, err := sa.v1Open(b, h, iv)
	if err != nil || !sa.v1CheckHash(ps, pt, h.MsgID) {
		sa.v1BadHash()
		sa.d.log.Debug("ipsec: quick mode message dropped (bad hash or payloads)", "peer", sa.peer.Name)
		return
	}
	sa.v1Alive(from, local)
	sap, np := findV1(ps, v1PSA), findV1(ps, v1PNonce)
	ids := allV1(ps, v1PID)
	if sap == nil || np == nil || len(np.Body) < 8 || len(np.Body) > 256 || (len(ids) != 0 && len(ids) != 2) {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	offer, err := parseV1SA(sap.Body)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	qm := &v1QM{msgID: h.MsgID, created: time.Now(), ni: append([]byte(nil), np.Body...), nr: nonce()[:20], lastIn: b,
		commit: h.Flags&v1FlagCommit != 0}
	v.qms[h.MsgID] = qm
	qm.done = true // until it is answered, nothing more is expected
	notify := func(t uint16, why string) {
		sa.d.log.Warn("ipsec: quick mode refused", "peer", sa.peer.Name, "reason", why)
		n := &v1Notify{Proto: v1ProtoESP, Type: t}
		if len(offer.Proposals) > 0 {
			n.SPI = offer.Proposals[0].SPI
		}
		sa.v1SendInfo([]v1Payload{{Type: v1PNotify, Body: n.encode()}})
	}
	// The initiator's side (IDci) is our remote, IDcr our local.
	ri := SelectorFromPrefix(netip.PrefixFrom(sa.remote.Addr(), sa.remote.Addr().BitLen()), 0, 0)
	li := SelectorFromPrefix(netip.PrefixFrom(sa.local.Addr(), sa.local.Addr().BitLen()), 0, 0)
	var idciB, idcrB []byte
	if len(ids) == 2 {
		idci, err1 := parseV1ID(ids[0].Body)
		idcr, err2 := parseV1ID(ids[1].Body)
		if err1 != nil || err2 != nil {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		var e1, e2 error
		ri, e1 = idci.selector()
		li, e2 = idcr.selector()
		if e1 != nil || e2 != nil {
			notify(v1NInvalidIDInformation, "unsupported ID type")
			return
		}
		idciB, idcrB = ids[0].Body, ids[1].Body
	}
	if !sa.v1Ready() {
		notify(v1NAuthFailed, "quick mode before XAuth completed")
		return
	}
	if sa.vip.IsValid() && (ri.Start != sa.vip || ri.End != sa.vip) {
		// The peer's side is the address mode config gave it, nothing else.
		notify(v1NInvalidIDInformation, "the peer's ID "+ri.String()+" is not its mode config address "+sa.vip.String())
		return
	}
	cfg, l, r := sa.matchPolicy([]Selector{ri}, []Selector{li})
	if cfg == nil || l != li || r != ri {
		sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s failed to get sainfo: no policy for %s <=> %s", sa.remote.Addr(), li, ri))
		notify(v1NInvalidIDInformation, "no policy matches "+li.String()+" <=> "+ri.String())
		return
	}
	ourPFS := firstDH(cfg.Proposals)
	var chosen *v1Proposal
	var chosenT v1Transform
	var esp v1ESP
	var rejectLife string
	for i := range offer.Proposals {
		p := &offer.Proposals[i]
		if p.Proto != v1ProtoESP || len(p.SPI) != 4 {
			continue
		}
		for _, t := range p.Transforms {
			e, err := v1ESPOf(&t)
			if err != nil || !v1Accepts(cfg.Proposals, e, ourPFS) {
				continue
			}
			if why := sa.v1CheckLifetime(cfg, &e); why != "" {
				rejectLife = why
				continue
			}
			chosen, chosenT, esp = p, t, e
			break
		}
		if chosen != nil {
			break
		}
	}
	if chosen == nil {
		sa.d.Stats.NoProposal.Add(1)
		if rejectLife != "" {
			sa.d.rosLog(slog.LevelWarn, rejectLife)
		}
		sa.d.rosLog(slog.LevelWarn, "no suitable proposal found.")
		sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s failed to pre-process ph2 packet.", sa.remote.Addr()))
		notify(v1NNoProposalChosen, "no suitable proposal")
		return
	}
	if esp.group != 0 {
		kp := findV1(ps, v1PKE)
		if kp == nil {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		dh, err := NewDH(esp.group)
		if err != nil {
			return
		}
		if qm.gxy, err = dh.Shared(kp.Body); err != nil {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		qm.dh = dh
	}
	qm.cfg = cfg
	qm.spi = sa.d.newChildSPI()
	tunnel := encapTunnel(esp.encap)
	c := sa.v1MakeChild(qm, esp.suite, binary.BigEndian.Uint32(chosen.SPI), tunnel, esp.life, false)
	c.LocalTS, c.RemoteTS = []Selector{l}, []Selector{r}
	qm.child = c
	reply := v1Proposal{Num: chosen.Num, Proto: v1ProtoESP, SPI: spiBytes(qm.spi), Transforms: []v1Transform{chosenT}}
	out := []v1Payload{{Type: v1PSA, Body: (&v1SAPayload{Proposals: []v1Proposal{reply}}).encode()}, {Type: v1PNonce, Body: qm.nr}}
	if qm.dh != nil {
		out = append(out, v1Payload{Type: v1PKE, Body: qm.dh.Public()})
	}
	if idciB != nil {
		out = append(out, v1Payload{Type: v1PID, Body: idciB}, v1Payload{Type: v1PID, Body: idcrB})
	}
	if esp.life != 0 && cfg.Lifetime != 0 && esp.life > cfg.Lifetime && sa.peer.ProposalCheck == "claim" {
		c.Lifetime, c.Soft = cfg.Lifetime, jitter(cfg.Lifetime, 0.8, false)
		attrs := binary.BigEndian.AppendUint16(nil, 0x8000|v1PAttrLifeType)
		attrs = binary.BigEndian.AppendUint16(attrs, v1LifeSeconds)
		attrs = binary.BigEndian.AppendUint16(attrs, v1PAttrLifeDur)
		attrs = binary.BigEndian.AppendUint16(attrs, 4)
		attrs = binary.BigEndian.AppendUint32(attrs, uint32(cfg.Lifetime/time.Second))
		n := &v1Notify{Proto: v1ProtoESP, Type: v1NResponderLifetime, SPI: chosen.SPI, Data: attrs}
		out = append(out, v1Payload{Type: v1PNotify, Body: n.encode()})
	}
	qm.iv = next
	qm.out, qm.iv = sa.v1HashedSeal(v1ExchQuick, h.MsgID, [][]byte{qm.ni}, out, qm.iv)
	sa.v1EarlyInbound(c)
	qm.done = false
	qm.wait, qm.sentAt, qm.tries, qm.timeout = true, time.Now(), 1, sa.d.opts.Retransmit
	sa.sendPkts([][]byte{qm.out})
}

// v1CheckLifetime applies the profile's proposal-check to an offered Phase 2 lifetime
// (RouterOS's obey, claim, strict, exact); it returns why the offer is refused.
func (sa *IKESA) v1CheckLifetime(cfg *ChildConfig, e *v1ESP) string {
	ours := cfg.Lifetime
	theirs := e.life
	if theirs == 0 {
		theirs = 8 * time.Hour // RFC 2407 4.5: the default when none is sent
	}
	switch sa.peer.ProposalCheck {
	case "exact":
		if ours != 0 && theirs != ours {
			return fmt.Sprintf("%s lifetime mismatch (proposal-check exact): %d:%d", sa.remote.Addr(), int(ours.Seconds()), int(theirs.Seconds()))
		}
	case "strict":
		if ours != 0 && theirs > ours {
			return fmt.Sprintf("%s lifetime longer than ours (proposal-check strict): %d:%d", sa.remote.Addr(), int(ours.Seconds()), int(theirs.Seconds()))
		}
	}
	e.life = theirs
	return ""
}

// v1SendInfo sends an informational exchange with HASH(1) (not retransmitted).
func (sa *IKESA) v1SendInfo(ps []v1Payload) {
	v := sa.v1
	if v.keys == nil || v.p1iv == nil {
		return
	}
	id := sa.v1NewMsgID()
	pkt, _ := sa.v1HashedSeal(v1ExchInfo, id, nil, ps, v.keys.ivFor(v.p1iv, id))
	sa.sendPkts([][]byte{pkt})
}

func (sa *IKESA) v1Cookies() []byte { return append(spi64(sa.spiI), spi64(sa.spiR)...) }

// v1Informational handles an informational exchange.
func (sa *IKESA) v1Informational(b []byte, h Header) {
	v := sa.v1
	if h.Flags&v1FlagEncrypted == 0 {
		// Only before keys exist: an unauthenticated notify, logged and trusted only to
		// end a negotiation that cannot succeed anyway.
		ps, err := parseV1Payloads(b, HeaderLen, uint8(h.NextPayload))
		if err != nil {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		for _, p := range allV1(ps, v1PNotify) {
			n, err := parseV1Notify(p.Body)
			if err != nil {
				continue
			}
			sa.d.log.Warn("ipsec: peer sent notify", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "type", v1NotifyName(n.Type))
			if sa.state == stateEstablished || n.Type >= 8192 {
				continue
			}
			// An error during Phase 1 ends it: the peer gave up on it.
			switch n.Type {
			case v1NNoProposalChosen:
				sa.d.Stats.NoProposal.Add(1)
			case v1NAuthFailed, v1NInvalidHashInfo:
				sa.d.Stats.AuthFailed.Add(1)
			}
			sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s fatal %s notify message, phase1 should be deleted.", sa.remote.Addr(), v1NotifyName(n.Type)))
			sa.destroy("peer sent " + v1NotifyName(n.Type))
			return
		}
		return
	}
	if v.keys == nil || v.p1iv == nil || h.MsgID == 0 {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	if _, seen := v.infoSeen[h.MsgID]; seen {
		sa.d.Stats.ReplayedOrStale.Add(1)
		return
	}
	ps, pt, _, err := sa.v1Open(b, h, v.keys.ivFor(v.p1iv, h.MsgID))
	if err != nil || !sa.v1CheckHash(ps, pt, h.MsgID) {
		sa.v1BadHash()
		return
	}
	v.infoSeen[h.MsgID] = time.Now()
	sa.lastRecv = time.Now()
	for _, p := range ps[1:] {
		switch p.Type {
		case v1PNotify:
			n, err := parseV1Notify(p.Body)
			if err != nil {
				sa.d.Stats.Malformed.Add(1)
				continue
			}
			sa.v1Notify(n)
		case v1PDelete:
			del, err := parseV1Delete(p.Body)
			if err != nil {
				sa.d.Stats.Malformed.Add(1)
				continue
			}
			switch del.Proto {
			case v1ProtoISAKMP:
				for _, s := range del.SPIs {
					if len(s) == 16 && string(s) == string(sa.v1Cookies()) {
						sa.d.log.Info("ipsec: peer deleted the ISAKMP SA", "peer", sa.peer.Name, "remote", sa.remote.Addr())
						sa.v1Expire("deleted by the peer", false)
						return
					}
				}
			case v1ProtoESP:
				for _, s := range del.SPIs {
					if len(s) != 4 {
						continue
					}
					spi := binary.BigEndian.Uint32(s)
					for _, c := range append([]*ChildSA(nil), sa.children...) {
						if c.OutSPI == spi {
							sa.peerDeletedChild(c)
						}
					}
				}
			}
		}
	}
}

func (sa *IKESA) v1Notify(n *v1Notify) {
	v := sa.v1
	switch n.Type {
	case v1NRUThere:
		if len(n.Data) == 4 {
			ack := &v1Notify{Proto: v1ProtoISAKMP, Type: v1NRUThereAck, SPI: sa.v1Cookies(), Data: n.Data}
			sa.v1SendInfo([]v1Payload{{Type: v1PNotify, Body: ack.encode()}})
		}
	case v1NRUThereAck:
		if len(n.Data) == 4 && binary.BigEndian.Uint32(n.Data) == v.dpdOut {
			v.dpdOut, v.dpdFails = 0, 0
		}
	case v1NInitialContact:
		sa.v1InitialContact([]v1Payload{{Type: v1PNotify, Body: n.encode()}})
	case v1NConnected:
		for _, qm := range v.qms {
			if qm.initiator && qm.commit && qm.child != nil {
				c := qm.child
				qm.child, qm.commit = nil, false
				sa.v1Install(c)
				if qm.rekey != nil {
					sa.v1DeleteChild(qm.rekey, "rekeyed")
				} else {
					sa.v1DropRedundantChild(c)
				}
			}
		}
	default:
		if n.Type == v1NNoProposalChosen {
			sa.d.Stats.NoProposal.Add(1)
		}
		if !sa.v1QuickRefused(n) { // a refusal is logged once per cause (childFailed)
			sa.d.log.Warn("ipsec: peer sent notify", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "type", v1NotifyName(n.Type))
		}
	}
}

// v1QuickRefused ends the Quick Modes an error notify refuses: the one whose SPI it
// names, or, for NO-PROPOSAL-CHOSEN and INVALID-ID-INFORMATION without a known SPI
// (not every peer sends one), every Quick Mode of ours in flight. They are tried again
// later (childretry.go). It reports whether the notify refused any.
func (sa *IKESA) v1QuickRefused(n *v1Notify) bool {
	if n.Type == 0 || n.Type >= 8192 { // status notifies (RFC 2408 3.14.1)
		return false
	}
	var refused []*v1QM
	for _, qm := range sa.v1.qms {
		if qm.initiator && !qm.done && qm.xchg == 0 && len(n.SPI) == 4 && binary.BigEndian.Uint32(n.SPI) == qm.spi {
			refused = append(refused, qm)
		}
	}
	if len(refused) == 0 && (n.Type == v1NNoProposalChosen || n.Type == v1NInvalidIDInformation) {
		for _, qm := range sa.v1.qms {
			if qm.initiator && !qm.done && qm.xchg == 0 {
				refused = append(refused, qm)
			}
		}
	}
	for _, qm := range refused {
		qm.done, qm.wait = true, false
		if qm.rekey != nil {
			qm.rekey.rekeying = false
		}
		sa.childFailed(qm.cfg, qm.rekey, "peer sent "+v1NotifyName(n.Type))
	}
	return len(refused) > 0
}

func v1NotifyName(t uint16) string {
	switch t {
	case v1NNoProposalChosen:
		return "NO-PROPOSAL-CHOSEN"
	case v1NInvalidIDInformation:
		return "INVALID-ID-INFORMATION"
	case v1NAuthFailed:
		return "AUTHENTICATION-FAILED"
	case v1NPayloadMalformed:
		return "PAYLOAD-MALFORMED"
	case v1NInvalidPayloadType:
		return "INVALID-PAYLOAD-TYPE"
	case v1NInvalidHashInfo:
		return "INVALID-HASH-INFORMATION"
	case v1NInvalidSPI:
		return "INVALID-SPI"
	case v1NInitialContact:
		return "INITIAL-CONTACT"
	case v1NResponderLifetime:
		return "RESPONDER-LIFETIME"
	}
	return fmt.Sprintf("notify %d", t)
}

// v1DeleteChild tells the peer (IKEv1 deletes are not acknowledged) and removes the SA.
func (sa *IKESA) v1DeleteChild(c *ChildSA, why string) {
	c.rekeyed = true
	if sa.state == stateEstablished {
		d := &v1Delete{Proto: v1ProtoESP, SPIs: [][]byte{spiBytes(c.InSPI)}}
		sa.v1SendInfo([]v1Payload{{Type: v1PDelete, Body: d.encode()}})
	}
	// The inbound half lingers a little: ESP the peer sent just before it saw the
	// delete is still taken.
	sa.retireChild(c, why)
}

// v1SendDelete deletes the IPsec SAs and the ISAKMP SA at the peer.
func (sa *IKESA) v1SendDelete() {
	if sa.v1.keys == nil || sa.v1.p1iv == nil {
		return
	}
	for _, c := range sa.children {
		d := &v1Delete{Proto: v1ProtoESP, SPIs: [][]byte{spiBytes(c.InSPI)}}
		sa.v1SendInfo([]v1Payload{{Type: v1PDelete, Body: d.encode()}})
	}
	d := &v1Delete{Proto: v1ProtoISAKMP, SPIs: [][]byte{sa.v1Cookies()}}
	sa.v1SendInfo([]v1Payload{{Type: v1PDelete, Body: d.encode()}})
}

func (sa *IKESA) v1RekeyChild(old *ChildSA) {
	if !sa.rekeyDue(old) {
		return
	}
	old.rekeying = true
	sa.v1CreateChild(old.Policy, old)
}

// v1Timers runs retransmissions, DPD, keepalives and lifetimes (d.mu held).
func (sa *IKESA) v1Timers(now time.Time) {
	v := sa.v1
	if sa.state == stateP1Expired {
		sa.v1OrphanTimers(now)
		return
	}
	maxTries := sa.d.opts.Retries + 1
	if sa.state != stateEstablished {
		if v.wait && now.Sub(v.sentAt) >= v.timeout {
			if v.tries >= maxTries {
				sa.v1TimeUp()
				return
			}
			v.tries++
			v.timeout *= 2
			v.sentAt = now
			sa.d.Stats.Retransmits.Add(1)
			sa.sendPkts(v.out)
		}
		if sa.state != stateDead && now.Sub(sa.created) > 60*time.Second {
			sa.v1TimeUp()
		}
		return
	}
	for _, qm := range v.qms {
		if qm.wait && now.Sub(qm.sentAt) >= qm.timeout {
			if qm.tries >= maxTries {
				qm.wait, qm.done = false, true
				if qm.xchg == v1ExchTransaction {
					sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s mode config or xauth exchange failed due to time up", sa.remote.Addr()))
					sa.destroy("no answer to the transaction exchange")
					return
				}
				sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s phase2 negotiation failed due to time up %s", sa.remote.Addr(), sa.endpoints()))
				if qm.rekey != nil {
					qm.rekey.rekeying = false
				}
				if qm.initiator {
					sa.childFailed(qm.cfg, qm.rekey, "no answer")
				}
				continue
			}
			qm.tries++
			qm.timeout *= 2
			qm.sentAt = now
			sa.d.Stats.Retransmits.Add(1)
			sa.sendPkts([][]byte{qm.out})
		}
		if now.Sub(qm.created) > 2*time.Minute {
			sa.v1DropQM(qm)
		}
	}
	for id, t := range v.infoSeen {
		if now.Sub(t) > 5*time.Minute {
			delete(v.infoSeen, id)
		}
	}
	if sa.peer.DPDInterval > 0 && v.dpd {
		switch {
		case v.dpdOut != 0 && sa.lastRecv.After(v.dpdSent):
			v.dpdOut, v.dpdFails = 0, 0
		case v.dpdOut != 0 && now.Sub(v.dpdSent) >= sa.peer.DPDInterval:
			v.dpdFails++
			if v.dpdFails >= max(sa.peer.DPDMaxFailures, 1) {
				sa.d.Stats.DPDFailures.Add(1)
				sa.d.log.Warn("ipsec: peer is dead (no answer to dead peer detection)", "peer", sa.peer.Name,
					"remote", sa.remote.Addr(), "probes", v.dpdFails)
				sa.destroy("dead peer")
				return
			}
			sa.v1SendDPD(now)
		case v.dpdOut == 0 && now.Sub(sa.lastRecv) >= sa.peer.DPDInterval:
			sa.v1SendDPD(now)
		}
	}
	if sa.natLocal && now.Sub(sa.lastSent) >= 20*time.Second {
		sa.lastSent = now
		sa.d.sendKeepalive(sa.local, sa.remote)
	}
	for _, c := range append([]*ChildSA(nil), sa.children...) {
		age := now.Sub(c.Added)
		if c.Lifetime > 0 && age >= c.Lifetime {
			sa.expireChild(c)
			continue
		}
		if (c.Soft > 0 && age >= c.Soft || c.softHit) && !c.rekeyed && !c.rekeying && !now.Before(c.rekeyRetry.next) {
			sa.v1RekeyChild(c)
		}
	}
	sa.v1Waiting(now)
	sa.v1RetireRekeyed(now)
	sa.v1Phase1Failed()
	if !sa.rekeyAt.IsZero() && now.After(sa.rekeyAt) && !sa.rekeying {
		sa.rekeying = true
		if n, err := sa.d.initiateV1(sa.peer); err == nil {
			n.v1.replaces = sa
			sa.d.started[sa.peer.Name] = n
		} else {
			sa.rekeying = false
			sa.ikeRekeyFailed(err.Error(), false)
		}
	}
	if !sa.expireAt.IsZero() && now.After(sa.expireAt) {
		sa.v1Expire("phase 1 lifetime expired", true)
	}
}

func (sa *IKESA) v1SendDPD(now time.Time) {
	v := sa.v1
	v.dpdSeq++
	if v.dpdSeq == 0 {
		v.dpdSeq = 1
	}
	v.dpdOut, v.dpdSent = v.dpdSeq, now
	n := &v1Notify{Proto: v1ProtoISAKMP, Type: v1NRUThere, SPI: sa.v1Cookies(), Data: binary.BigEndian.AppendUint32(nil, v.dpdSeq)}
	sa.v1SendInfo([]v1Payload{{Type: v1PNotify, Body: n.encode()}})
}

// v1TimeUp ends a Phase 1 that got no answer, in RouterOS's words.
func (sa *IKESA) v1TimeUp() {
	msg := fmt.Sprintf("phase1 negotiation failed due to time up %s", sa.endpoints())
	if sa.initiator {
		sa.d.rosLog(slog.LevelWarn, msg)
	} else {
		// A half-open SA anyone can open by sending message 1.
		sa.d.rosLogFrom(sa.remote.Addr(), slog.LevelWarn, msg)
	}
	sa.destroy("phase1 negotiation failed due to time up")
}
