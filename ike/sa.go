package ike

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

type saState int

const (
	stateInitSent saState = iota
	stateAuthSent
	stateHalfOpen // responder after IKE_SA_INIT
	stateEstablished
	stateDeleting
	stateDead
	stateP1Expired // IKEv1: the ISAKMP SA is gone, its IPsec SAs stay (ikev1_expiry.go)
)

func (s saState) String() string {
	return [...]string{"message-1-sent", "auth-sent", "half-open", "established", "deleting", "dead", "expired"}[s]
}

// IKESA is one IKEv2 security association and the CHILD_SAs negotiated through it.
type IKESA struct {
	d         *Daemon
	peer      *PeerConfig
	ident     *IdentityConfig
	initiator bool // original initiator of this IKE SA (the I flag)
	spiI      uint64
	spiR      uint64
	state     saState
	local     netip.AddrPort
	remote    netip.AddrPort
	natLocal  bool // this router is behind a NAT
	natRemote bool // the peer is behind a NAT
	suite     *Suite
	dh        DH
	ni, nr    []byte
	initI     []byte
	initR     []byte
	skD       []byte
	skPi      []byte
	skPr      []byte
	cIn, cOut *Cipher
	cookie    []byte
	askedDH   uint16 // the DH group the responder asked for with INVALID_KE_PAYLOAD
	fragOK    bool
	remoteID  Identity
	// remoteIDBody is the peer's ID payload body as received, what its AUTH signs
	// (RFC 7296 2.15): RESERVED octets a peer set are in it, not in remoteID.
	remoteIDBody []byte
	myID         Identity

	nextReqID uint32
	pending   *request
	queue     []*request

	recvReqID  uint32
	lastResp   [][]byte
	lastRespID uint32
	hasResp    bool
	frag       *fragBuf

	children     []*ChildSA
	pendingFirst *childProposal

	created, established, lastRecv, lastSent time.Time
	sendErr                                  string // the kernel's refusal of the last send (sendFailed)
	rekeyAt, expireAt                        time.Time
	rekeying                                 bool
	rx, tx                                   uint64          // bytes of IKE messages
	done                                     chan error      // Establish waits on it
	vip                                      netip.Addr      // mode config address (given or received)
	vipLease                                 *vipLease       // the pool lease of vip, shared with rekeys' successors
	creating                                 map[uint64]bool // policies with a CREATE_CHILD_SA in flight
	peerRekey                                *IKESA          // the peer's new IKE SA from a rekey collision (ikecollision.go)
	handedTo                                 *IKESA          // the IKE SA a rekey moved the CHILD SAs to (childholder.go)
	splits                                   []netip.Prefix
	dns                                      []netip.Addr // DNS servers received by mode config
	rxPkts, txPkts                           uint64
	eap                                      *eapState         // EAP in progress or done (eap.go)
	sig                                      sigState          // signature authentication (sigauth.go)
	peerCert                                 *x509.Certificate // the peer's verified certificate
	initProp                                 Proposal          // the IKE proposal chosen as responder (peerswitch.go)
	v1                                       *v1State          // set on IKEv1 SAs (ikev1*.go)
	ikeRekeyRetry                            backoff           // refused IKE SA rekeys (childretry.go)
}

type request struct {
	exch     ExchangeType
	payloads []Payload
	msgID    uint32
	pkts     [][]byte
	sentAt   time.Time
	firstAt  time.Time // first sent (dpdBudget)
	timeout  time.Duration
	tries    int
	maxTries int
	fixed    bool // DPD: a fixed interval instead of doubling
	onResp   func(ps []Payload)
	onFail   func()
}

type fragBuf struct {
	msgID   uint32
	resp    bool
	total   uint16
	first   PayloadType
	parts   map[uint16][]byte
	started time.Time
}

// childProposal is a CHILD_SA the local side proposed and waits an answer for.
type childProposal struct {
	cfg   *ChildConfig
	spi   uint32
	ni    []byte
	dh    DH
	tsi   []Selector
	tsr   []Selector
	rekey *ChildSA
}

// newInitiator is a new initiator's SA towards a peer of a single address: its first
// identity, a fresh SPI, the local address that reaches the peer (unregistered).
func (d *Daemon) newInitiator(p *PeerConfig) (*IKESA, error) {
	host, ok := p.host()
	if !ok {
		return nil, fmt.Errorf("peer address %s is not a single host", p.Remote)
	}
	if len(p.Identities) == 0 {
		return nil, errors.New("no identity for the peer")
	}
	local := p.Local
	if !local.IsValid() {
		var err error
		if local, err = d.localAddrFor(host); err != nil {
			return nil, err
		}
	}
	if err := d.usableSource(local, host); err != nil {
		return nil, err
	}
	sa := d.newSA(p, true)
	sa.ident = p.Identities[0]
	sa.spiI = d.newSPI()
	sa.local = netip.AddrPortFrom(local, d.opts.Port)
	port := p.Port
	if port == 0 {
		port = 500
	}
	sa.remote = netip.AddrPortFrom(host, port)
	return sa, nil
}

func (d *Daemon) newSA(p *PeerConfig, initiator bool) *IKESA {
	now := time.Now()
	return &IKESA{d: d, peer: p, initiator: initiator, created: now, lastRecv: now}
}

// errSourceNotUsable: the address an initiation would send from cannot be used yet. An
// IPv6 address is tentative while duplicate address detection runs (about a second
// after it is added, as at boot): the kernel cannot bind it, and picks the link-local
// address as the source towards a global peer instead, from which every send fails
// (EINVAL) and to which no peer could answer. A configured local address that is not
// (yet) on the router, as before a PPPoE or DHCP client has it, waits the same way.
// Nothing is sent; the peer is tried again promptly (sourceRetry) rather than on the
// growing backoff of a failed attempt.
var errSourceNotUsable = errors.New("no usable source address yet")

// errSourceDADFailed: the IPv6 address to send from failed duplicate address detection
// (another host on the link has it). It never becomes usable by itself, so waiting for
// it would be forever: the attempt fails, on the backoff of failed attempts, with this
// reason in the log, until the address is fixed (removed and added, or the link reset).
var errSourceDADFailed = errors.New("source address failed duplicate address detection")

// sourceRetry is the pause before looking again for a usable source address.
const sourceRetry = time.Second

// usableSource checks that IKE can send from local to remote: not from a link-local
// address to a peer beyond the link, not while an IPv6 address of the interface the
// route to the peer leaves by is tentative (the kernel then picks another interface's
// address, a loopback's say, which the peer does not know) or has failed duplicate
// address detection with no other global address to take its place, and from an
// address the kernel lets a socket bind (on the router, not tentative, not DADFAILED).
func (d *Daemon) usableSource(local, remote netip.Addr) error {
	if remote.Is6() {
		ifa := d.v6Towards(remote)
		if ifa.tentative.IsValid() && ifa.tentative != local {
			return fmt.Errorf("%w: %s on %s, the interface towards %s, is tentative (duplicate address detection)",
				errSourceNotUsable, ifa.tentative, ifa.name, remote)
		}
		if ifa.dadFailed.IsValid() && !ifa.usable {
			return fmt.Errorf("%w: %s on %s, the interface towards %s (the kernel picks %s instead)",
				errSourceDADFailed, ifa.dadFailed, ifa.name, remote, local)
		}
	}
	if local.Is6() && local.IsLinkLocalUnicast() && !remote.IsLinkLocalUnicast() {
		return fmt.Errorf("%w: towards %s the kernel picks link-local %s (a global address still tentative?)",
			errSourceNotUsable, remote, local)
	}
	netw := "udp4"
	if local.Is6() {
		netw = "udp6"
	}
	c, err := d.opts.Listen(netw, &net.UDPAddr{IP: local.AsSlice(), Zone: local.Zone()})
	if err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return d.unboundSource(local, err)
		}
		return err
	}
	return c.Close()
}

// unboundSource says why the kernel refused to bind local (EADDRNOTAVAIL): the address
// failed duplicate address detection (give up), is tentative, or is not on the router
// at all (wait for it).
func (d *Daemon) unboundSource(local netip.Addr, err error) error {
	flags, ifname, found := d.addrFlags(local)
	switch {
	case found && flags&unix.IFA_F_DADFAILED != 0:
		return fmt.Errorf("%w: %s on %s (another host on the link has it)", errSourceDADFailed, local, ifname)
	case found && flags&unix.IFA_F_TENTATIVE != 0:
		return fmt.Errorf("%w: %s on %s is tentative (duplicate address detection)", errSourceNotUsable, local, ifname)
	case !found:
		return fmt.Errorf("%w: %s is not an address of this router", errSourceNotUsable, local)
	}
	return fmt.Errorf("%w: %s on %s cannot be bound: %w", errSourceNotUsable, local, ifname, err)
}

// addrFlags finds local among the router's addresses: its flags (IFA_F_*) and
// interface; found is false when no interface has it (or the kernel cannot say).
func (d *Daemon) addrFlags(local netip.Addr) (flags int, ifname string, found bool) {
	fam := netlink.FAMILY_V4
	if local.Is6() {
		fam = netlink.FAMILY_V6
	}
	d.opts.Do(func() error {
		addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, fam) })
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == local.WithZone("") {
				flags, found = a.Flags, true
				if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
					ifname = l.Attrs().Name
				}
				return nil
			}
		}
		return nil
	})
	return flags, ifname, found
}

// v6Addrs is what the global IPv6 addresses of one interface say about sending from it.
type v6Addrs struct {
	name      string
	tentative netip.Addr // a global address still in duplicate address detection
	dadFailed netip.Addr // a global address that failed it
	usable    bool       // a global address that neither is tentative nor failed
}

// v6Towards reads the IPv6 addresses of the interface the kernel's route to remote
// leaves by; nothing when there is none or the kernel cannot say (the check then leaves
// it to the send).
func (d *Daemon) v6Towards(remote netip.Addr) v6Addrs {
	var v v6Addrs
	d.opts.Do(func() error {
		routes, err := netlink.RouteGet(remote.AsSlice())
		if err != nil || len(routes) == 0 || routes[0].LinkIndex == 0 {
			return err
		}
		link, err := netlink.LinkByIndex(routes[0].LinkIndex)
		if err != nil {
			return err
		}
		addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_V6) })
		if err != nil {
			return err
		}
		v.name = link.Attrs().Name
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok || !ip.IsGlobalUnicast() {
				continue
			}
			switch {
			case a.Flags&unix.IFA_F_DADFAILED != 0:
				if !v.dadFailed.IsValid() {
					v.dadFailed = ip
				}
			case a.Flags&unix.IFA_F_TENTATIVE != 0:
				if !v.tentative.IsValid() {
					v.tentative = ip
				}
			default:
				v.usable = true
			}
		}
		return nil
	})
	return v
}

// localAddrFor asks the kernel which source address reaches remote (in the namespace
// of the daemon's sockets).
func (d *Daemon) localAddrFor(remote netip.Addr) (netip.Addr, error) {
	netw, ip := "udp4", net.IPv4zero
	if remote.Is6() {
		netw, ip = "udp6", net.IPv6unspecified
	}
	c, err := d.opts.Listen(netw, &net.UDPAddr{IP: ip})
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.Addr{}, err
	}
	var cerr error
	var local netip.Addr
	rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		if remote.Is4() {
			sa = &unix.SockaddrInet4{Port: 500, Addr: remote.As4()}
		} else {
			sa = &unix.SockaddrInet6{Port: 500, Addr: remote.As16()}
		}
		if cerr = unix.Connect(int(fd), sa); cerr != nil {
			return
		}
		var ls unix.Sockaddr
		ls, cerr = unix.Getsockname(int(fd))
		switch a := ls.(type) {
		case *unix.SockaddrInet4:
			local = netip.AddrFrom4(a.Addr)
		case *unix.SockaddrInet6:
			local = netip.AddrFrom16(a.Addr)
		}
	})
	if cerr != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", remote, cerr)
	}
	return local, nil
}

func nonce() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func firstDH(ps []Proposal) uint16 {
	for _, p := range ps {
		for _, t := range p.Transforms {
			if t.Type == TransformDH && t.ID != 0 {
				return t.ID
			}
		}
	}
	return 0
}

func withSPI(ps []Proposal, spi []byte) []Proposal {
	out := make([]Proposal, len(ps))
	for i, p := range ps {
		p.Num = uint8(i + 1)
		p.SPI = spi
		out[i] = p
	}
	return out
}

func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

func spi64(spi uint64) []byte { return binary.BigEndian.AppendUint64(nil, spi) }

// initiate starts IKE_SA_INIT towards a peer.
func (d *Daemon) initiate(p *PeerConfig) (*IKESA, error) {
	if p.Exchange != ExchangeIKEv2 {
		return d.initiateV1(p)
	}
	sa, err := d.newInitiator(p)
	if err != nil {
		return nil, err
	}
	g := firstDH(p.Proposals)
	dh, err := NewDH(g)
	if err != nil {
		return nil, err
	}
	sa.dh = dh
	sa.ni = nonce()
	sa.state = stateInitSent
	d.sas[sa.spiI] = sa
	d.log.Info("ipsec: initiating IKE_SA_INIT", "peer", p.Name, "remote", sa.remote.Addr(), "dh", DHName(g))
	sa.sendInit()
	return sa, nil
}

func (sa *IKESA) sendInit() {
	var ps []Payload
	if sa.cookie != nil {
		ps = append(ps, &Notify{NType: NotifyCookie, Data: sa.cookie})
	}
	ps = append(ps,
		&SA{Proposals: withSPI(sa.peer.Proposals, nil)},
		&KE{Group: sa.dh.Group(), Data: sa.dh.Public()},
		&Nonce{Data: sa.ni},
	)
	if sa.peer.NATTraversal {
		ps = append(ps,
			&Notify{NType: NotifyNATDetectionSourceIP, Data: natHash(sa.spiI, 0, sa.local)},
			&Notify{NType: NotifyNATDetectionDestIP, Data: natHash(sa.spiI, 0, sa.remote)})
	}
	ps = append(ps, &Notify{NType: NotifyIKEv2FragmentationSupp})
	ps = append(ps, sa.sigInitPayloads(false)...)
	m := &Message{Header: Header{SPIi: sa.spiI, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator}, Payloads: ps}
	sa.d.logMessage("sending", IKESAInit, false, 0, ps, sa.peer.Name, sa.local, sa.remote)
	b := m.Encode()
	sa.initI = b
	req := &request{exch: IKESAInit, msgID: 0, pkts: [][]byte{b}}
	sa.nextReqID = 1
	sa.transmit(req)
}

// transmit sends a request and arms its retransmission.
func (sa *IKESA) transmit(req *request) {
	if req.timeout == 0 {
		req.timeout = sa.d.opts.Retransmit
	}
	if req.maxTries == 0 {
		req.maxTries = sa.d.opts.Retries + 1
	}
	req.tries++
	req.sentAt = time.Now()
	if req.tries == 1 {
		req.firstAt = req.sentAt
	}
	sa.pending = req
	sa.sendPkts(req.pkts)
}

func (sa *IKESA) sendPkts(pkts [][]byte) {
	for _, b := range pkts {
		sa.tx += uint64(len(b))
		sa.txPkts++
		sa.lastSent = time.Now()
		if err := sa.d.send(b, sa.local, sa.remote); err != nil {
			sa.sendFailed(err)
		} else {
			sa.sendErr = ""
		}
	}
}

// request queues an encrypted request (window size 1: one outstanding at a time).
func (sa *IKESA) request(exch ExchangeType, ps []Payload, onResp func([]Payload), onFail func()) *request {
	r := &request{exch: exch, payloads: ps, onResp: onResp, onFail: onFail}
	sa.queue = append(sa.queue, r)
	sa.kick()
	return r
}

func (sa *IKESA) kick() {
	if sa.pending != nil || len(sa.queue) == 0 || sa.state == stateDead {
		return
	}
	r := sa.queue[0]
	sa.queue = sa.queue[1:]
	r.msgID = sa.nextReqID
	sa.nextReqID++
	r.pkts = sa.encrypt(r.exch, false, r.msgID, r.payloads)
	sa.transmit(r)
}

// encrypt builds an SK message, or SKF fragments when it is too large and the peer
// supports fragmentation (RFC 7383).
func (sa *IKESA) encrypt(exch ExchangeType, resp bool, msgID uint32, ps []Payload) [][]byte {
	sa.d.logMessage("sending", exch, resp, msgID, ps, sa.peer.Name, sa.local, sa.remote)
	inner, first := AppendPayloads(nil, ps)
	flags := uint8(0)
	if sa.initiator {
		flags |= FlagInitiator
	}
	if resp {
		flags |= FlagResponse
	}
	h := Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: Version2, Exchange: exch, Flags: flags, MsgID: msgID}
	total := HeaderLen + 4 + len(inner) + sa.cOut.Overhead(len(inner))
	if !sa.fragOK || total <= sa.d.opts.FragmentSize || exch == IKESAInit {
		h.NextPayload = PayloadSK
		h.Length = uint32(total)
		b := make([]byte, HeaderLen, total)
		h.put(b)
		sk := 4 + len(inner) + sa.cOut.Overhead(len(inner))
		b = append(b, byte(first), 0, byte(sk>>8), byte(sk))
		return [][]byte{sa.cOut.Seal(b, inner)}
	}
	room := sa.d.opts.FragmentSize - HeaderLen - 8 - sa.cOut.Overhead(0) - 16
	if room < 64 {
		room = 64
	}
	n := (len(inner) + room - 1) / room
	var out [][]byte
	for i := 0; i < n; i++ {
		chunk := inner[i*room : min((i+1)*room, len(inner))]
		np := PayloadNone
		if i == 0 {
			np = first
		}
		plen := 8 + len(chunk) + sa.cOut.Overhead(len(chunk))
		h.NextPayload = PayloadSKF
		h.Length = uint32(HeaderLen + plen)
		b := make([]byte, HeaderLen, int(h.Length))
		h.put(b)
		b = append(b, byte(np), 0, byte(plen>>8), byte(plen), byte((i+1)>>8), byte(i+1), byte(n>>8), byte(n))
		out = append(out, sa.cOut.Seal(b, chunk))
	}
	return out
}

// respond sends and caches the response to the current request.
func (sa *IKESA) respond(exch ExchangeType, msgID uint32, ps []Payload) {
	pkts := sa.encrypt(exch, true, msgID, ps)
	sa.lastResp, sa.lastRespID, sa.hasResp = pkts, msgID, true
	sa.sendPkts(pkts)
}

// countRx counts a received message of this SA in its active-peers rx-bytes and
// rx-packets, as sendPkts counts tx: every one, the request that made the SA included.
func (sa *IKESA) countRx(b []byte) {
	sa.rx += uint64(len(b))
	sa.rxPkts++
}

// receive handles a message for this SA.
func (sa *IKESA) receive(b []byte, h Header, from, local netip.AddrPort) {
	sa.countRx(b)
	if h.Exchange == IKESAInit {
		if sa.initiator && sa.state == stateInitSent && h.IsResponse() {
			sa.lastRecv = time.Now()
			sa.initResponse(b, h, from)
		}
		return
	}
	if sa.cIn == nil {
		return
	}
	if h.IsResponse() {
		if sa.pending == nil || h.MsgID != sa.pending.msgID {
			sa.d.Stats.ReplayedOrStale.Add(1)
			return
		}
		if h.Exchange != sa.pending.exch {
			// A response carries its request's exchange type as well as its message
			// ID (RFC 7296 2.1, 3.1): this one answers something else, so it is no
			// answer to ours, which stays pending and is retransmitted. Its header
			// is wrong for that message ID: in-header-errors.
			sa.d.Stats.Malformed.Add(1)
			sa.d.log.Debug("ipsec: dropped a response of another exchange type", "peer", sa.peer.Name,
				"exchange", h.Exchange, "want", sa.pending.exch, "message-id", h.MsgID)
			return
		}
	} else {
		if h.MsgID+1 == sa.recvReqID && sa.hasResp && sa.lastRespID == h.MsgID {
			// A retransmitted request: answer with the cached response (once per
			// message, not per fragment).
			if h.NextPayload == PayloadSKF && len(b) >= HeaderLen+6 && binary.BigEndian.Uint16(b[HeaderLen+4:]) != 1 {
				return
			}
			sa.sendPkts(sa.lastResp)
			return
		}
		if h.MsgID != sa.recvReqID {
			sa.d.Stats.ReplayedOrStale.Add(1)
			return
		}
	}
	ps, err := ParsePayloads(b, HeaderLen, h.NextPayload)
	if err != nil || len(ps) != 1 {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	var pt []byte
	var first PayloadType
	switch e := ps[0].(type) {
	case *Encrypted:
		pt, err = sa.cIn.Open(b[:e.Offset+4], e.Body)
		first = e.First
	case *Fragment:
		var part []byte
		part, err = sa.cIn.Open(b[:e.Offset+8], e.Body)
		if err != nil {
			break
		}
		pt, first = sa.reassemble(h, e, part)
		if pt == nil {
			sa.lastRecv = time.Now()
			return
		}
	default:
		err = malformed("no encrypted payload")
	}
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		if !errors.Is(err, ErrMalformed) {
			sa.d.Stats.BadIntegrity.Add(1)
		}
		sa.d.log.Debug("ipsec: dropped message", "peer", sa.peer.Name, "err", err)
		return
	}
	// A verified message: the peer is alive and this is its address now (NAT mapping
	// changes, RFC 7296 2.23).
	sa.lastRecv = time.Now()
	if sa.state == stateHalfOpen {
		// The initiator floated to port 4500 with IKE_AUTH (RFC 7296 2.23): answer
		// there, and so does ESP.
		sa.local, sa.remote = local, from
	}
	if sa.natRemote && from != sa.remote && sa.state == stateEstablished {
		sa.moveTo(from, "IKE")
	}
	inner, perr := ParsePayloads(pt, 0, first)
	if perr == nil {
		sa.d.logMessage("received", h.Exchange, h.IsResponse(), h.MsgID, inner, sa.peer.Name, local, from)
	}
	if h.IsResponse() {
		req := sa.pending
		sa.pending = nil
		if perr != nil {
			sa.d.Stats.Malformed.Add(1)
			if req.onFail != nil {
				req.onFail()
			}
			sa.kick()
			return
		}
		if req.onResp != nil {
			req.onResp(inner)
		}
		sa.kick()
		return
	}
	sa.recvReqID = h.MsgID + 1
	if perr != nil {
		if n := unsupportedCritical(perr); n != nil {
			sa.respond(h.Exchange, h.MsgID, []Payload{n})
			return
		}
		sa.d.Stats.Malformed.Add(1)
		sa.d.log.Warn("ipsec: malformed request", "peer", sa.peer.Name, "exchange", h.Exchange, "err", perr)
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidSyntax}})
		return
	}
	switch h.Exchange {
	case IKEAuth:
		sa.authRequest(h, inner)
	case CreateChildSA:
		sa.createChildRequest(h, inner)
	case Informational:
		sa.informational(h, inner)
	default:
		sa.respond(h.Exchange, h.MsgID, []Payload{&Notify{NType: NotifyInvalidSyntax}})
	}
}

func (sa *IKESA) reassemble(h Header, f *Fragment, part []byte) ([]byte, PayloadType) {
	fb := sa.frag
	if fb == nil || fb.msgID != h.MsgID || fb.resp != h.IsResponse() {
		fb = &fragBuf{msgID: h.MsgID, resp: h.IsResponse(), total: f.Total, parts: map[uint16][]byte{}, started: time.Now()}
		sa.frag = fb
	}
	if f.Total != fb.total || f.Total > 64 {
		sa.frag = nil
		return nil, 0
	}
	if f.Num == 1 {
		fb.first = f.First
	}
	fb.parts[f.Num] = part
	if len(fb.parts) < int(fb.total) {
		return nil, 0
	}
	var all []byte
	for i := uint16(1); i <= fb.total; i++ {
		all = append(all, fb.parts[i]...)
	}
	sa.frag = nil
	return all, fb.first
}

// deriveKeys computes SKEYSEED and the IKE SA keys (RFC 7296 2.14); skdOld is set for
// an IKE SA rekey (2.18).
func (sa *IKESA) deriveKeys(shared, skdOld []byte, oldPRF *HashSpec) error {
	s := sa.suite
	var skeyseed []byte
	if skdOld == nil {
		skeyseed = s.PRF.Sum(append(append([]byte{}, sa.ni...), sa.nr...), shared)
	} else {
		skeyseed = oldPRF.Sum(skdOld, shared, sa.ni, sa.nr)
	}
	seed := append(append(append(append([]byte{}, sa.ni...), sa.nr...), spi64(sa.spiI)...), spi64(sa.spiR)...)
	pl, il, el := s.PRF.Key, s.IntegKeyLen(), s.EncrKeyLen()
	km := s.PRF.PRFPlus(skeyseed, seed, pl+2*il+2*el+2*pl)
	take := func(n int) []byte { b := km[:n]; km = km[n:]; return b }
	sa.skD = take(pl)
	ai, ar := take(il), take(il)
	ei, er := take(el), take(el)
	sa.skPi, sa.skPr = take(pl), take(pl)
	ci, err := NewCipher(s.Encr, ei, s.Integ, ai)
	if err != nil {
		return err
	}
	cr, err := NewCipher(s.Encr, er, s.Integ, ar)
	if err != nil {
		return err
	}
	if sa.initiator {
		sa.cOut, sa.cIn = ci, cr
	} else {
		sa.cOut, sa.cIn = cr, ci
	}
	return nil
}

// authData computes the PSK AUTH payload data for one side (RFC 7296 2.15) whose ID
// payload body is idb: as sent, so the peer's as received (idBody for ours).
func (sa *IKESA) authData(psk []byte, ofInitiator bool, idb []byte) []byte {
	var msg, nonce, key []byte
	if ofInitiator {
		msg, nonce, key = sa.initI, sa.nr, sa.skPi
	} else {
		msg, nonce, key = sa.initR, sa.ni, sa.skPr
	}
	prf := sa.suite.PRF
	macedID := prf.Sum(key, idb)
	k := prf.Sum(psk, []byte("Key Pad for IKEv2"))
	return prf.Sum(k, msg, nonce, macedID)
}

func (sa *IKESA) localIdentity() Identity {
	if sa.ident != nil && !sa.ident.MyID.Auto {
		id := sa.ident.MyID.ID
		if c := sa.ident.Cert; c != nil && len(c.Chain) > 0 && dnEqual(id, Identity{IDDERASNDN, c.Chain[0].RawSubject}) {
			// my-id=dn: naming the certificate: its subject's own encoding.
			return Identity{IDDERASNDN, c.Chain[0].RawSubject}
		}
		return id
	}
	if sa.ident != nil && sa.ident.Cert != nil && len(sa.ident.Cert.Chain) > 0 {
		return certIdentity(sa.ident.Cert.Chain[0]) // my-id=auto: the certificate's SAN, else its DN
	}
	return AddrIdentity(sa.local.Addr())
}

// initResponse handles the IKE_SA_INIT response as initiator.
func (sa *IKESA) initResponse(b []byte, h Header, from netip.AddrPort) {
	m, err := Parse(b)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		return
	}
	sa.d.logMessage("received", IKESAInit, true, 0, m.Payloads, sa.peer.Name, sa.local, from)
	if n := FindNotify(m.Payloads, NotifyCookie); n != nil {
		if len(n.Data) < 1 || len(n.Data) > 64 {
			return
		}
		sa.cookie = n.Data
		sa.pending = nil
		sa.sendInit()
		return
	}
	if n := FindNotify(m.Payloads, NotifyInvalidKEPayload); n != nil && len(n.Data) == 2 {
		g := binary.BigEndian.Uint16(n.Data)
		if g == sa.askedDH && g == sa.dh.Group() {
			// Another copy of the INVALID_KE_PAYLOAD that made us switch (a duplicated
			// or retransmitted datagram: the answer to our first request has the same
			// SPIs and message ID): the request with that group stays pending.
			sa.d.log.Debug("ipsec: ignored a repeated INVALID_KE_PAYLOAD", "peer", sa.peer.Name, "dh", DHName(g))
			return
		}
		if g == sa.dh.Group() || !proposalsHaveDH(sa.peer.Proposals, g) {
			sa.fail("peer wants DH group " + DHName(g) + ", which is not proposed")
			return
		}
		dh, err := NewDH(g)
		if err != nil {
			sa.fail(err.Error())
			return
		}
		sa.dh, sa.askedDH = dh, g
		sa.pending = nil
		sa.sendInit()
		return
	}
	for _, n := range Notifies(m.Payloads) {
		if n.NType.IsError() {
			if n.NType == NotifyNoProposalChosen {
				sa.d.Stats.NoProposal.Add(1)
			}
			sa.fail(fmt.Sprintf("peer answered IKE_SA_INIT with %s", notifyName(n.NType)))
			return
		}
	}
	sap, ke, nr := Find[*SA](m.Payloads), Find[*KE](m.Payloads), Find[*Nonce](m.Payloads)
	if sap == nil || ke == nil || nr == nil || len(sap.Proposals) != 1 || h.SPIr == 0 {
		sa.d.Stats.Malformed.Add(1)
		sa.fail("IKE_SA_INIT response without SA, KE or nonce")
		return
	}
	chosen := sap.Proposals[0]
	sa.d.logChosen("IKE SA", sa.peer.Name, &chosen)
	if _, ok := Select([]Proposal{chosen}, sa.peer.Proposals); !ok {
		sa.fail("peer chose a proposal that was not offered")
		return
	}
	suite, err := SuiteOf(&chosen)
	if err != nil || suite.DH != ke.Group || ke.Group != sa.dh.Group() {
		sa.fail("peer chose an unusable proposal")
		return
	}
	shared, err := sa.dh.Shared(ke.Data)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		sa.fail(err.Error())
		return
	}
	sa.pending = nil
	sa.suite = suite
	sa.spiR = h.SPIr
	sa.nr = nr.Data
	sa.initR = b
	sa.fragOK = FindNotify(m.Payloads, NotifyIKEv2FragmentationSupp) != nil
	sa.noteSigInit(m.Payloads)
	if err := sa.deriveKeys(shared, nil, nil); err != nil {
		sa.fail(err.Error())
		return
	}
	sa.detectNAT(m.Payloads, from, sa.spiR)
	if sa.natLocal || sa.natRemote {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.d.opts.NATPort)
		if sa.remote.Port() == sa.d.opts.Port || sa.remote.Port() == 500 {
			sa.remote = netip.AddrPortFrom(sa.remote.Addr(), sa.d.opts.NATPort)
		}
	}
	sa.state = stateAuthSent
	sa.sendAuth()
}

func proposalsHaveDH(ps []Proposal, g uint16) bool {
	for _, p := range ps {
		for _, t := range p.Transforms {
			if t.Type == TransformDH && t.ID == g {
				return true
			}
		}
	}
	return false
}

// detectNAT compares the peer's NAT_DETECTION hashes with the addresses seen; spiR is
// the responder SPI the hashes were made with (zero in the IKE_SA_INIT request).
func (sa *IKESA) detectNAT(ps []Payload, from netip.AddrPort, spiR uint64) {
	var srcs [][]byte
	var dst []byte
	for _, n := range Notifies(ps) {
		switch n.NType {
		case NotifyNATDetectionSourceIP:
			srcs = append(srcs, n.Data)
		case NotifyNATDetectionDestIP:
			dst = n.Data
		}
	}
	if len(srcs) == 0 || dst == nil || !sa.peer.NATTraversal {
		return
	}
	sa.natRemote = true
	want := natHash(sa.spiI, spiR, from)
	for _, s := range srcs {
		if hmac.Equal(s, want) {
			sa.natRemote = false
		}
	}
	sa.natLocal = !hmac.Equal(dst, natHash(sa.spiI, spiR, sa.local))
}

// sendFailed records that the kernel refused to send one of the SA's messages. The first
// failure, and each different one, is a warning (RouterOS's ipsec topic logs what keeps a
// peer down); repeats are debug. The error stays on the SA until a send succeeds, so
// that an attempt given up says why nothing was answered.
func (sa *IKESA) sendFailed(err error) {
	level := slog.LevelDebug
	if err.Error() != sa.sendErr {
		level = slog.LevelWarn
	}
	sa.sendErr = err.Error()
	sa.d.log.Log(context.Background(), level, "ipsec: sending to the peer failed", "peer", sa.peer.Name,
		"local", sa.local, "remote", sa.remote, "err", err)
}

func (sa *IKESA) fail(why string) {
	sa.d.log.Warn("ipsec: IKE SA failed", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "reason", why)
	sa.destroy(why)
}

// sendAuth sends IKE_AUTH with the first CHILD_SA.
func (sa *IKESA) sendAuth() {
	if sa.ident.Method == AuthMethodEAP {
		sa.sendAuthEAP()
		return
	}
	sa.myID = sa.localIdentity()
	ps := []Payload{&ID{IDType: sa.myID.Type, Data: sa.myID.Data}}
	if sa.initialContactDue() {
		ps = append(ps, &Notify{NType: NotifyInitialContact})
	}
	if id := sa.ident.RemoteID; !id.Auto && !id.Ignore {
		ps = append(ps, &ID{Responder: true, IDType: id.ID.Type, Data: id.ID.Data})
	}
	own, err := sa.ownAuth(sa.ident, true, sa.myID)
	if err != nil {
		sa.fail(err.Error())
		return
	}
	if sa.ident.Method == AuthMethodSignature {
		ps = append(ps, sa.certReq()...)
	}
	ps = append(ps, own...)
	ps = append(ps, sa.firstChildRequest()...)
	sa.request(IKEAuth, ps, sa.authResponse, func() { sa.fail("malformed IKE_AUTH response") })
}

func (sa *IKESA) authResponse(ps []Payload) {
	for _, n := range Notifies(ps) {
		if n.NType == NotifyAuthenticationFailed {
			sa.d.Stats.AuthFailed.Add(1)
			sa.fail("peer reports AUTHENTICATION_FAILED (pre-shared key or identity mismatch)")
			return
		}
	}
	idr, _ := FindType(ps, PayloadIDr).(*ID)
	auth := Find[*Auth](ps)
	if idr == nil || auth == nil {
		for _, n := range Notifies(ps) {
			if n.NType.IsError() {
				sa.fail("peer answered IKE_AUTH with " + notifyName(n.NType))
				return
			}
		}
		sa.d.Stats.Malformed.Add(1)
		sa.fail("IKE_AUTH response without IDr or AUTH")
		return
	}
	rid := Identity{Type: idr.IDType, Data: idr.Data}
	if !sa.remoteIDMatches(sa.ident, rid) {
		sa.rejectPeerAuth("peer's identity " + rid.String() + " does not match remote-id")
		return
	}
	if why := sa.checkPeerAuth(sa.ident, auth, rid, idr.body(nil), ps, false); why != "" {
		sa.rejectPeerAuth("peer's AUTH refused: " + why)
		return
	}
	sa.remoteID, sa.remoteIDBody = rid, idr.body(nil)
	if c := Find[*CP](ps); c != nil && c.CfgType == CPReply {
		sa.takeConfig(c)
	}
	sa.setEstablished()
	if cp := sa.pendingFirst; cp != nil {
		sa.pendingFirst = nil
		c := sa.completeChild(cp, ps, sa.ni, sa.nr)
		if sa.done != nil {
			if c != nil {
				sa.done <- nil
			} else {
				sa.done <- errors.New("CHILD SA refused")
			}
			sa.done = nil
		}
	}
	for _, c := range sa.peer.Children[min(1, len(sa.peer.Children)):] {
		sa.createChild(c)
	}
}

// rejectPeerAuth ends an initiation whose IKE_AUTH response this side refuses (the
// responder's ID or AUTH): the responder has set the SA up by answering, so it is told
// in an INFORMATIONAL with AUTHENTICATION_FAILED (RFC 7296 2.21.2), which makes it drop
// the SA and its CHILD SA. Without it the responder kept both until DPD or their
// lifetimes, showing a connection routerd had refused.
func (sa *IKESA) rejectPeerAuth(why string) {
	sa.d.Stats.AuthFailed.Add(1)
	id := sa.nextReqID
	sa.nextReqID++
	sa.sendPkts(sa.encrypt(Informational, false, id, []Payload{&Notify{NType: NotifyAuthenticationFailed}}))
	sa.fail(why)
}

// takeConfig records the address and networks a responder handed out.
func (sa *IKESA) takeConfig(c *CP) {
	for _, a := range c.Attrs {
		switch a.Type {
		case CPInternalIP4Address:
			if ip, ok := netip.AddrFromSlice(a.Value); ok && len(a.Value) == 4 {
				sa.vip = ip
			}
		case CPInternalIP4Subnet:
			if len(a.Value) == 8 {
				sa.splits = append(sa.splits, prefixOfMask(a.Value[:4], a.Value[4:8]))
			}
		case CPInternalIP4DNS:
			sa.takeDNS(a.Value)
		}
	}
	if sa.vip.IsValid() {
		sa.d.log.Info("ipsec: mode config address received", "peer", sa.peer.Name, "address", sa.vip, "split", fmt.Sprint(sa.splits))
	}
}

func (sa *IKESA) remoteIDMatches(ic *IdentityConfig, id Identity) bool {
	if ic.RemoteID.Ignore {
		return true
	}
	if ic.RemoteID.Auto {
		// auto: for pre-shared keys the peer may send any ID; an address ID must be
		// the peer's own address (RouterOS matches it against the remote address).
		if id.Type == IDIPv4 || id.Type == IDIPv6 {
			a, _ := netip.AddrFromSlice(id.Data)
			return a.Unmap() == sa.remote.Addr() || sa.natRemote ||
				(sa.peer != nil && sa.peer.SkipPeerIDCheck && sa.peer.Exchange != ExchangeIKEv2)
		}
		return true
	}
	return ic.RemoteID.ID.Equal(id) || dnEqual(ic.RemoteID.ID, id)
}

func (sa *IKESA) setEstablished() {
	now := time.Now()
	sa.state = stateEstablished
	sa.d.initUp(sa.peer)
	sa.ikeUp()
	sa.established = now
	sa.d.Stats.IKEEstablished.Add(1)
	if lt := sa.peer.Lifetime; lt > 0 {
		sa.expireAt = now.Add(lt)
		sa.rekeyAt = now.Add(jitter(lt, 0.9, sa.initiator))
	}
	delete(sa.d.halfOpen, halfKey{sa.spiI, sa.remote})
	nat := ""
	if sa.natLocal || sa.natRemote {
		nat = " (NAT-T)"
	}
	sa.dropDuplicate()
	sa.d.log.Info("ipsec: IKE SA established"+nat, "peer", sa.peer.Name, "remote", sa.remote.Addr(),
		"suite", sa.suite.String(), "side", sa.side(), "remote-id", sa.remoteID.String())
	sa.d.changed()
}

// dropDuplicate resolves two IKE SAs with the same peer that both sides initiated at
// once: the one with the larger initiator SPI is redundant and its initiator deletes it
// (both sides reach the same verdict, only one sends the delete).
func (sa *IKESA) dropDuplicate() {
	for _, o := range sa.d.sas {
		if o == sa || o.peer != sa.peer || o.state != stateEstablished || o.remote.Addr() != sa.remote.Addr() || o.rekeying || sa.rekeying {
			continue
		}
		redundant := sa
		if o.spiI > sa.spiI {
			redundant = o
		}
		if redundant.initiator {
			sa.d.log.Info("ipsec: both sides initiated; deleting the redundant IKE SA", "peer", sa.peer.Name)
			redundant.deleteIKE("redundant: both sides initiated")
		}
		return
	}
}

// jitter places a soft deadline at frac of lt, a little earlier on the initiator so the
// two sides rarely rekey at once.
func jitter(lt time.Duration, frac float64, initiator bool) time.Duration {
	var b [1]byte
	rand.Read(b[:])
	f := frac - float64(b[0])/255*0.05
	if !initiator {
		// The original responder waits clearly longer, so that the two sides rarely
		// start a rekey at once (collisions are handled, but cost a round).
		f = frac + 0.05 - float64(b[0])/255*0.02
	}
	return time.Duration(float64(lt) * f)
}

func (sa *IKESA) side() string {
	if sa.initiator {
		return "initiator"
	}
	return "responder"
}

// proposeChild prepares a CHILD_SA proposal (IKE_AUTH or CREATE_CHILD_SA).
func (sa *IKESA) proposeChild(c *ChildConfig, rekey *ChildSA, pfs bool) *childProposal {
	cp := &childProposal{cfg: c, spi: sa.d.newChildSPI(), rekey: rekey}
	cp.tsi = []Selector{c.Local}
	cp.tsr = []Selector{c.Remote}
	if mc := sa.modeConfig(); mc != nil && !mc.Responder && cp.tsi[0].Start.Is4() {
		// Our address is the one the responder hands out: before it did, ask for any
		// (it narrows); after, for that address.
		ours := cp.tsi[0]
		ours.Start, ours.End = netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})
		if sa.vip.Is4() {
			ours.Start, ours.End = sa.vip, sa.vip
		}
		cp.tsi = []Selector{ours}
	}
	if rekey != nil {
		cp.tsi, cp.tsr = rekey.LocalTS, rekey.RemoteTS
	}
	if pfs {
		if g := firstDH(c.Proposals); g != 0 {
			cp.dh, _ = NewDH(g)
		}
	}
	return cp
}

// payloads are the CHILD_SA payloads of a proposal; in CREATE_CHILD_SA they carry a
// nonce and, with PFS, a KE.
func (cp *childProposal) payloads(create bool) []Payload {
	props := cp.cfg.Proposals
	if !create || cp.dh == nil {
		props = stripDH(props)
	}
	var ps []Payload
	if cp.rekey != nil {
		ps = append(ps, &Notify{Protocol: ProtoESP, SPI: spiBytes(cp.rekey.InSPI), NType: NotifyRekeySA})
	}
	if !cp.cfg.Tunnel {
		ps = append(ps, &Notify{NType: NotifyUseTransportMode})
	}
	ps = append(ps, &SA{Proposals: withSPI(props, spiBytes(cp.spi))})
	if create {
		cp.ni = nonce()
		ps = append(ps, &Nonce{Data: cp.ni})
		if cp.dh != nil {
			ps = append(ps, &KE{Group: cp.dh.Group(), Data: cp.dh.Public()})
		}
	}
	ps = append(ps, &TS{Selectors: cp.tsi}, &TS{Responder: true, Selectors: cp.tsr})
	return ps
}

func stripDH(ps []Proposal) []Proposal {
	out := make([]Proposal, len(ps))
	for i, p := range ps {
		q := Proposal{Num: p.Num, Protocol: p.Protocol, SPI: p.SPI}
		for _, t := range p.Transforms {
			if t.Type != TransformDH {
				q.Transforms = append(q.Transforms, t)
			}
		}
		out[i] = q
	}
	return out
}

// completeChild installs the CHILD_SA the peer accepted (local side initiated).
func (sa *IKESA) completeChild(cp *childProposal, ps []Payload, ni, nr []byte) *ChildSA {
	// A failure is tried again later (childretry.go), which also logs it.
	failed := func(cause string) *ChildSA {
		sa.childFailed(cp.cfg, cp.rekey, cause)
		return nil
	}
	for _, n := range Notifies(ps) {
		if n.NType.IsError() {
			if n.NType == NotifyNoProposalChosen {
				sa.d.Stats.NoProposal.Add(1)
			}
			return failed(notifyName(n.NType))
		}
	}
	sap := Find[*SA](ps)
	tsi, _ := FindType(ps, PayloadTSi).(*TS)
	tsr, _ := FindType(ps, PayloadTSr).(*TS)
	if sap == nil || tsi == nil || tsr == nil || len(tsi.Selectors) == 0 || len(tsr.Selectors) == 0 || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 4 {
		sa.d.Stats.Malformed.Add(1)
		return failed("response without SA or TS")
	}
	chosen := sap.Proposals[0]
	offered := cp.cfg.Proposals
	if cp.dh == nil {
		offered = stripDH(offered)
	}
	if _, ok := Select([]Proposal{chosen}, offered); !ok {
		return failed("the peer chose a proposal that was not offered")
	}
	sa.d.logChosen("CHILD SA", sa.peer.Name, &chosen)
	suite, err := SuiteOf(&chosen)
	if err != nil {
		return failed(err.Error())
	}
	var shared []byte
	if cp.dh != nil {
		ke := Find[*KE](ps)
		if ke == nil || ke.Group != cp.dh.Group() {
			return failed("response without the PFS key exchange")
		}
		if shared, err = cp.dh.Shared(ke.Data); err != nil {
			return failed(err.Error())
		}
	}
	tunnel := cp.cfg.Tunnel || FindNotify(ps, NotifyUseTransportMode) == nil
	c := sa.makeChild(cp.cfg, suite, cp.spi, binary.BigEndian.Uint32(chosen.SPI), shared, ni, nr, true, tunnel)
	c.LocalTS, c.RemoteTS = tsi.Selectors, sa.initiatorSplits(cp.cfg, tsr.Selectors)
	if err := sa.installChild(c); err != nil {
		// A refused rekey leaves the old SA in place, tried again after a pause.
		return failed("the data path refused the CHILD SA: " + err.Error())
	}
	return c
}

// makeChild derives a CHILD_SA's keys (RFC 7296 2.17). initiatedHere says whether this
// side initiated the exchange that created it.
func (sa *IKESA) makeChild(cfg *ChildConfig, s *Suite, in, out uint32, shared, ni, nr []byte, initiatedHere, tunnel bool) *ChildSA {
	seed := append(append(append([]byte{}, shared...), ni...), nr...)
	el, il := s.EncrKeyLen(), s.IntegKeyLen()
	km := sa.suite.PRF.PRFPlus(sa.skD, seed, 2*el+2*il)
	ei, ai, er, ar := km[:el], km[el:el+il], km[el+il:2*el+il], km[2*el+il:]
	c := &ChildSA{Peer: sa.peer.Name, Policy: cfg, ReqID: cfg.ReqID, InSPI: in, OutSPI: out,
		Local: sa.local, Remote: sa.remote, Encap: sa.natLocal || sa.natRemote, Tunnel: tunnel,
		Suite: s, Added: time.Now(), Initiator: initiatedHere, nonceI: ni, nonceR: nr,
		Lifetime: cfg.Lifetime, Lifebytes: cfg.Lifebytes}
	if initiatedHere {
		c.OutEncKey, c.OutIntegKey, c.InEncKey, c.InIntegKey = ei, ai, er, ar
	} else {
		c.InEncKey, c.InIntegKey, c.OutEncKey, c.OutIntegKey = ei, ai, er, ar
	}
	if c.Lifetime > 0 {
		c.Soft = jitter(c.Lifetime, 0.8, initiatedHere)
	}
	return c
}

func (sa *IKESA) installChild(c *ChildSA) error {
	if dp := sa.d.dp; dp != nil {
		if err := sa.installDP(c); err != nil {
			sa.refuseChild(c, err)
			return err
		}
		sa.d.log.Debug("ipsec: CHILD SA installed", "peer", sa.peer.Name, "in-spi", fmt.Sprintf("0x%08x", c.InSPI),
			"out-spi", fmt.Sprintf("0x%08x", c.OutSPI), "src", c.Local, "dst", c.Remote, "udp-encap", c.Encap,
			"lifetime", c.Lifetime, "rekey-at", c.Soft, "lifebytes", c.Lifebytes, "outbound-waits", c.outPending)
	}
	sa.children = append(sa.children, c)
	sa.childUp(c)
	sa.d.Stats.ChildEstablished.Add(1)
	sa.d.log.Info("ipsec: CHILD SA established", "peer", sa.peer.Name, "in-spi", fmt.Sprintf("0x%08x", c.InSPI),
		"out-spi", fmt.Sprintf("0x%08x", c.OutSPI), "suite", c.Suite.String(), "mode", modeName(c.Tunnel),
		"local-ts", selString(c.LocalTS), "remote-ts", selString(c.RemoteTS))
	sa.d.changed()
	return nil
}

func modeName(tunnel bool) string {
	if tunnel {
		return "tunnel"
	}
	return "transport"
}

func (sa *IKESA) removeChild(c *ChildSA, why string) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			sa.activateWaiting(c, time.Now())
			sa.countChild(c)
			if sa.d.dp != nil {
				err := sa.d.dpRemove(c) // a refusal is tried again (dpretry.go)
				sa.d.log.Debug("ipsec: CHILD SA deleted from the data path", "peer", sa.peer.Name,
					"in-spi", fmt.Sprintf("0x%08x", c.InSPI), "out-spi", fmt.Sprintf("0x%08x", c.OutSPI), "err", err)
			}
			sa.d.log.Info("ipsec: CHILD SA removed", "peer", sa.peer.Name, "in-spi", fmt.Sprintf("0x%08x", c.InSPI), "reason", why)
			sa.d.changed()
			return
		}
	}
}

// createChild negotiates an additional CHILD_SA for a policy.
func (sa *IKESA) createChild(cfg *ChildConfig) {
	if sa.v1 != nil {
		sa.v1CreateChild(cfg, nil)
		return
	}
	if sa.creating == nil {
		sa.creating = map[uint64]bool{}
	}
	if sa.creating[cfg.ID] {
		return
	}
	sa.creating[cfg.ID] = true
	cp := sa.proposeChild(cfg, nil, true)
	ps := cp.payloads(true)
	sa.request(CreateChildSA, ps, func(rs []Payload) {
		delete(sa.creating, cfg.ID)
		nr := Find[*Nonce](rs)
		if nr == nil {
			sa.completeChild(cp, rs, cp.ni, nil) // logs the error notify
			return
		}
		sa.completeChild(cp, rs, cp.ni, nr.Data)
	}, func() { delete(sa.creating, cfg.ID) })
}

// rekeyChild replaces a CHILD_SA by a new one (RFC 7296 2.8).
func (sa *IKESA) rekeyChild(old *ChildSA) {
	if sa.v1 != nil {
		sa.v1RekeyChild(old)
		return
	}
	if !sa.rekeyDue(old) {
		return
	}
	old.rekeying = true
	pfs := firstDH(old.Policy.Proposals) != 0
	cp := sa.proposeChild(old.Policy, old, pfs)
	ps := cp.payloads(true)
	sa.request(CreateChildSA, ps, func(rs []Payload) {
		old.rekeying = false
		if FindNotify(rs, NotifyChildSANotFound) != nil {
			// The peer no longer has it (it rekeyed or deleted it at the same time):
			// drop our half, and negotiate afresh if nothing else covers the policy.
			old.rekeyed = true
			sa.removeChild(old, "peer no longer has it")
			for _, c := range sa.children {
				if c.Policy.ID == old.Policy.ID && !c.rekeyed {
					return
				}
			}
			sa.createChild(old.Policy)
			return
		}
		nr := Find[*Nonce](rs)
		var c *ChildSA
		if nr != nil {
			c = sa.completeChild(cp, rs, cp.ni, nr.Data)
		} else {
			sa.completeChild(cp, rs, cp.ni, nil)
		}
		if c == nil {
			return
		}
		sa.d.Stats.ChildRekeys.Add(1)
		if peerNew := old.collision; peerNew != nil {
			// Simultaneous rekey (RFC 7296 2.8.1): the SA made with the lowest of the
			// four nonces is redundant; whoever created it deletes it.
			if bytes.Compare(minNonce(c.nonceI, c.nonceR), minNonce(peerNew.nonceI, peerNew.nonceR)) < 0 {
				sa.deleteChild(c, "redundant after simultaneous rekey")
				return
			}
		}
		sa.retireRekeyed(old)
	}, func() { old.rekeying = false })
}

func minNonce(a, b []byte) []byte {
	if bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

// deleteChild tells the peer and removes the CHILD_SA once it answers.
func (sa *IKESA) deleteChild(c *ChildSA, why string) {
	if sa.v1 != nil {
		sa.v1DeleteChild(c, why)
		return
	}
	c.rekeyed = true
	sa.stopSending(c)
	sa.request(Informational, []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{spiBytes(c.InSPI)}}},
		func([]Payload) { sa.retireChild(c, why) }, func() { sa.removeChild(c, why) })
}

// rekeyIKE replaces this IKE SA by a new one (RFC 7296 2.18); the CHILD_SAs move over.
func (sa *IKESA) rekeyIKE() {
	if sa.rekeying || sa.state != stateEstablished {
		return
	}
	sa.rekeying = true
	g := sa.suite.DH
	dh, err := NewDH(g)
	if err != nil {
		return
	}
	spi := sa.d.newSPI()
	ni := nonce()
	ps := []Payload{&SA{Proposals: withSPI(sa.peer.Proposals, spi64(spi))}, &Nonce{Data: ni},
		&KE{Group: dh.Group(), Data: dh.Public()}}
	placeholder := &IKESA{state: stateDead, peer: sa.peer}
	sa.d.sas[spi] = placeholder // reserve the SPI
	sa.request(CreateChildSA, ps, func(rs []Payload) {
		delete(sa.d.sas, spi)
		sa.rekeying = false
		sap, nr, ke := Find[*SA](rs), Find[*Nonce](rs), Find[*KE](rs)
		if sap == nil || nr == nil || ke == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 8 {
			if sa.ourRekeyDone(nil) {
				return
			}
			cause := "response without SA, nonce or KE"
			for _, n := range Notifies(rs) {
				if n.NType.IsError() {
					cause = notifyName(n.NType)
				}
			}
			sa.ikeRekeyFailed(cause, FindNotify(rs, NotifyTemporaryFailure) != nil)
			return
		}
		chosen := sap.Proposals[0]
		suite, err := SuiteOf(&chosen)
		if err != nil || ke.Group != g {
			sa.ikeRekeyFailed("the peer answered with another proposal or group than offered", false)
			return
		}
		shared, err := dh.Shared(ke.Data)
		if err != nil {
			sa.ikeRekeyFailed(err.Error(), false)
			return
		}
		n := sa.successor(true, spi, binary.BigEndian.Uint64(chosen.SPI), suite, ni, nr.Data)
		if err := n.deriveKeys(shared, sa.skD, sa.suite.PRF); err != nil {
			sa.ikeRekeyFailed(err.Error(), false)
			return
		}
		sa.d.sas[n.spiI] = n
		sa.d.Stats.IKERekeys.Add(1)
		if sa.ourRekeyDone(n) {
			return
		}
		sa.handOver(n)
	}, func() { delete(sa.d.sas, spi); sa.rekeying = false })
}

// vipLease is a mode config address leased from a pool for one peer. The IKE SAs that
// replace the one it was given on by rekeying share it; the last of them to go releases
// it, once.
type vipLease struct{ release func() }

// heldElsewhere reports whether a live IKE SA other than sa has what has picks: a rekey's
// successor sharing sa's lease or EAP session (d.mu held). A successor that never made
// it into d.sas (its keys failed) holds nothing.
func (d *Daemon) heldElsewhere(sa *IKESA, has func(o *IKESA) bool) bool {
	for _, o := range d.sas {
		if o != sa && o.state != stateDead && has(o) {
			return true
		}
	}
	return false
}

// successor builds the IKE SA that replaces sa after a rekey.
func (sa *IKESA) successor(weInitiated bool, ourSPI, theirSPI uint64, s *Suite, ni, nr []byte) *IKESA {
	n := sa.d.newSA(sa.peer, weInitiated)
	n.ident, n.local, n.remote, n.natLocal, n.natRemote = sa.ident, sa.local, sa.remote, sa.natLocal, sa.natRemote
	n.remoteID, n.remoteIDBody, n.myID, n.fragOK, n.suite, n.ni, n.nr = sa.remoteID, sa.remoteIDBody, sa.myID, sa.fragOK, s, ni, nr
	// What authentication and mode config gave the peer stays with it: the address
	// (and its pool lease, which the last of the two SAs to go releases), the split
	// networks and DNS servers received, the verified certificate, the EAP session
	// (accounted once, stopped when the last SA goes). Without them the old SA's
	// delete freed the address for another client while this one kept using it.
	n.vip, n.vipLease, n.splits, n.dns = sa.vip, sa.vipLease, sa.splits, sa.dns
	n.peerCert, n.eap = sa.peerCert, sa.eap
	if weInitiated {
		n.spiI, n.spiR = ourSPI, theirSPI
	} else {
		n.spiI, n.spiR = theirSPI, ourSPI
	}
	n.nextReqID = 0
	n.state = stateEstablished
	now := time.Now()
	n.established = now
	if lt := sa.peer.Lifetime; lt > 0 {
		n.expireAt = now.Add(lt)
		n.rekeyAt = now.Add(jitter(lt, 0.9, weInitiated))
	}
	return n
}

// handOver moves the children to the new SA and deletes the old one.
func (sa *IKESA) handOver(n *IKESA) {
	n.children = sa.children
	sa.children = nil
	sa.handedTo = n
	n.redoDeletes()
	sa.d.log.Info("ipsec: IKE SA rekeyed", "peer", sa.peer.Name, "suite", n.suite.String())
	sa.state = stateDeleting
	sa.request(Informational, []Payload{&Delete{Protocol: ProtoIKE}}, func([]Payload) { sa.destroy("rekeyed") },
		func() { sa.destroy("rekeyed") })
	sa.d.changed()
}

// sendDelete sends an IKE SA delete without waiting for the answer.
func (sa *IKESA) sendDelete() {
	if sa.v1 != nil {
		sa.v1SendDelete()
		return
	}
	if sa.cOut == nil {
		return
	}
	id := sa.nextReqID
	sa.nextReqID++
	pkts := sa.encrypt(Informational, false, id, []Payload{&Delete{Protocol: ProtoIKE}})
	sa.sendPkts(pkts)
	if sa.state == stateAuthSent {
		// The responder takes no request beyond the IKE_AUTH it has not answered yet
		// (window size 1): a delete that overtakes it, even between its fragments, is
		// ignored (charon: "received message ID 2, expected 1") and the SA then came up
		// at the peer with nothing left to delete it. Sent again once the IKE_AUTH is
		// surely processed; a duplicate is answered again, nothing more.
		d, local, remote := sa.d, sa.local, sa.remote
		for _, after := range []time.Duration{500 * time.Millisecond, 2 * time.Second} {
			time.AfterFunc(after, func() {
				for _, b := range pkts {
					_ = d.send(b, local, remote)
				}
			})
		}
	}
}

// peerMayHold reports whether the peer may hold this IKE SA, so that removing it here
// must tell the peer: it is established, or this side's IKE_AUTH is out (the responder
// has the SA once it answers). An initiation abandoned then (kill-connections, a
// changed identity) otherwise left the responder an SA nothing would ever delete.
func (sa *IKESA) peerMayHold() bool {
	return sa.state == stateEstablished || (sa.v1 == nil && sa.initiator && sa.state == stateAuthSent && sa.cOut != nil)
}

// Delete removes the IKE SA, telling the peer.
func (sa *IKESA) deleteIKE(why string) {
	if sa.v1 != nil { // IKEv1 deletes are not answered
		if sa.state == stateEstablished {
			sa.v1SendDelete()
		}
		sa.destroy(why)
		return
	}
	if sa.state != stateEstablished {
		sa.destroy(why)
		return
	}
	sa.state = stateDeleting
	sa.queue = nil
	sa.request(Informational, []Payload{&Delete{Protocol: ProtoIKE}}, func([]Payload) { sa.destroy(why) },
		func() { sa.destroy(why) })
}

// destroy removes the IKE SA and its CHILD_SAs locally.
func (sa *IKESA) destroy(why string) {
	if sa.state == stateDead {
		return
	}
	for len(sa.children) > 0 {
		sa.removeChild(sa.children[0], why)
	}
	if sa.v1 != nil {
		sa.v1DropQMs()
	}
	was := sa.state
	sa.eapEnded(was == stateEstablished || was == stateDeleting, why)
	if sa.initiator && sa.peer != nil && sa.d.started[sa.peer.Name] == sa && !sa.d.closed &&
		(was == stateInitSent || was == stateAuthSent) {
		sa.d.initEnded(sa.peer, time.Now(), why)
	}
	sa.state = stateDead
	if sa.done != nil {
		sa.done <- errors.New(why)
		sa.done = nil
	}
	sa.pending, sa.queue = nil, nil
	if sa.initiator {
		delete(sa.d.sas, sa.spiI)
	} else {
		delete(sa.d.sas, sa.spiR)
	}
	delete(sa.d.halfOpen, halfKey{sa.spiI, sa.remote})
	if l := sa.vipLease; l != nil {
		sa.vipLease = nil
		if l.release != nil && !sa.d.heldElsewhere(sa, func(o *IKESA) bool { return o.vipLease == l }) {
			l.release()
		}
	}
	if was == stateEstablished || was == stateDeleting {
		sa.d.log.Info("ipsec: IKE SA deleted", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "reason", why)
	}
	sa.d.changed()
}

// timers runs retransmissions, DPD, keepalives and lifetimes (d.mu held).
func (sa *IKESA) timers(now time.Time) {
	if sa.v1 != nil {
		sa.v1Timers(now)
		return
	}
	if sa.dpdBudgetSpent(now) {
		return
	}
	if r := sa.pending; r != nil && now.Sub(r.sentAt) >= r.timeout {
		if r.tries >= r.maxTries {
			sa.pending = nil
			if r.fixed {
				sa.d.Stats.DPDFailures.Add(1)
				sa.d.log.Warn("ipsec: peer is dead (no answer to dead peer detection)", "peer", sa.peer.Name,
					"remote", sa.remote.Addr(), "probes", r.tries)
				sa.destroy("dead peer")
				return
			}
			if r.onFail != nil {
				r.onFail()
			}
			if sa.state != stateEstablished {
				why := fmt.Sprintf("no answer to %s after %d tries", r.exch, r.tries)
				if sa.sendErr != "" {
					why += " (sending failed: " + sa.sendErr + ")"
				}
				sa.fail(why)
			} else {
				sa.d.log.Warn("ipsec: peer does not answer, deleting IKE SA", "peer", sa.peer.Name, "exchange", r.exch.String())
				sa.destroy("peer does not answer")
			}
			return
		}
		if !r.fixed {
			r.timeout *= 2
		}
		sa.d.Stats.Retransmits.Add(1)
		sa.transmit(r)
	}
	switch sa.state {
	case stateHalfOpen, stateInitSent, stateAuthSent:
		if now.Sub(sa.created) > 60*time.Second {
			sa.fail("negotiation timed out")
		}
		return
	case stateEstablished:
	default:
		return
	}
	if sa.peer.DPDInterval > 0 && sa.pending == nil && len(sa.queue) == 0 && now.Sub(sa.lastRecv) >= sa.peer.DPDInterval {
		sa.d.log.Debug("ipsec: DPD: checking the peer is alive", "peer", sa.peer.Name, "remote", sa.remote,
			"silent-for", now.Sub(sa.lastRecv).Truncate(time.Second), "dpd-maximum-failures", sa.peer.DPDMaxFailures)
		r := &request{exch: Informational, fixed: true, timeout: sa.peer.DPDInterval, maxTries: sa.peer.DPDMaxFailures}
		r.msgID = sa.nextReqID
		sa.nextReqID++
		r.pkts = sa.encrypt(Informational, false, r.msgID, nil)
		sa.transmit(r)
	}
	if sa.natLocal && now.Sub(sa.lastSent) >= 20*time.Second {
		sa.lastSent = now
		sa.d.sendKeepalive(sa.local, sa.remote)
	}
	sa.activateWaiting(nil, now)
	sa.sendLaggedDeletes(now)
	for _, c := range append([]*ChildSA(nil), sa.children...) {
		age := now.Sub(c.Added)
		if c.Lifetime > 0 && age >= c.Lifetime {
			sa.expireChild(c)
			continue
		}
		if (c.Soft > 0 && age >= c.Soft || c.softHit) && !c.rekeyed && !c.rekeying && !now.Before(c.rekeyRetry.next) {
			sa.rekeyChild(c)
		}
	}
	if !sa.rekeyAt.IsZero() && now.After(sa.rekeyAt) {
		sa.rekeyIKE()
	}
	if !sa.expireAt.IsZero() && now.After(sa.expireAt) {
		sa.deleteIKE("lifetime expired")
	}
}

// RekeyChild starts a rekey of the CHILD_SA with an inbound SPI (the data path's soft
// lifetime event).
func (d *Daemon) RekeyChild(inSPI uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sa := range d.sas {
		for _, c := range sa.children {
			if c.InSPI == inSPI || c.OutSPI == inSPI {
				sa.rekeyChild(c)
				return
			}
		}
	}
}

// reconcileChildren deletes CHILD_SAs of policies that are gone and negotiates new ones.
func (sa *IKESA) reconcileChildren() {
	if sa.state != stateEstablished {
		return
	}
	want := map[uint64]*ChildConfig{}
	for _, c := range sa.peer.Children {
		want[c.ID] = c
	}
	have := map[uint64]bool{}
	for _, c := range append([]*ChildSA(nil), sa.children...) {
		if nc := want[c.Policy.ID]; nc != nil {
			have[c.Policy.ID] = true
			if !c.Policy.Dynamic {
				c.Policy = nc
			}
			continue
		}
		if !c.Policy.Dynamic { // generated from a template for this SA: stays with it
			sa.deleteChild(c, "policy removed")
		}
	}
	if sa.initiator {
		for _, c := range sa.peer.Children {
			if !have[c.ID] {
				sa.createChild(c)
			}
		}
	}
}

func notifyName(t NotifyType) string {
	switch t {
	case NotifyAuthenticationFailed:
		return "AUTHENTICATION_FAILED"
	case NotifyNoProposalChosen:
		return "NO_PROPOSAL_CHOSEN"
	case NotifyInvalidKEPayload:
		return "INVALID_KE_PAYLOAD"
	case NotifyTSUnacceptable:
		return "TS_UNACCEPTABLE"
	case NotifyInvalidSyntax:
		return "INVALID_SYNTAX"
	case NotifyTemporaryFailure:
		return "TEMPORARY_FAILURE"
	case NotifyChildSANotFound:
		return "CHILD_SA_NOT_FOUND"
	case NotifyUnsupportedCritical:
		return "UNSUPPORTED_CRITICAL_PAYLOAD"
	case NotifyInternalAddressFailure:
		return "INTERNAL_ADDRESS_FAILURE"
	case NotifyFailedCPRequired:
		return "FAILED_CP_REQUIRED"
	case NotifySinglePairRequired:
		return "SINGLE_PAIR_REQUIRED"
	}
	return fmt.Sprintf("notify %d", t)
}

// firstChildRequest is the initiator's IKE_AUTH tail, with PSK, signature or EAP alike: the
// mode-config request (responder=no) and the first CHILD SA's proposal, kept as
// pendingFirst for the response.
func (sa *IKESA) firstChildRequest() []Payload {
	var ps []Payload
	mc := sa.ident.ModeConfig
	if mc != nil && !mc.Responder {
		ps = append(ps, &CP{CfgType: CPRequest, Attrs: []CPAttr{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}}})
	}
	var cp *childProposal
	if len(sa.peer.Children) > 0 {
		cp = sa.proposeChild(sa.peer.Children[0], nil, false)
		ps = append(ps, cp.payloads(false)...)
	}
	sa.pendingFirst = cp
	return ps
}
