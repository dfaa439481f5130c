package ike

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// The ISAKMP transaction exchange (draft-dukes-ike-mode-cfg-02) carrying XAuth
// (draft-beaulieu-ike-xauth-02) and IKEv1 mode config, with the Cisco Unity split
// networks. The initiator of the ISAKMP SA is the XAuth client and asks for its
// configuration (pull); the responder is the XAuth server.

// Attribute payload types and attributes.
const (
	v1CfgRequest = 1
	v1CfgReply   = 2
	v1CfgSet     = 3
	v1CfgAck     = 4

	v1CfgIP4Address   = 1
	v1CfgIP4Netmask   = 2
	v1CfgIP4DNS       = 3
	v1CfgIP4Subnet    = 13
	v1XAuthType       = 16520
	v1XAuthUserName   = 16521
	v1XAuthPassword   = 16522
	v1XAuthMessage    = 16524
	v1XAuthStatus     = 16527
	v1UnityDefDomain  = 28674
	v1UnitySplitDNS   = 28675
	v1UnitySplitIncl  = 28676
	v1UnitySaveSecret = 28673
)

type v1CfgAttr struct {
	Type  uint16
	TV    bool // a basic attribute: Value holds the 16-bit value
	Value []byte
}

type v1CfgPayload struct {
	Type  uint8
	ID    uint16
	Attrs []v1CfgAttr
}

func parseV1Cfg(b []byte) (*v1CfgPayload, error) {
	if len(b) < 4 {
		return nil, malformed("short attribute payload")
	}
	c := &v1CfgPayload{Type: b[0], ID: binary.BigEndian.Uint16(b[2:])}
	ab := b[4:]
	for len(ab) > 0 {
		if len(ab) < 4 || len(c.Attrs) >= 64 {
			return nil, malformed("bad configuration attribute")
		}
		typ := binary.BigEndian.Uint16(ab)
		if typ&0x8000 != 0 {
			c.Attrs = append(c.Attrs, v1CfgAttr{Type: typ &^ 0x8000, TV: true, Value: ab[2:4]})
			ab = ab[4:]
			continue
		}
		l := int(binary.BigEndian.Uint16(ab[2:]))
		if len(ab) < 4+l {
			return nil, malformed("configuration attribute %d of %d bytes", typ, l)
		}
		c.Attrs = append(c.Attrs, v1CfgAttr{Type: typ, Value: ab[4 : 4+l]})
		ab = ab[4+l:]
	}
	return c, nil
}

func (c *v1CfgPayload) encode() []byte {
	b := []byte{c.Type, 0, byte(c.ID >> 8), byte(c.ID)}
	for _, a := range c.Attrs {
		if a.TV {
			b = binary.BigEndian.AppendUint16(b, a.Type|0x8000)
			v := append(make([]byte, 2), a.Value...)
			b = append(b, v[len(v)-2:]...)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

func (c *v1CfgPayload) attr(t uint16) (v1CfgAttr, bool) {
	for _, a := range c.Attrs {
		if a.Type == t {
			return a, true
		}
	}
	return v1CfgAttr{}, false
}

// v1Cfg is the XAuth and mode config progress of an ISAKMP SA.
type v1Cfg struct {
	xauth     bool // XAuth runs on this SA
	xauthDone bool
	xauthOK   bool
	user      string
	wantCfg   bool // we (initiator) ask for mode config
	cfgDone   bool
	// reauthOf is the client's older ISAKMP SA whose address mode config gave again:
	// this phase 1 reauthenticates it (v1Reauthenticated).
	reauthOf *IKESA
}

func v1IsXAuth(auth uint16) bool {
	switch auth {
	case v1AuthXAuthInitPSK, v1AuthXAuthRespPSK, v1AuthHybridInitRSA, v1AuthHybridRespRSA, v1AuthXAuthInitRSA, v1AuthXAuthRespRSA:
		return true
	}
	return false
}

// v1Ready reports whether Quick Modes may run: XAuth and mode config are over.
func (sa *IKESA) v1Ready() bool {
	c := sa.v1.cfg
	if c == nil {
		return true
	}
	return (!c.xauth || c.xauthDone && c.xauthOK) && (!c.wantCfg || c.cfgDone)
}

// v1StartCfg runs after Phase 1: the XAuth server asks for credentials, a mode config
// client without XAuth asks for its configuration.
func (sa *IKESA) v1StartCfg() {
	v := sa.v1
	mc := sa.ident.ModeConfig
	c := &v1Cfg{xauth: v1IsXAuth(v.p1.auth), wantCfg: sa.initiator && mc != nil && !mc.Responder}
	if !c.xauth && !c.wantCfg {
		return
	}
	v.cfg = c
	switch {
	case c.xauth && !sa.initiator:
		sa.v1CfgStart(&v1CfgPayload{Type: v1CfgRequest, Attrs: []v1CfgAttr{
			{Type: v1XAuthType, TV: true, Value: []byte{0, 0}}, {Type: v1XAuthUserName}, {Type: v1XAuthPassword}}})
	case !c.xauth && c.wantCfg:
		sa.v1AskConfig()
	}
}

func (sa *IKESA) v1AskConfig() {
	sa.v1CfgStart(&v1CfgPayload{Type: v1CfgRequest, Attrs: []v1CfgAttr{
		{Type: v1CfgIP4Address}, {Type: v1CfgIP4Netmask}, {Type: v1CfgIP4DNS}, {Type: v1UnitySplitIncl}}})
}

// v1CfgStart begins a transaction exchange with a request or set.
func (sa *IKESA) v1CfgStart(p *v1CfgPayload) {
	v := sa.v1
	qm := &v1QM{msgID: sa.v1NewMsgID(), initiator: true, created: time.Now(), xchg: v1ExchTransaction, cfgType: p.Type}
	var rnd [2]byte
	copy(rnd[:], nonce())
	p.ID = binary.BigEndian.Uint16(rnd[:])
	qm.out, qm.iv = sa.v1HashedSeal(v1ExchTransaction, qm.msgID, nil, []v1Payload{{Type: v1PAttr, Body: p.encode()}},
		v.keys.ivFor(v.p1iv, qm.msgID))
	qm.wait, qm.sentAt, qm.tries, qm.timeout = true, time.Now(), 1, sa.d.opts.Retransmit
	v.qms[qm.msgID] = qm
	sa.sendPkts([][]byte{qm.out})
}

// v1Transaction handles a transaction exchange message.
func (sa *IKESA) v1Transaction(b []byte, h Header, from, local netip.AddrPort) {
	v := sa.v1
	qm := v.qms[h.MsgID]
	if qm != nil && qm.xchg != v1ExchTransaction {
		sa.d.Stats.ReplayedOrStale.Add(1) // a Quick Mode's message ID
		return
	}
	if qm != nil && qm.lastIn != nil && string(qm.lastIn) == string(b) {
		sa.d.Stats.ReplayedOrStale.Add(1)
		if qm.out != nil && !qm.initiator {
			sa.sendPkts([][]byte{qm.out})
		}
		return
	}
	if qm != nil && (qm.done || !qm.initiator) {
		sa.d.Stats.ReplayedOrStale.Add(1)
		return
	}
	iv := v.keys.ivFor(v.p1iv, h.MsgID)
	if qm != nil {
		iv = qm.iv
	}
	ps, pt, next, err := sa.v1Open(b, h, iv)
	if err != nil || !sa.v1CheckHash(ps, pt, h.MsgID) || len(ps) < 2 || ps[1].Type != v1PAttr {
		sa.v1BadHash()
		return
	}
	cp, err := parseV1Cfg(ps[1].Body)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	sa.v1Alive(from, local)
	if qm != nil {
		// The answer to our request or set.
		qm.done, qm.wait, qm.lastIn = true, false, b
		sa.v1CfgAnswer(qm, cp)
		return
	}
	if len(v.qms) > 64 {
		return
	}
	qm = &v1QM{msgID: h.MsgID, created: time.Now(), lastIn: b, done: true, xchg: v1ExchTransaction}
	v.qms[h.MsgID] = qm
	reply := sa.v1CfgRequest(cp)
	if reply == nil {
		return
	}
	reply.ID = cp.ID
	qm.out, _ = sa.v1HashedSeal(v1ExchTransaction, h.MsgID, nil, []v1Payload{{Type: v1PAttr, Body: reply.encode()}}, next)
	sa.sendPkts([][]byte{qm.out})
	sa.v1CfgAfter(cp)
}

// v1CfgRequest answers a request or set the peer started; nil: no answer.
func (sa *IKESA) v1CfgRequest(cp *v1CfgPayload) *v1CfgPayload {
	c := sa.v1.cfg
	switch cp.Type {
	case v1CfgRequest:
		if _, ok := cp.attr(v1XAuthUserName); ok {
			if !sa.initiator || c == nil || !c.xauth {
				sa.d.log.Warn("ipsec: peer asks for XAuth credentials, but this identity has none", "peer", sa.peer.Name)
				return &v1CfgPayload{Type: v1CfgReply}
			}
			return &v1CfgPayload{Type: v1CfgReply, Attrs: []v1CfgAttr{
				{Type: v1XAuthUserName, Value: []byte(sa.ident.EAPUser)}, {Type: v1XAuthPassword, Value: []byte(sa.ident.EAPPassword)}}}
		}
		reply := sa.v1GiveConfig(cp)
		if sa.vip.IsValid() {
			sa.xauthAccountStart()
		}
		return reply
	case v1CfgSet:
		if st, ok := cp.attr(v1XAuthStatus); ok && c != nil && c.xauth && sa.initiator {
			c.xauthDone = true
			c.xauthOK = len(st.Value) == 2 && binary.BigEndian.Uint16(st.Value) == 1
			return &v1CfgPayload{Type: v1CfgAck, Attrs: []v1CfgAttr{{Type: v1XAuthStatus, TV: true, Value: st.Value}}}
		}
		if a, ok := cp.attr(v1CfgIP4Address); ok && len(a.Value) == 4 {
			sa.v1TakeConfig(cp) // pushed configuration
			return &v1CfgPayload{Type: v1CfgAck, Attrs: []v1CfgAttr{{Type: v1CfgIP4Address}}}
		}
		return &v1CfgPayload{Type: v1CfgAck}
	}
	return nil
}

// v1CfgAfter continues once our answer to the peer's request or set is out.
func (sa *IKESA) v1CfgAfter(cp *v1CfgPayload) {
	c := sa.v1.cfg
	if c != nil && c.reauthOf != nil {
		old := c.reauthOf
		c.reauthOf = nil
		sa.v1Reauthenticated(old)
	}
	if c == nil || cp.Type != v1CfgSet || !c.xauth || !sa.initiator || !c.xauthDone {
		return
	}
	if !c.xauthOK {
		sa.d.Stats.AuthFailed.Add(1)
		sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s xauth authentication failed (user %s)", sa.remote.Addr(), sa.ident.EAPUser))
		sa.destroy("XAuth failed")
		return
	}
	sa.d.log.Info("ipsec: XAuth succeeded", "peer", sa.peer.Name, "user", sa.ident.EAPUser)
	if c.wantCfg {
		sa.v1AskConfig()
		return
	}
	sa.v1StartChildren()
}

// v1Reauthenticated ends old, the client's ISAKMP SA that sa (a new phase 1 with its
// XAuth and mode config) replaces: its IPsec SAs move to sa, as the client (charon) moved
// them to its new SA, and only the ISAKMP SA is deleted at the client, which would
// otherwise keep it rekeying and the two SAs would both live until old expired.
func (sa *IKESA) v1Reauthenticated(old *IKESA) {
	if old.state != stateEstablished {
		return
	}
	sa.d.log.Info("ipsec: IKEv1 client reauthenticated; its IPsec SAs move to the new phase 1",
		"peer", sa.peer.Name, "remote", sa.remote.Addr(), "address", sa.vip, "ipsec-sas", len(old.children))
	sa.children = append(sa.children, old.children...)
	old.children = nil
	old.v1SendDeleteISAKMP()
	old.destroy("reauthenticated by a new phase 1")
	sa.d.changed()
}

// v1CfgAnswer handles the peer's answer to our request or set.
func (sa *IKESA) v1CfgAnswer(qm *v1QM, cp *v1CfgPayload) {
	c := sa.v1.cfg
	if c == nil {
		return
	}
	switch {
	case qm.cfgType == v1CfgRequest && cp.Type == v1CfgReply && c.xauth && !sa.initiator && !c.xauthDone:
		user, _ := cp.attr(v1XAuthUserName)
		pass, _ := cp.attr(v1XAuthPassword)
		c.user = string(user.Value)
		ok, known := false, false
		if f := sa.ident.XAuthUsers; f != nil {
			var want string
			var addr netip.Addr
			if want, addr, known = f(c.user); known && want == string(pass.Value) {
				ok = true
				if addr.IsValid() {
					sa.vip = addr
				}
			}
		}
		if !known && sa.ident.XAuthCheck != nil {
			sa.v1XAuthRemote(c, string(pass.Value))
			return
		}
		sa.v1XAuthVerdict(c, ok)
	case qm.cfgType == v1CfgSet && cp.Type == v1CfgAck && c.xauth && !sa.initiator:
		c.xauthDone = true
		if !c.xauthOK {
			sa.sendDelete()
			sa.destroy("XAuth failed")
			return
		}
		sa.d.log.Info("ipsec: XAuth user authenticated", "peer", sa.peer.Name, "user", c.user, "remote", sa.remote.Addr())
		if mc := sa.ident.ModeConfig; mc == nil || !mc.Responder {
			sa.xauthAccountStart()
		}
	case qm.cfgType == v1CfgRequest && cp.Type == v1CfgReply && c.wantCfg:
		sa.v1TakeConfig(cp)
		c.cfgDone = true
		sa.v1StartChildren()
	}
}

// v1GiveConfig answers a mode config request (responder): an address from the user,
// the pool or the mode config, its netmask, DNS servers and the split networks.
func (sa *IKESA) v1GiveConfig(cp *v1CfgPayload) *v1CfgPayload {
	mc := sa.ident.ModeConfig
	if mc == nil || !mc.Responder {
		return &v1CfgPayload{Type: v1CfgReply}
	}
	if c := sa.v1.cfg; c != nil && c.xauth && !(c.xauthDone && c.xauthOK) {
		return &v1CfgPayload{Type: v1CfgReply}
	}
	if !sa.vip.IsValid() {
		switch {
		case mc.Allocate != nil:
			var asked netip.Addr
			if a, ok := cp.attr(v1CfgIP4Address); ok && len(a.Value) == 4 {
				asked = netip.AddrFrom4([4]byte(a.Value))
			}
			a, holder, err := sa.poolAddress(mc, asked)
			if err != nil {
				sa.d.log.Warn("ipsec: no mode config address for the peer", "peer", sa.peer.Name, "err", err)
				return &v1CfgPayload{Type: v1CfgReply}
			}
			sa.vip = a
			if holder != nil && holder.v1 != nil && sa.v1.cfg != nil {
				sa.v1.cfg.reauthOf = holder
			}
		case mc.Address.IsValid():
			sa.vip = mc.Address
		}
	}
	out := &v1CfgPayload{Type: v1CfgReply}
	if sa.vip.IsValid() {
		out.Attrs = append(out.Attrs, v1CfgAttr{Type: v1CfgIP4Address, Value: sa.vip.AsSlice()})
		bits := mc.PrefixLen
		if bits == 0 {
			bits = 32
		}
		out.Attrs = append(out.Attrs, v1CfgAttr{Type: v1CfgIP4Netmask, Value: net.CIDRMask(bits, 32)})
		sa.d.log.Info("ipsec: mode config address given", "peer", sa.peer.Name, "address", sa.vip)
	}
	for _, d := range mc.DNS {
		if d.Is4() {
			out.Attrs = append(out.Attrs, v1CfgAttr{Type: v1CfgIP4DNS, Value: d.AsSlice()})
		}
	}
	if len(mc.Split) > 0 {
		// Cisco Unity: address, mask and six zero bytes per network.
		var v []byte
		for _, p := range mc.Split {
			if !p.Addr().Is4() {
				continue
			}
			v = append(append(append(v, p.Masked().Addr().AsSlice()...), net.CIDRMask(p.Bits(), 32)...), 0, 0, 0, 0, 0, 0)
		}
		out.Attrs = append(out.Attrs, v1CfgAttr{Type: v1UnitySplitIncl, Value: v})
	}
	out.Attrs = append(out.Attrs, v1SplitDNS(mc, cp)...)
	return out
}

// v1TakeConfig records what a responder handed out (initiator): the attributes IKEv1
// shares with IKEv2's configuration payload (address, subnets) and the Cisco Unity
// split networks, taken as subnets.
func (sa *IKESA) v1TakeConfig(cp *v1CfgPayload) {
	c := &CP{CfgType: CPReply}
	for _, a := range cp.Attrs {
		switch a.Type {
		case v1CfgIP4Address, v1CfgIP4Subnet, v1CfgIP4DNS:
			c.Attrs = append(c.Attrs, CPAttr{Type: a.Type, Value: a.Value})
		case v1UnitySplitIncl:
			// Address, mask and six more bytes per network.
			for v := a.Value; len(v) >= 14; v = v[14:] {
				c.Attrs = append(c.Attrs, CPAttr{Type: CPInternalIP4Subnet, Value: v[:8]})
			}
		}
	}
	sa.takeConfig(c)
	sa.d.changed()
}

// v1StartChildren starts the Quick Modes of an initiator. With a mode config address
// each split network (or everything) gets a policy of its own from the vip, flagged
// dynamic, made from the first policy or template the peer has.
func (sa *IKESA) v1StartChildren() {
	if !sa.initiator || !sa.v1Ready() {
		return
	}
	have := map[uint64]bool{}
	for _, c := range sa.children {
		have[c.Policy.ID] = true
	}
	if sa.vip.IsValid() && sa.ident.ModeConfig != nil && !sa.ident.ModeConfig.Responder {
		var base *ChildConfig
		if len(sa.peer.Children) > 0 {
			base = sa.peer.Children[0]
		} else if len(sa.ident.Templates) > 0 {
			base = sa.ident.Templates[0]
		}
		if base == nil {
			return
		}
		splits := sa.splits
		if len(splits) == 0 {
			splits = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}
		for _, s := range splits {
			dyn := *base
			dyn.Dynamic, dyn.Tunnel = true, true
			dyn.Local = SelectorFromPrefix(netip.PrefixFrom(sa.vip, 32), base.Local.IPProto, 0)
			dyn.Remote = SelectorFromPrefix(s, base.Remote.IPProto, 0)
			sa.d.reqID++
			dyn.ReqID = sa.d.reqID
			sa.v1CreateChild(&dyn, nil)
		}
		return
	}
	for _, c := range sa.peer.Children {
		if !have[c.ID] {
			sa.v1CreateChild(c, nil)
		}
	}
}

// v1SplitDNS answers the Cisco Unity DNS attributes the peer asked for from split-dns:
// UNITY_SPLIT_DNS_NAME, the domains separated by commas, and UNITY_DEF_DOMAIN, the
// first of them.
func v1SplitDNS(mc *ModeConfig, cp *v1CfgPayload) []v1CfgAttr {
	if len(mc.SplitDNS) == 0 {
		return nil
	}
	var out []v1CfgAttr
	if _, ok := cp.attr(v1UnitySplitDNS); ok {
		out = append(out, v1CfgAttr{Type: v1UnitySplitDNS, Value: []byte(strings.Join(mc.SplitDNS, ","))})
	}
	if _, ok := cp.attr(v1UnityDefDomain); ok {
		out = append(out, v1CfgAttr{Type: v1UnityDefDomain, Value: []byte(mc.SplitDNS[0])})
	}
	return out
}

// prefixOfMask is the network of an IPv4 address and netmask (4 bytes each), as mode
// config's subnet attributes carry them; the prefix length counts the mask's leading
// ones.
func prefixOfMask(addr, mask []byte) netip.Prefix {
	ip, _ := netip.AddrFromSlice(addr)
	ones, _ := net.IPMask(mask).Size()
	if ones == 0 && mask[0] != 0 {
		// Not contiguous: the leading ones.
		for _, b := range mask {
			n := 0
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				n++
			}
			ones += n
			if n < 8 {
				break
			}
		}
	}
	return netip.PrefixFrom(ip, ones).Masked()
}
