package ike

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// v1State is the IKEv1 part of an IKESA: an ISAKMP SA (Phase 1) and its Quick Modes.
// The IKESA fields keep their meaning: spiI/spiR are the initiator and responder
// cookies, ni/nr the Phase 1 nonces, children the IPsec SAs.
type v1State struct {
	mode       ExchangeType
	p1         v1P1
	keys       *v1Keys
	dh         DH
	gxi, gxr   []byte
	gxy        []byte
	saiB       []byte // the initiator's SA payload body
	idiB, idrB []byte
	step       int    // Phase 1 messages handled so far
	iv         []byte // the Phase 1 CBC chain
	p1iv       []byte // the IV Phase 1 ended with; Phase 2 IVs derive from it
	natt       int
	dpd        bool
	vendors    []string

	out     [][]byte // our last Phase 1 message, resent on a duplicate or a timeout
	lastIn  []byte
	wait    bool
	sentAt  time.Time
	tries   int
	timeout time.Duration

	qms      map[uint32]*v1QM
	infoSeen map[uint32]time.Time

	dpdSeq   uint32
	dpdOut   uint32
	dpdSent  time.Time
	dpdFails int
	replaces *IKESA // the Phase 1 SA this one rekeys (DPD on)
	cfg      *v1Cfg // XAuth and mode config (ikev1_cfg.go)
	// retire are the IPsec SAs our rekeys replaced, deleted at the time given
	// (ikev1_rekey.go).
	retire map[*ChildSA]time.Time
	// retireDel are those no longer sent on, whose delete goes out at the time given.
	retireDel map[*ChildSA]time.Time
}

// v1QM is one Quick Mode exchange.
type v1QM struct {
	msgID     uint32
	iv        []byte
	initiator bool
	cfg       *ChildConfig
	spi       uint32
	ni, nr    []byte
	dh        DH
	gxy       []byte
	rekey     *ChildSA
	out       []byte
	lastIn    []byte
	wait      bool
	sentAt    time.Time
	tries     int
	timeout   time.Duration
	child     *ChildSA
	done      bool
	created   time.Time
	commit    bool
	offers    []v1Proposal
	xchg      ExchangeType // v1ExchTransaction for XAuth and mode config, else Quick Mode
	cfgType   uint8        // the attribute payload type a transaction began with
}

func (d *Daemon) rosLog(level slog.Level, msg string) {
	topic := "ipsec,error"
	if level < slog.LevelWarn {
		topic = "ipsec,info"
	}
	d.log.Log(context.Background(), level, msg, "topics", topic)
}

func (sa *IKESA) endpoints() string {
	return fmt.Sprintf("%s[%d]<=>%s[%d] %016x:%016x", sa.local.Addr(), sa.local.Port(), sa.remote.Addr(), sa.remote.Port(), sa.spiI, sa.spiR)
}

func v1ModeName(m ExchangeMode) ExchangeType {
	switch m {
	case ExchangeAggressive:
		return v1ExchAggressive
	case ExchangeBase:
		return v1ExchBase
	}
	return v1ExchMain
}

// v1AuthMethod is the Phase 1 authentication attribute the identity asks for.
func v1AuthMethod(ic *IdentityConfig) uint16 {
	if ic == nil {
		return v1AuthPSK
	}
	switch ic.Method {
	case AuthMethodPSKXAuth:
		return v1AuthXAuthInitPSK // the initiator is the XAuth client either way
	case AuthMethodSignature:
		if ic.Cert != nil && ic.Cert.Key != nil {
			if m := v1ECDSAMethod(ic.Cert.Key.Public()); m != 0 {
				return m
			}
		}
		return v1AuthRSASig
	case AuthMethodRSAKey:
		return v1AuthRSASig
	case AuthMethodRSAHybrid:
		return v1AuthHybridInitRSA
	}
	return v1AuthPSK
}

// matchPeerV1 finds the most specific IKEv1 peer of an exchange mode covering a remote
// address (several peers may share an address with different exchange modes).
func (d *Daemon) matchPeerV1(a netip.Addr, exch ExchangeType) *PeerConfig {
	var best *PeerConfig
	for _, p := range d.peers {
		if p.Exchange == ExchangeIKEv2 || v1ModeName(p.Exchange) != exch || !p.Remote.IsValid() || !p.Remote.Contains(a) {
			continue
		}
		if best == nil || p.Remote.Bits() > best.Remote.Bits() {
			best = p
		}
	}
	return best
}

// handleV1 dispatches an ISAKMP message (d.mu held).
func (d *Daemon) handleV1(b []byte, h Header, from, local netip.AddrPort) {
	if h.SPIi == 0 {
		d.Stats.Malformed.Add(1)
		return
	}
	if h.SPIr == 0 {
		switch h.Exchange {
		case v1ExchMain, v1ExchAggressive, v1ExchBase:
			d.v1Respond(b, h, from, local)
		default:
			d.Stats.NoSA.Add(1)
		}
		return
	}
	if sa := d.sas[h.SPIr]; sa != nil && sa.v1 != nil && !sa.initiator && sa.spiI == h.SPIi {
		sa.v1Receive(b, h, from, local)
		return
	}
	if sa := d.sas[h.SPIi]; sa != nil && sa.v1 != nil && sa.initiator && (sa.spiR == h.SPIr || sa.spiR == 0 && sa.state == stateInitSent) {
		sa.v1Receive(b, h, from, local)
		return
	}
	d.Stats.NoSA.Add(1)
}

// initiateV1 starts Phase 1 towards a peer.
func (d *Daemon) initiateV1(p *PeerConfig) (*IKESA, error) {
	sa, err := d.newInitiator(p)
	if err != nil {
		return nil, err
	}
	sa.v1 = &v1State{mode: v1ModeName(p.Exchange), qms: map[uint32]*v1QM{}, infoSeen: map[uint32]time.Time{}}
	sa.state = stateInitSent
	sa.myID = sa.localIdentity()
	d.sas[sa.spiI] = sa
	v := sa.v1
	offers := v1P1Offers(p.Proposals, v1AuthMethod(sa.ident), p.Lifetime, p.Lifebytes)
	if len(offers) == 0 {
		delete(d.sas, sa.spiI)
		return nil, errors.New("the profile has no IKEv1 proposal (IKEv1 takes aes-cbc or 3des)")
	}
	if v.mode != v1ExchMain {
		// Aggressive and base mode send KE (aggressive) in the first message: one group.
		g := offers[0].group
		var same []v1P1
		for _, o := range offers {
			if o.group == g {
				same = append(same, o)
			}
		}
		offers = same
	}
	prop := v1Proposal{Num: 1, Proto: v1ProtoISAKMP}
	for i, o := range offers {
		prop.Transforms = append(prop.Transforms, o.transform(uint8(i+1)))
	}
	v.saiB = (&v1SAPayload{Proposals: []v1Proposal{prop}}).encode()
	ps := []v1Payload{{Type: v1PSA, Body: v.saiB}}
	sa.ni = nonce()
	if v.mode != v1ExchMain {
		sa.ni = sa.ni[:20]
		if v.mode == v1ExchAggressive {
			dh, err := NewDH(offers[0].group)
			if err != nil {
				delete(d.sas, sa.spiI)
				return nil, err
			}
			v.dh, v.gxi = dh, dh.Public()
			ps = append(ps, v1Payload{Type: v1PKE, Body: v.gxi})
		}
		v.idiB = sa.v1IDBody(sa.myID)
		ps = append(ps, v1Payload{Type: v1PNonce, Body: sa.ni}, v1Payload{Type: v1PID, Body: v.idiB})
		ps = append(ps, sa.v1CertReq(offers[0].auth)...)
	}
	ps = append(ps, sa.v1VendorIDs(nil)...)
	d.log.Info("ipsec: initiating IKEv1 phase 1", "peer", p.Name, "remote", sa.remote.Addr(), "mode", v1ExchName(v.mode))
	sa.v1SendPhase1(0, ps, nil)
	v.step = 1
	return sa, nil
}

func v1ExchName(e ExchangeType) string {
	switch e {
	case v1ExchMain:
		return "main"
	case v1ExchAggressive:
		return "aggressive"
	case v1ExchBase:
		return "base"
	case v1ExchQuick:
		return "quick"
	case v1ExchInfo:
		return "informational"
	case v1ExchTransaction:
		return "transaction"
	}
	return fmt.Sprintf("exchange %d", e)
}

func (sa *IKESA) v1IDBody(id Identity) []byte {
	return (&v1ID{Type: uint8(id.Type), Data: id.Data}).encode()
}

// v1VendorIDs are the vendor IDs of our first message (initiator), or the answers to
// the peer's (responder: the NAT-T one it prefers and DPD).
func (sa *IKESA) v1VendorIDs(peer [][]byte) []v1Payload {
	var ids [][]byte
	if sa.initiator {
		if sa.peer.NATTraversal {
			ids = append(ids, vidRFC3947, vidDraft03, vidDraft02N, vidDraft02)
		}
		ids = append(ids, vidDPD)
		if ic := sa.ident; ic != nil && (ic.Method == AuthMethodPSKXAuth || ic.Method == AuthMethodRSAHybrid || ic.ModeConfig != nil && !ic.ModeConfig.Responder) {
			ids = append(ids, vidXAuth, vidUnity) // split networks come with the Unity extension
		}
	} else {
		if sa.peer.NATTraversal && sa.v1.natt != v1NATTNone {
			for _, v := range [][]byte{vidRFC3947, vidDraft03, vidDraft02N, vidDraft02} {
				if containsBytes(peer, v) {
					ids = append(ids, v)
					break
				}
			}
		}
		ids = append(ids, vidDPD)
	}
	var ps []v1Payload
	for _, id := range ids {
		ps = append(ps, v1Payload{Type: v1PVendor, Body: id})
	}
	return ps
}

func containsBytes(list [][]byte, v []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, v) {
			return true
		}
	}
	return false
}

// v1TakeVendors records what the peer's vendor IDs announce.
func (sa *IKESA) v1TakeVendors(ps []v1Payload) [][]byte {
	var ids [][]byte
	for _, p := range allV1(ps, v1PVendor) {
		ids = append(ids, p.Body)
		name := vendorName(p.Body)
		sa.v1.vendors = append(sa.v1.vendors, name)
		switch {
		case bytes.Equal(p.Body, vidRFC3947):
			sa.v1.natt = v1NATTRFC
		case bytes.Equal(p.Body, vidDraft03), bytes.Equal(p.Body, vidDraft02N), bytes.Equal(p.Body, vidDraft02):
			if sa.v1.natt == v1NATTNone {
				sa.v1.natt = v1NATTDraft
			}
		case bytes.Equal(p.Body, vidDPD):
			sa.v1.dpd = true
		}
	}
	if !sa.peer.NATTraversal {
		sa.v1.natt = v1NATTNone
	}
	if len(ids) > 0 {
		sa.d.log.Info("ipsec: peer's vendor IDs", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "vendors", strings.Join(sa.v1.vendors, ", "))
	}
	return ids
}

// v1SendPhase1 sends a Phase 1 message (encrypted when iv is set) and remembers it
// for retransmission; it returns the ciphertext's last block.
func (sa *IKESA) v1SendPhase1(flags uint8, ps []v1Payload, iv []byte) []byte {
	pkt, next := sa.v1Seal(sa.v1.mode, 0, flags, ps, iv)
	sa.v1.out = [][]byte{pkt}
	sa.v1.sentAt, sa.v1.tries, sa.v1.timeout = time.Now(), 1, sa.d.opts.Retransmit
	sa.v1.wait = sa.initiator
	sa.sendPkts(sa.v1.out)
	return next
}

// v1Seal builds an ISAKMP message; with iv it encrypts the payloads.
func (sa *IKESA) v1Seal(exch ExchangeType, msgID uint32, flags uint8, ps []v1Payload, iv []byte) ([]byte, []byte) {
	body, first := appendV1Payloads(nil, ps)
	var next []byte
	if iv != nil {
		body = sa.v1.keys.encrypt(iv, body)
		next = lastBlock(body, len(iv))
		flags |= v1FlagEncrypted
	}
	b := v1Header(sa.spiI, sa.spiR, first, exch, flags, msgID, HeaderLen+len(body))
	return append(b, body...), next
}

// v1Open decrypts a message's payloads with iv; it returns the payloads, the
// plaintext they point into and the IV that follows.
func (sa *IKESA) v1Open(b []byte, h Header, iv []byte) ([]v1Payload, []byte, []byte, error) {
	if h.Flags&v1FlagEncrypted == 0 {
		ps, err := parseV1Payloads(b, HeaderLen, uint8(h.NextPayload))
		return ps, b, iv, err
	}
	if sa.v1.keys == nil {
		return nil, nil, nil, malformed("encrypted message before keys")
	}
	ct := b[HeaderLen:]
	pt, err := sa.v1.keys.decrypt(iv, ct)
	if err != nil {
		return nil, nil, nil, err
	}
	ps, err := parseV1Payloads(pt, 0, uint8(h.NextPayload))
	return ps, pt, lastBlock(ct, len(iv)), err
}

// v1Respond answers the first message of a Phase 1 exchange.
func (d *Daemon) v1Respond(b []byte, h Header, from, local netip.AddrPort) {
	if sa := d.halfOpen[halfKey{h.SPIi, from}]; sa != nil {
		if sa.v1 != nil && bytes.Equal(sa.v1.lastIn, b) {
			sa.countRx(b)
			sa.sendPkts(sa.v1.out)
		}
		return
	}
	if h.Flags&v1FlagEncrypted != 0 || h.MsgID != 0 {
		d.Stats.Malformed.Add(1)
		return
	}
	ps, err := parseV1Payloads(b, HeaderLen, uint8(h.NextPayload))
	sap := findV1(ps, v1PSA)
	if err != nil || sap == nil {
		d.Stats.Malformed.Add(1)
		return
	}
	offer, err := parseV1SA(sap.Body)
	if err != nil || len(offer.Proposals) != 1 || offer.Proposals[0].Proto != v1ProtoISAKMP {
		d.Stats.Malformed.Add(1)
		return
	}
	p := d.matchPeerV1(from.Addr(), h.Exchange)
	if p == nil {
		d.Stats.NoProposal.Add(1)
		d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s %s mode from an address no peer with that exchange mode covers", from.Addr(), v1ExchName(h.Exchange)))
		return
	}
	if len(d.halfOpen) >= d.opts.CookieThreshold*4 {
		d.strangers.log(d.log, slog.LevelWarn, from.Addr(), "ipsec: too many half-open IKEv1 SAs, dropping", "remote", from.Addr())
		return
	}
	sa := d.newSA(p, false)
	sa.v1 = &v1State{mode: h.Exchange, qms: map[uint32]*v1QM{}, infoSeen: map[uint32]time.Time{}, saiB: sap.Body}
	sa.spiI, sa.spiR = h.SPIi, d.newSPI()
	sa.local, sa.remote = local, from
	sa.state = stateHalfOpen
	v := sa.v1
	peerVIDs := sa.v1TakeVendors(ps)
	// Aggressive and base mode name the initiator in the first message: pick the
	// identity (and so the key) by it.
	var idi *v1ID
	if h.Exchange != v1ExchMain {
		idp, np := findV1(ps, v1PID), findV1(ps, v1PNonce)
		if idp == nil || np == nil || len(np.Body) < 8 || len(np.Body) > 256 {
			d.Stats.Malformed.Add(1)
			return
		}
		if idi, err = parseV1ID(idp.Body); err != nil {
			d.Stats.Malformed.Add(1)
			return
		}
		v.idiB = idp.Body
		sa.ni = append([]byte(nil), np.Body...)
		rid := Identity{Type: IDType(idi.Type), Data: idi.Data}
		sa.ident = sa.bestIdentity(rid, func(ic *IdentityConfig) bool { return sa.remoteIDMatches(ic, rid) })
		if sa.ident == nil {
			d.Stats.AuthFailed.Add(1)
			d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s no identity matches the peer's ID %s", from.Addr(), rid))
			return
		}
		sa.remoteID = rid
	} else {
		sa.ident = v1IdentityFor(p, &offer.Proposals[0])
	}
	if sa.ident == nil {
		d.Stats.AuthFailed.Add(1)
		d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s peer %s has no identity", from.Addr(), p.Name))
		return
	}
	ours := v1P1Offers(p.Proposals, v1AuthMethod(sa.ident), p.Lifetime, p.Lifebytes)
	chosen, tr, ok := d.v1SelectP1(ours, &offer.Proposals[0], from.Addr())
	if !ok {
		d.Stats.NoProposal.Add(1)
		d.rosLogFrom(from.Addr(), slog.LevelWarn, "no suitable proposal found.")
		d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s failed to get valid proposal.", from.Addr()))
		d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s failed to pre-process ph1 packet (side: 1, status 1).", from.Addr()))
		d.rosLogFrom(from.Addr(), slog.LevelWarn, fmt.Sprintf("%s phase1 negotiation failed.", from.Addr()))
		sa.v1SendNotifyPlain(v1NNoProposalChosen, from, local)
		return
	}
	v.p1 = chosen
	sa.myID = sa.localIdentity()
	sa.suite = &Suite{Protocol: ProtoIKE, Encr: chosen.encr, KeyBits: chosen.keyBits, Integ: integForPRF(chosen.hash), PRF: chosen.hash, DH: chosen.group}
	reply := &v1SAPayload{Proposals: []v1Proposal{{Num: offer.Proposals[0].Num, Proto: v1ProtoISAKMP, Transforms: []v1Transform{*tr}}}}
	out := []v1Payload{{Type: v1PSA, Body: reply.encode()}}
	if h.Exchange == v1ExchAggressive {
		kp := findV1(ps, v1PKE)
		if kp == nil {
			d.Stats.Malformed.Add(1)
			return
		}
		if err := sa.v1ResponderDH(kp.Body); err != nil {
			d.Stats.Malformed.Add(1)
			return
		}
		sa.nr = nonce()[:20]
		if v.keys, err = deriveV1(chosen, sa.ident.PSK, sa.ni, sa.nr, v.gxy, sa.spiI, sa.spiR); err != nil {
			return
		}
		v.idrB = sa.v1IDBody(sa.myID)
		auth, err := sa.v1OwnAuth()
		if err != nil {
			d.log.Warn("ipsec: cannot authenticate to the peer", "peer", p.Name, "err", err)
			return
		}
		out = append(out, v1Payload{Type: v1PKE, Body: v.gxr}, v1Payload{Type: v1PNonce, Body: sa.nr}, v1Payload{Type: v1PID, Body: v.idrB})
		out = append(append(out, auth...), sa.v1CertReq(chosen.auth)...)
		out = append(out, sa.v1NATD()...)
		v.iv = v.keys.iv0(v.gxi, v.gxr)
	} else if h.Exchange == v1ExchBase {
		sa.nr = nonce()[:20]
		v.idrB = sa.v1IDBody(sa.myID)
		out = append(out, v1Payload{Type: v1PNonce, Body: sa.nr}, v1Payload{Type: v1PID, Body: v.idrB})
		out = append(out, sa.v1CertReq(chosen.auth)...)
	}
	out = append(out, sa.v1VendorIDs(peerVIDs)...)
	v.lastIn = b
	sa.countRx(b)
	d.sas[sa.spiR] = sa
	d.halfOpen[halfKey{sa.spiI, from}] = sa
	sa.v1SendPhase1(0, out, nil)
	v.step = 2
}

// v1SelectP1 picks, in the peer's order, the first offered transform one of ours
// matches, logging each mismatch the way RouterOS does: "rejected enctype:
// DB(prop#1:trns#1):Peer(prop#1:trns#1) = AES-CBC:3DES-CBC" (ours before the colon).
func (d *Daemon) v1SelectP1(ours []v1P1, offer *v1Proposal, from netip.Addr) (v1P1, *v1Transform, bool) {
	for i := range offer.Transforms {
		t := &offer.Transforms[i]
		theirs, err := v1P1Of(t)
		if err != nil {
			d.strangers.log(d.log, slog.LevelInfo, from, "ipsec: unsupported transform offered", "remote", from, "transform", t.Num, "err", err)
			continue
		}
		for j, o := range ours {
			where := fmt.Sprintf("DB(prop#1:trns#%d):Peer(prop#%d:trns#%d)", j+1, offer.Num, t.Num)
			switch {
			case o.encr.ID != theirs.encr.ID:
				d.rosLogFrom(from, slog.LevelInfo, fmt.Sprintf("rejected enctype: %s = %s:%s", where, v1EncName(o.encr), v1EncName(theirs.encr)))
			case o.keyBits != theirs.keyBits:
				d.rosLogFrom(from, slog.LevelInfo, fmt.Sprintf("rejected keylen: %s = %d:%d", where, o.keyBits, theirs.keyBits))
			case o.hash.ID != theirs.hash.ID:
				d.rosLogFrom(from, slog.LevelInfo, fmt.Sprintf("rejected hashtype: %s = %s:%s", where, v1HashName(o.hash), v1HashName(theirs.hash)))
			case o.group != theirs.group:
				d.rosLogFrom(from, slog.LevelInfo, fmt.Sprintf("rejected dh_group: %s = %s:%s", where, v1GroupName(o.group), v1GroupName(theirs.group)))
			case o.auth != theirs.auth:
				d.rosLogFrom(from, slog.LevelInfo, fmt.Sprintf("rejected authmethod: %s = %s:%s", where, v1AuthName(o.auth), v1AuthName(theirs.auth)))
			default:
				theirs.lifeKB = o.lifeKB
				if theirs.life == 0 || o.life > 0 && o.life < theirs.life {
					// The shorter lifetime wins; Phase 1 lifetimes are not checked.
					if theirs.life == 0 {
						theirs.life = o.life
					}
				}
				return theirs, t, true
			}
		}
	}
	return v1P1{}, nil, false
}

// v1SendNotifyPlain sends an unencrypted informational notify (before keys exist).
func (sa *IKESA) v1SendNotifyPlain(typ uint16, to, from netip.AddrPort) {
	n := &v1Notify{Proto: v1ProtoISAKMP, Type: typ, SPI: append(spi64(sa.spiI), spi64(sa.spiR)...)}
	b, first := appendV1Payloads(nil, []v1Payload{{Type: v1PNotify, Body: n.encode()}})
	pkt := append(v1Header(sa.spiI, sa.spiR, first, v1ExchInfo, 0, 0, HeaderLen+len(b)), b...)
	sa.d.send(pkt, from, to)
}

// v1HashAuth is HASH_I or HASH_R (RFC 2409 5).
func (sa *IKESA) v1HashAuth(ofInitiator bool) []byte {
	v := sa.v1
	ci, cr := spi64(sa.spiI), spi64(sa.spiR)
	h := v.keys.hash
	if e := v1ECDSAPRF(v.p1.auth); e != nil {
		h = e // RFC 4754: the curve's hash, not the negotiated one
	}
	if ofInitiator {
		return h.Sum(v.keys.skeyid, v.gxi, v.gxr, ci, cr, v.saiB, v.idiB)
	}
	return h.Sum(v.keys.skeyid, v.gxr, v.gxi, cr, ci, v.saiB, v.idrB)
}

// v1NATD are our NAT-D payloads: the peer's address first, then ours (RFC 3947 3.2).
func (sa *IKESA) v1NATD() []v1Payload {
	v := sa.v1
	if v.natt == v1NATTNone || !sa.peer.NATTraversal {
		return nil
	}
	t := uint8(v1PNATD)
	if v.natt == v1NATTDraft {
		t = v1PNATDDraft
	}
	return []v1Payload{{Type: t, Body: sa.v1NATHash(sa.remote)}, {Type: t, Body: sa.v1NATHash(sa.local)}}
}

func (sa *IKESA) v1NATHash(ap netip.AddrPort) []byte {
	var hp func(...[]byte) []byte
	if sa.v1.keys != nil {
		hp = sa.v1.keys.hashOf
	} else {
		hp = (&v1Keys{hash: sa.v1.p1.hash}).hashOf
	}
	return hp(spi64(sa.spiI), spi64(sa.spiR), ap.Addr().Unmap().AsSlice(), binary.BigEndian.AppendUint16(nil, ap.Port()))
}

// v1DetectNAT compares the peer's NAT-D payloads with the addresses this message
// travelled between.
func (sa *IKESA) v1DetectNAT(ps []v1Payload, from, local netip.AddrPort) {
	v := sa.v1
	if v.natt == v1NATTNone {
		return
	}
	t := uint8(v1PNATD)
	if v.natt == v1NATTDraft {
		t = v1PNATDDraft
	}
	ds := allV1(ps, t)
	if len(ds) < 2 {
		return
	}
	sa.natLocal = !hmac.Equal(ds[0].Body, sa.v1NATHash(local))
	sa.natRemote = true
	want := sa.v1NATHash(from)
	for _, x := range ds[1:] {
		if hmac.Equal(x.Body, want) {
			sa.natRemote = false
		}
	}
}

// v1Float moves the initiator to the NAT-T port once a NAT is seen (RFC 3947 4).
func (sa *IKESA) v1Float() {
	if !sa.natLocal && !sa.natRemote {
		return
	}
	sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.d.opts.NATPort)
	if sa.remote.Port() == sa.d.opts.Port || sa.remote.Port() == 500 {
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), sa.d.opts.NATPort)
	}
}

// v1Receive handles a message of an existing ISAKMP SA.
func (sa *IKESA) v1Receive(b []byte, h Header, from, local netip.AddrPort) {
	if sa.state == stateP1Expired {
		sa.d.Stats.NoSA.Add(1) // the ISAKMP SA is deleted; only its IPsec SAs remain
		return
	}
	sa.countRx(b)
	v := sa.v1
	switch h.Exchange {
	case v1ExchMain, v1ExchAggressive, v1ExchBase:
		if h.Exchange != v.mode || h.MsgID != 0 {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		if bytes.Equal(b, v.lastIn) {
			sa.d.Stats.ReplayedOrStale.Add(1)
			sa.sendPkts(v.out)
			return
		}
		if sa.state == stateEstablished {
			sa.d.Stats.ReplayedOrStale.Add(1)
			return
		}
		sa.v1Phase1(b, h, from, local)
	case v1ExchQuick:
		if sa.state != stateEstablished || h.Flags&v1FlagEncrypted == 0 || h.MsgID == 0 {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		sa.v1Quick(b, h, from, local)
	case v1ExchInfo:
		sa.v1Informational(b, h)
	case v1ExchTransaction:
		if sa.state != stateEstablished || h.Flags&v1FlagEncrypted == 0 || h.MsgID == 0 {
			sa.d.Stats.Malformed.Add(1)
			return
		}
		sa.v1Transaction(b, h, from, local)
	default:
		sa.d.Stats.Malformed.Add(1)
	}
}

// v1Phase1 advances Phase 1 with the peer's next message.
func (sa *IKESA) v1Phase1(b []byte, h Header, from, local netip.AddrPort) {
	v := sa.v1
	enc := h.Flags&v1FlagEncrypted != 0
	iv := v.iv
	if enc && v.keys == nil {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	ps, _, next, err := sa.v1Open(b, h, iv)
	if err != nil {
		if enc {
			sa.v1WrongKey()
			return
		}
		sa.d.Stats.Malformed.Add(1)
		return
	}
	fail := func(why string) {
		sa.d.Stats.Malformed.Add(1)
		sa.d.strangers.log(sa.d.log, slog.LevelWarn, sa.remote.Addr(), "ipsec: IKEv1 phase 1 message dropped", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "reason", why)
	}
	switch {
	case sa.initiator && v.mode == v1ExchMain && v.step == 1 && !enc:
		sa.v1MainI2(ps, h, from, local, fail)
	case sa.initiator && v.mode == v1ExchMain && v.step == 3 && !enc:
		sa.v1MainI4(ps, from, local, fail)
	case sa.initiator && v.mode == v1ExchMain && v.step == 5 && enc:
		sa.v1MainI6(b, ps, next, fail)
	case !sa.initiator && v.mode == v1ExchMain && v.step == 2 && !enc:
		sa.v1MainR3(b, ps, from, local, fail)
	case !sa.initiator && v.mode == v1ExchMain && v.step == 4 && enc:
		sa.v1MainR5(b, ps, next, from, local, fail)
	case sa.initiator && v.mode == v1ExchAggressive && v.step == 1 && !enc:
		sa.v1AggrI2(b, ps, h, from, local, fail)
	case !sa.initiator && v.mode == v1ExchAggressive && v.step == 2:
		sa.v1AggrR3(b, ps, next, enc, from, local, fail)
	case sa.initiator && v.mode == v1ExchBase && v.step == 1 && !enc:
		sa.v1BaseI2(ps, h, from, local, fail)
	case sa.initiator && v.mode == v1ExchBase && v.step == 3 && !enc:
		sa.v1BaseI4(b, ps, from, local, fail)
	case !sa.initiator && v.mode == v1ExchBase && v.step == 2 && !enc:
		sa.v1BaseR3(b, ps, from, local, fail)
	default:
		fail(fmt.Sprintf("unexpected message (step %d, encrypted %v)", v.step, enc))
	}
}

// v1WrongKey: an encrypted Phase 1 message that does not decrypt to payloads is what a
// pre-shared key mismatch looks like; RouterOS says so in these words.
func (sa *IKESA) v1WrongKey() {
	sa.d.Stats.AuthFailed.Add(1)
	sa.v1BadHash()
	sa.d.rosLogFrom(sa.remote.Addr(), slog.LevelWarn, fmt.Sprintf("%s parsing packet failed, possible cause: wrong password", sa.remote.Addr()))
	sa.destroy("pre-shared key mismatch")
}

// v1ResponderDH makes the responder's DH value and the shared secret from the
// initiator's KE (g^xi).
func (sa *IKESA) v1ResponderDH(gxi []byte) error {
	v := sa.v1
	dh, err := NewDH(v.p1.group)
	if err != nil {
		return err
	}
	gxy, err := dh.Shared(gxi)
	if err != nil {
		return err
	}
	v.dh, v.gxi, v.gxr, v.gxy = dh, append([]byte(nil), gxi...), dh.Public(), gxy
	return nil
}

// v1HashMismatch: a HASH that does not verify where no decryption could fail first
// (aggressive and base mode), in RouterOS's words.
func (sa *IKESA) v1HashMismatch() {
	sa.d.Stats.AuthFailed.Add(1)
	sa.d.rosLogFrom(sa.remote.Addr(), slog.LevelWarn, fmt.Sprintf("%s hash mismatch, possible cause: wrong password", sa.remote.Addr()))
	sa.destroy("pre-shared key mismatch")
}

// v1IdentityFor picks the identity a main mode responder keys Phase 1 with before it
// knows the initiator's ID: the first whose method the initiator offers.
func v1IdentityFor(p *PeerConfig, offer *v1Proposal) *IdentityConfig {
	for _, ic := range p.Identities {
		want := v1AuthMethod(ic)
		for _, t := range offer.Transforms {
			for _, a := range t.Attrs {
				if a.Type == v1AAuth && uint16(a.Value) == want {
					return ic
				}
			}
		}
	}
	if len(p.Identities) > 0 {
		return p.Identities[0]
	}
	return nil
}

// v1TakeChosen checks the responder's answer to our SA offer.
func (sa *IKESA) v1TakeChosen(ps []v1Payload) bool {
	sap := findV1(ps, v1PSA)
	if sap == nil {
		return false
	}
	r, err := parseV1SA(sap.Body)
	if err != nil || len(r.Proposals) != 1 || len(r.Proposals[0].Transforms) != 1 {
		return false
	}
	got, err := v1P1Of(&r.Proposals[0].Transforms[0])
	if err != nil {
		return false
	}
	for _, o := range v1P1Offers(sa.peer.Proposals, v1AuthMethod(sa.ident), sa.peer.Lifetime, sa.peer.Lifebytes) {
		if o.encr.ID == got.encr.ID && o.keyBits == got.keyBits && o.hash.ID == got.hash.ID && o.group == got.group && o.auth == got.auth {
			if got.life == 0 {
				got.life = o.life
			}
			sa.v1.p1 = got
			sa.suite = &Suite{Protocol: ProtoIKE, Encr: got.encr, KeyBits: got.keyBits, Integ: integForPRF(got.hash), PRF: got.hash, DH: got.group}
			return true
		}
	}
	return false
}

func (sa *IKESA) v1MainI2(ps []v1Payload, h Header, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	if !sa.v1TakeChosen(ps) {
		fail("the responder chose no offered proposal")
		return
	}
	sa.spiR = h.SPIr
	sa.v1TakeVendors(ps)
	dh, err := NewDH(v.p1.group)
	if err != nil {
		fail(err.Error())
		return
	}
	v.dh, v.gxi = dh, dh.Public()
	out := []v1Payload{{Type: v1PKE, Body: v.gxi}, {Type: v1PNonce, Body: sa.ni}}
	out = append(append(out, sa.v1CertReq(v.p1.auth)...), sa.v1NATD()...)
	sa.v1SendPhase1(0, out, nil)
	v.step = 3
}

func (sa *IKESA) v1MainI4(ps []v1Payload, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	kp, np := findV1(ps, v1PKE), findV1(ps, v1PNonce)
	if kp == nil || np == nil || len(np.Body) < 8 || len(np.Body) > 256 {
		fail("no KE or nonce")
		return
	}
	gxy, err := v.dh.Shared(kp.Body)
	if err != nil {
		fail(err.Error())
		return
	}
	v.gxy, v.gxr, sa.nr = gxy, append([]byte(nil), kp.Body...), append([]byte(nil), np.Body...)
	if v.keys, err = deriveV1(v.p1, sa.ident.PSK, sa.ni, sa.nr, gxy, sa.spiI, sa.spiR); err != nil {
		fail(err.Error())
		return
	}
	sa.v1DetectNAT(ps, from, local)
	sa.v1Float()
	v.idiB = sa.v1IDBody(sa.myID)
	auth, err := sa.v1OwnAuth()
	if err != nil {
		sa.fail(err.Error())
		return
	}
	out := append([]v1Payload{{Type: v1PID, Body: v.idiB}}, auth...)
	if sa.initialContactDue() && sa.ident.ModeConfig == nil && !v1IsXAuth(v.p1.auth) {
		n := &v1Notify{Proto: v1ProtoISAKMP, Type: v1NInitialContact, SPI: append(spi64(sa.spiI), spi64(sa.spiR)...)}
		out = append(out, v1Payload{Type: v1PNotify, Body: n.encode()})
	}
	v.iv = v.keys.iv0(v.gxi, v.gxr)
	v.iv = sa.v1SendPhase1(0, out, v.iv)
	v.step = 5
}

func (sa *IKESA) v1MainI6(b []byte, ps []v1Payload, next []byte, fail func(string)) {
	v := sa.v1
	idp := findV1(ps, v1PID)
	if idp == nil {
		sa.v1WrongKey()
		return
	}
	v.idrB = idp.Body
	if !sa.v1PeerAuth(ps, idp.Body, sa.v1WrongKey) {
		return
	}
	v.iv, v.p1iv, v.lastIn = next, next, b
	sa.v1Established()
}

func (sa *IKESA) v1MainR3(b []byte, ps []v1Payload, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	kp, np := findV1(ps, v1PKE), findV1(ps, v1PNonce)
	if kp == nil || np == nil || len(np.Body) < 8 || len(np.Body) > 256 {
		fail("no KE or nonce")
		return
	}
	if err := sa.v1ResponderDH(kp.Body); err != nil {
		fail(err.Error())
		return
	}
	sa.ni, sa.nr = append([]byte(nil), np.Body...), nonce()[:20]
	var err error
	if v.keys, err = deriveV1(v.p1, sa.ident.PSK, sa.ni, sa.nr, v.gxy, sa.spiI, sa.spiR); err != nil {
		fail(err.Error())
		return
	}
	sa.v1DetectNAT(ps, from, local)
	out := []v1Payload{{Type: v1PKE, Body: v.gxr}, {Type: v1PNonce, Body: sa.nr}}
	out = append(append(out, sa.v1CertReq(v.p1.auth)...), sa.v1NATD()...)
	v.lastIn = b
	sa.v1SendPhase1(0, out, nil)
	v.iv = v.keys.iv0(v.gxi, v.gxr)
	v.step = 4
}

func (sa *IKESA) v1MainR5(b []byte, ps []v1Payload, next []byte, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	idp := findV1(ps, v1PID)
	if idp == nil {
		sa.v1WrongKey()
		return
	}
	v.idiB = idp.Body
	// The initiator floated to port 4500 with this message when it saw a NAT.
	sa.local, sa.remote = local, from
	if !sa.v1PeerAuth(ps, idp.Body, sa.v1WrongKey) {
		return
	}
	v.iv = next
	v.idrB = sa.v1IDBody(sa.myID)
	auth, err := sa.v1OwnAuth()
	if err != nil {
		fail(err.Error())
		return
	}
	out := append([]v1Payload{{Type: v1PID, Body: v.idrB}}, auth...)
	v.lastIn = b
	v.iv = sa.v1SendPhase1(0, out, v.iv)
	v.p1iv = v.iv
	sa.v1InitialContact(ps)
	sa.v1Established()
}

func (sa *IKESA) v1AggrI2(b []byte, ps []v1Payload, h Header, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	if !sa.v1TakeChosen(ps) {
		fail("the responder chose no offered proposal")
		return
	}
	kp, np, idp := findV1(ps, v1PKE), findV1(ps, v1PNonce), findV1(ps, v1PID)
	if kp == nil || np == nil || idp == nil || len(np.Body) < 8 || len(np.Body) > 256 || v.p1.group != v.dh.Group() {
		fail("no KE, nonce or ID")
		return
	}
	sa.spiR = h.SPIr
	sa.v1TakeVendors(ps)
	gxy, err := v.dh.Shared(kp.Body)
	if err != nil {
		fail(err.Error())
		return
	}
	v.gxy, v.gxr, sa.nr, v.idrB = gxy, append([]byte(nil), kp.Body...), append([]byte(nil), np.Body...), idp.Body
	if v.keys, err = deriveV1(v.p1, sa.ident.PSK, sa.ni, sa.nr, gxy, sa.spiI, sa.spiR); err != nil {
		fail(err.Error())
		return
	}
	if !sa.v1PeerAuth(ps, idp.Body, sa.v1HashMismatch) {
		return
	}
	sa.v1DetectNAT(ps, from, local)
	sa.v1Float()
	out, err := sa.v1OwnAuth()
	if err != nil {
		sa.fail(err.Error())
		return
	}
	out = append(out, sa.v1NATD()...)
	v.iv = v.keys.iv0(v.gxi, v.gxr)
	v.iv = sa.v1SendPhase1(0, out, v.iv)
	v.p1iv, v.lastIn = v.iv, b
	sa.v1.wait = false
	sa.v1Established()
}

func (sa *IKESA) v1AggrR3(b []byte, ps []v1Payload, next []byte, enc bool, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	if findV1(ps, v1PHash) == nil && findV1(ps, v1PSig) == nil {
		if enc {
			sa.v1WrongKey()
		} else {
			fail("no hash")
		}
		return
	}
	if !sa.v1PeerAuth(ps, v.idiB, sa.v1WrongKey) {
		return
	}
	sa.local, sa.remote = local, from
	sa.v1DetectNAT(ps, from, local)
	if enc {
		v.iv = next
	}
	v.p1iv, v.lastIn = v.iv, b
	sa.v1Established()
}

// Base mode (RFC 2408 4.4) with a pre-shared key: HDR, SA, Nonce, ID; HDR, SA, Nonce,
// ID; HDR, KE, HASH_I; HDR, KE, HASH_R. Identities travel in the clear, keys and
// authentication come in the last two messages.
func (sa *IKESA) v1BaseI2(ps []v1Payload, h Header, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	if !sa.v1TakeChosen(ps) {
		fail("the responder chose no offered proposal")
		return
	}
	np, idp := findV1(ps, v1PNonce), findV1(ps, v1PID)
	if np == nil || idp == nil || len(np.Body) < 8 || len(np.Body) > 256 {
		fail("no nonce or ID")
		return
	}
	sa.spiR = h.SPIr
	sa.v1TakeVendors(ps)
	sa.nr, v.idrB = append([]byte(nil), np.Body...), idp.Body
	dh, err := NewDH(v.p1.group)
	if err != nil {
		fail(err.Error())
		return
	}
	v.dh, v.gxi = dh, dh.Public()
	out := []v1Payload{{Type: v1PKE, Body: v.gxi}}
	if v1SigAuth(v.p1.auth) {
		auth, err := sa.v1OwnAuth()
		if err != nil {
			fail(err.Error())
			return
		}
		out = append(out, auth...)
	} else {
		out = append(out, v1Payload{Type: v1PHash, Body: sa.v1BaseHash(true)})
	}
	out = append(out, sa.v1NATD()...)
	sa.v1SendPhase1(0, out, nil)
	v.step = 3
}

// v1BaseHash authenticates base mode as racoon (RouterOS's daemon) does: message 3
// comes before g^xr is known, so HASH_I = prf(SKEYID, g^xi | CKY-I | CKY-R | SAi_b |
// IDii_b), and HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b),
// SKEYID = prf(pre-shared key, Ni_b | Nr_b).
func (sa *IKESA) v1BaseHash(ofInitiator bool) []byte {
	v := sa.v1
	h := v.p1.hash
	skeyid := h.Sum(sa.ident.PSK, sa.ni, sa.nr)
	ci, cr := spi64(sa.spiI), spi64(sa.spiR)
	if ofInitiator {
		return h.Sum(skeyid, v.gxi, ci, cr, v.saiB, v.idiB)
	}
	return h.Sum(skeyid, v.gxr, v.gxi, cr, ci, v.saiB, v.idrB)
}

func (sa *IKESA) v1BaseR3(b []byte, ps []v1Payload, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	sig := v1SigAuth(v.p1.auth)
	kp, hp := findV1(ps, v1PKE), findV1(ps, v1PHash)
	if sig {
		hp = findV1(ps, v1PSig)
	}
	if kp == nil || hp == nil {
		fail("no KE or hash")
		return
	}
	v.gxi = append([]byte(nil), kp.Body...)
	if sig {
		if !sa.v1PeerAuth(ps, v.idiB, sa.v1HashMismatch) {
			return
		}
	} else if !hmac.Equal(hp.Body, sa.v1BaseHash(true)) {
		sa.v1HashMismatch()
		return
	}
	if err := sa.v1ResponderDH(kp.Body); err != nil {
		fail(err.Error())
		return
	}
	var err error
	if v.keys, err = deriveV1(v.p1, sa.ident.PSK, sa.ni, sa.nr, v.gxy, sa.spiI, sa.spiR); err != nil {
		fail(err.Error())
		return
	}
	sa.v1DetectNAT(ps, from, local)
	out := []v1Payload{{Type: v1PKE, Body: v.gxr}}
	if sig {
		auth, err := sa.v1OwnAuth()
		if err != nil {
			fail(err.Error())
			return
		}
		out = append(out, auth...)
	} else {
		out = append(out, v1Payload{Type: v1PHash, Body: sa.v1BaseHash(false)})
	}
	out = append(out, sa.v1NATD()...)
	v.lastIn = b
	sa.v1SendPhase1(0, out, nil)
	v.iv = v.keys.iv0(v.gxi, v.gxr)
	v.p1iv = v.iv
	sa.v1Established()
}

func (sa *IKESA) v1BaseI4(b []byte, ps []v1Payload, from, local netip.AddrPort, fail func(string)) {
	v := sa.v1
	sig := v1SigAuth(v.p1.auth)
	kp, hp := findV1(ps, v1PKE), findV1(ps, v1PHash)
	if sig {
		hp = findV1(ps, v1PSig)
	}
	if kp == nil || hp == nil {
		fail("no KE or hash")
		return
	}
	v.gxr = append([]byte(nil), kp.Body...)
	if sig {
		// v1PeerAuth checks SIG_R, the certificate and remote-id.
		if !sa.v1PeerAuth(ps, v.idrB, sa.v1HashMismatch) {
			return
		}
	} else if !hmac.Equal(hp.Body, sa.v1BaseHash(false)) {
		sa.v1HashMismatch()
		return
	}
	gxy, err := v.dh.Shared(kp.Body)
	if err != nil {
		fail(err.Error())
		return
	}
	v.gxy = gxy
	if v.keys, err = deriveV1(v.p1, sa.ident.PSK, sa.ni, sa.nr, gxy, sa.spiI, sa.spiR); err != nil {
		fail(err.Error())
		return
	}
	id, _ := parseV1ID(v.idrB)
	if id == nil {
		fail("bad ID")
		return
	}
	rid := Identity{Type: IDType(id.Type), Data: id.Data}
	if !sa.remoteIDMatches(sa.ident, rid) {
		sa.d.Stats.AuthFailed.Add(1)
		sa.fail("peer's identity " + rid.String() + " does not match remote-id")
		return
	}
	sa.remoteID = rid
	sa.v1DetectNAT(ps, from, local)
	sa.v1Float()
	v.iv = v.keys.iv0(v.gxi, v.gxr)
	v.p1iv, v.lastIn = v.iv, b
	v.wait = false
	sa.v1Established()
}

// v1InitialContact: the peer lost its state; our other SAs with it are stale.
func (sa *IKESA) v1InitialContact(ps []v1Payload) {
	for _, np := range allV1(ps, v1PNotify) {
		n, err := parseV1Notify(np.Body)
		if err != nil || n.Type != v1NInitialContact {
			continue
		}
		for _, o := range sa.d.sas {
			if o != sa && o.v1 != nil && o.peer == sa.peer && o.remote.Addr() == sa.remote.Addr() && o.state == stateEstablished {
				o.sendDelete()
				o.destroy("initial contact from the peer")
			}
		}
	}
}

func (sa *IKESA) v1Established() {
	v := sa.v1
	v.wait = false
	now := time.Now()
	sa.state = stateEstablished
	sa.d.initUp(sa.peer)
	if v.replaces == nil {
		// A Phase 1 rekey (DPD on) is not a new association. Its responder cannot tell
		// one from a new Phase 1 and starts afresh: one early attempt per Phase 1 life.
		sa.ikeUp()
	}
	sa.established = now
	sa.lastRecv = now
	sa.d.Stats.IKEEstablished.Add(1)
	if lt := v.p1.life; lt > 0 {
		sa.expireAt = now.Add(lt)
		if sa.peer.DPDInterval > 0 && sa.initiator {
			// Phase 1 is rekeyed only with DPD on (RouterOS); otherwise it expires.
			sa.rekeyAt = now.Add(jitter(lt, 0.9, true))
		}
	}
	delete(sa.d.halfOpen, halfKey{sa.spiI, sa.remote})
	for k, o := range sa.d.halfOpen {
		if o == sa {
			delete(sa.d.halfOpen, k)
		}
	}
	nat := ""
	if sa.natLocal || sa.natRemote {
		nat = " (NAT-T)"
	}
	sa.d.log.Info("ipsec: IKEv1 phase 1 established"+nat, "peer", sa.peer.Name, "remote", sa.remote.Addr(),
		"mode", v1ExchName(v.mode), "suite", sa.suite.String(), "side", sa.side(), "remote-id", sa.remoteID.String())
	if old := v.replaces; old != nil && old.state == stateEstablished {
		sa.children = append(sa.children, old.children...)
		old.children = nil
		old.sendDelete()
		old.destroy("phase 1 rekeyed")
		v.replaces = nil
	}
	sa.v1Adopt()
	if sa.v1DropDuplicate() {
		return
	}
	sa.d.changed()
	sa.v1StartCfg()
	sa.v1StartChildren()
}
