package ike

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Options configure a Daemon.
type Options struct {
	// Port and NATPort are the IKE ports (500 and 4500; tests may move them).
	Port, NATPort uint16
	// Listen opens a UDP socket (default net.ListenUDP); network is "udp4" or "udp6".
	Listen func(network string, laddr *net.UDPAddr) (*net.UDPConn, error)
	// Do runs f in the network namespace of the sockets, for the netlink requests that
	// check an initiator's source address (default: the calling thread's).
	Do func(f func() error) error
	// CookieThreshold is the number of half-open IKE SAs above which the responder
	// asks for a COOKIE (RFC 7296 2.6).
	CookieThreshold int
	// FragmentSize is the largest IKE message sent unfragmented once the peer supports
	// IKE fragmentation (RFC 7383).
	FragmentSize int
	// Retransmit is the first retransmission timeout; it doubles up to Retries times.
	Retransmit time.Duration
	Retries    int
	// Log receives the daemon's log lines (default slog.Default()).
	Log *slog.Logger
	// Events, when set, is called (without locks held) when an IKE SA or CHILD_SA comes
	// or goes, so that the engine can refresh its status.
	Events func()
	// EAPRelay answers eap-radius identities' EAP (eap.go); nil refuses them.
	EAPRelay EAPRelay
}

// DefaultOptions returns the ports and timers RouterOS uses.
func DefaultOptions() Options {
	return Options{Port: 500, NATPort: 4500, CookieThreshold: 64, FragmentSize: 1280,
		Retransmit: time.Second, Retries: 5}
}

// Stats are the daemon's counters (exported as metrics; the ESP counters of
// /ip ipsec statistics live in the data path).
type Stats struct {
	RxPackets, TxPackets   atomic.Uint64
	Malformed              atomic.Uint64 // IKE messages that failed to parse or decrypt
	NoSA                   atomic.Uint64 // messages for unknown IKE SPIs (statistics in-errors)
	AuthFailed             atomic.Uint64
	NoProposal             atomic.Uint64
	Retransmits            atomic.Uint64
	CookiesSent            atomic.Uint64
	RepliesPaced           atomic.Uint64 // unauthenticated error answers not sent (unauthReply budget)
	IKERekeys, ChildRekeys atomic.Uint64
	DPDFailures            atomic.Uint64
	IKEEstablished         atomic.Uint64
	ChildEstablished       atomic.Uint64
	ReplayedOrStale        atomic.Uint64
	BadIntegrity           atomic.Uint64 // of Malformed: the encrypted payload did not verify
	// CHILD_SA removals and installs the data path refused (dpretry.go).
	RemoveRefused, InstallRefused atomic.Uint64
}

type sock struct {
	c    *net.UDPConn
	v6   bool
	port uint16
}

// Daemon is the IKEv2 daemon: it owns the IKE sockets and every IKE SA.
type Daemon struct {
	opts Options
	log  *slog.Logger
	// strangers rate-limits the lines of failures anyone can cause before
	// authenticating.
	strangers strangerLog
	replies   replyBudget // unauthReply
	dp        Datapath
	Stats     Stats

	socks []*sock

	mu       sync.Mutex
	peers    []*PeerConfig
	sas      map[uint64]*IKESA // by local SPI
	halfOpen map[halfKey]*IKESA
	secret   [32]byte
	reqID    uint32
	closed   bool
	wg       sync.WaitGroup
	started  map[string]*IKESA // initiator SAs by peer name (one at a time)
	// initRetry paces the initiation of peers whose IKE SA did not come up (peerchange.go).
	initRetry map[string]*backoff
	sig       uint64      // stateSig when the engine was last told
	retired   []retired   // rekeyswitch.go
	unremoved []unremoved // dpretry.go
	ticker    *time.Ticker
	notify    chan struct{}
	done      chan struct{}
	// childRetries are the CHILD SAs to negotiate again (childretry.go).
	childRetries map[retryKey]*childRetry
}

type halfKey struct {
	spi    uint64
	remote netip.AddrPort
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("ike daemon closed")

// New opens the IKE sockets (IPv4, and IPv6 when the host has it) and starts reading.
func New(opts Options, dp Datapath) (*Daemon, error) {
	def := DefaultOptions()
	if opts.Port == 0 {
		opts.Port = def.Port
	}
	if opts.NATPort == 0 {
		opts.NATPort = def.NATPort
	}
	if opts.CookieThreshold == 0 {
		opts.CookieThreshold = def.CookieThreshold
	}
	if opts.FragmentSize == 0 {
		opts.FragmentSize = def.FragmentSize
	}
	if opts.Retransmit == 0 {
		opts.Retransmit = def.Retransmit
	}
	if opts.Retries == 0 {
		opts.Retries = def.Retries
	}
	if opts.Do == nil {
		opts.Do = func(f func() error) error { return f() }
	}
	if opts.Listen == nil {
		opts.Listen = net.ListenUDP
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	d := &Daemon{opts: opts, log: opts.Log, dp: dp, sas: map[uint64]*IKESA{}, halfOpen: map[halfKey]*IKESA{},
		started: map[string]*IKESA{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	rand.Read(d.secret[:])
	for _, fam := range []struct {
		net string
		ip  net.IP
	}{{"udp4", net.IPv4zero}, {"udp6", net.IPv6unspecified}} {
		for _, port := range []uint16{opts.Port, opts.NATPort} {
			c, err := opts.Listen(fam.net, &net.UDPAddr{IP: fam.ip, Port: int(port)})
			if err != nil {
				if fam.net == "udp6" {
					continue // no IPv6 on this host
				}
				d.closeSocks()
				return nil, fmt.Errorf("ike: listen %s port %d: %w", fam.net, port, err)
			}
			s := &sock{c: c, v6: fam.net == "udp6", port: port}
			d.socks = append(d.socks, s)
			// Without the destination address of each message an answer could leave
			// from another local address than the request came to.
			var cerr error
			if s.v6 {
				cerr = ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst, true)
			} else {
				cerr = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst, true)
			}
			if cerr != nil {
				d.closeSocks()
				return nil, fmt.Errorf("ike: %s port %d: asking for each message's destination address: %w", fam.net, port, cerr)
			}
		}
	}
	for _, s := range d.socks {
		if s.port == opts.NATPort {
			d.spawn("4500 reader", true, func() { d.readNAT(s) }) // natread.go
		} else {
			d.spawn("reader", true, func() { d.read(s) })
		}
	}
	d.ticker = time.NewTicker(250 * time.Millisecond)
	d.spawn("timers", true, d.tick)
	return d, nil
}

// NATSocket returns the UDP 4500 socket of a family, which the data path sends
// ESP-in-UDP through (IKE reads it and passes ESP on).
func (d *Daemon) NATSocket(v6 bool) *net.UDPConn {
	for _, s := range d.socks {
		if s.v6 == v6 && s.port == d.opts.NATPort {
			return s.c
		}
	}
	return nil
}

// IKESocket returns the UDP 500 socket of a family (the data path marks it so that
// transport-mode routes do not capture IKE).
func (d *Daemon) IKESocket(v6 bool) *net.UDPConn {
	for _, s := range d.socks {
		if s.v6 == v6 && s.port == d.opts.Port {
			return s.c
		}
	}
	return nil
}

// SetDatapath sets the data path CHILD_SAs are installed into (before any SA exists).
func (d *Daemon) SetDatapath(dp Datapath) {
	d.mu.Lock()
	d.dp = dp
	d.mu.Unlock()
}

func (d *Daemon) closeSocks() {
	for _, s := range d.socks {
		s.c.Close()
	}
}

// Close deletes every IKE SA (telling the peers) and stops the daemon.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	for _, sa := range d.sas {
		if sa.peerMayHold() {
			sa.sendDelete()
		}
		sa.destroy("daemon stopped")
	}
	d.expireRetired(time.Now(), true)
	d.retryRemovals(time.Now())
	if n := len(d.unremoved); n > 0 {
		d.log.Warn("ipsec: CHILD SAs the data path refused to remove stay there", "count", n, "err", d.unremoved[n-1].err)
	}
	d.closed = true
	d.mu.Unlock()
	d.ticker.Stop()
	close(d.done)
	d.closeSocks()
	d.wg.Wait()
	return nil
}

func (d *Daemon) changed() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// SetPeers replaces the configuration. Established IKE SAs of peers that are gone are
// deleted; peers that initiate are started by the next tick.
func (d *Daemon) SetPeers(peers []*PeerConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range peers {
		for _, c := range p.Children {
			if c.ReqID == 0 {
				d.reqID++
				c.ReqID = d.reqID
			}
		}
	}
	old := map[string]*PeerConfig{}
	for _, p := range d.peers {
		old[p.Name] = p
	}
	d.peers = peers
	byName := map[string]*PeerConfig{}
	for _, p := range peers {
		byName[p.Name] = p
	}
	d.resetRetries(byName)
	for _, sa := range d.sas {
		np := byName[sa.peer.Name]
		if np == nil {
			if sa.peerMayHold() {
				sa.sendDelete()
			}
			sa.destroy("peer removed")
			continue
		}
		if peerMoved(sa, np) {
			d.log.Info("ipsec: peer changed, renegotiating", "peer", np.Name, "was", sa.remote, "now", np.Remote)
			if sa.peerMayHold() {
				sa.sendDelete()
			}
			sa.destroy("peer changed")
			continue
		}
		if sa.ident != nil {
			ni := identityNamed(np, sa.ident.Name)
			why := "identity removed"
			if ni == nil {
				// RouterOS tears down what was negotiated with an identity that is
				// disabled or removed; the peer stays down until one is usable again.
				d.log.Info("ipsec: identity gone, deleting the IKE SA", "peer", np.Name, "identity", sa.ident.Name)
			} else if what := identityChange(sa.ident, ni); what != "" {
				why = "identity changed: " + what
				d.log.Info("ipsec: identity changed, deleting the IKE SA", "peer", np.Name, "identity", sa.ident.Name, "changed", what)
			} else {
				sa.ident = ni
				why = ""
			}
			if why != "" {
				if sa.peerMayHold() {
					sa.sendDelete()
				}
				sa.destroy(why)
				continue
			}
		}
		sa.peer = np
		sa.reconcileChildren()
	}
	for name := range d.initRetry {
		if o, n := old[name], byName[name]; o == nil || n == nil || !sameEndpoints(o, n) {
			delete(d.initRetry, name)
		}
	}
}

// identityNamed is p's identity named name, or nil.
func identityNamed(p *PeerConfig, name string) *IdentityConfig {
	for _, ic := range p.Identities {
		if ic.Name == name {
			return ic
		}
	}
	return nil
}

func (d *Daemon) read(s *sock) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := s.c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var dst netip.Addr
		if s.v6 {
			var cm ipv6.ControlMessage
			if cm.Parse(oob[:oobn]) == nil && cm.Dst != nil {
				dst, _ = netip.AddrFromSlice(cm.Dst)
			}
		} else {
			var cm ipv4.ControlMessage
			if cm.Parse(oob[:oobn]) == nil && cm.Dst != nil {
				dst, _ = netip.AddrFromSlice(cm.Dst.To4())
			}
		}
		local := netip.AddrPortFrom(dst.Unmap(), s.port)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		pkt := buf[:n]
		if s.port == d.opts.NATPort {
			if n == 1 && pkt[0] == 0xff {
				continue // NAT keepalive
			}
			if n >= 4 && binary.BigEndian.Uint32(pkt) != 0 {
				d.mu.Lock()
				dp := d.dp
				d.mu.Unlock()
				if dp != nil {
					dp.InputESP(pkt, from, local)
				}
				continue
			}
			if n < 4 {
				continue
			}
			pkt = pkt[4:]
		}
		d.Stats.RxPackets.Add(1)
		msg := append([]byte(nil), pkt...)
		d.input(msg, from, local) // recover.go
	}
}

// send writes one IKE message (prefixing the non-ESP marker on the NAT-T port).
func (d *Daemon) send(b []byte, local, remote netip.AddrPort) error {
	v6 := remote.Addr().Is6()
	var s *sock
	for _, x := range d.socks {
		if x.v6 == v6 && x.port == local.Port() {
			s = x
		}
	}
	if s == nil {
		return fmt.Errorf("ike: no socket for %s", local)
	}
	if local.Port() == d.opts.NATPort {
		b = append([]byte{0, 0, 0, 0}, b...)
	}
	var oob []byte
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		if v6 {
			oob = (&ipv6.ControlMessage{Src: local.Addr().AsSlice()}).Marshal()
		} else {
			oob = (&ipv4.ControlMessage{Src: local.Addr().AsSlice()}).Marshal()
		}
	}
	d.Stats.TxPackets.Add(1)
	_, _, err := s.c.WriteMsgUDPAddrPort(b, oob, remote)
	return err
}

// sendKeepalive sends a NAT-T keepalive (RFC 3948 2.3).
func (d *Daemon) sendKeepalive(local, remote netip.AddrPort) {
	for _, x := range d.socks {
		if x.v6 == remote.Addr().Is6() && x.port == d.opts.NATPort {
			var oob []byte
			if local.Addr().IsValid() && !x.v6 {
				oob = (&ipv4.ControlMessage{Src: local.Addr().AsSlice()}).Marshal()
			}
			x.c.WriteMsgUDPAddrPort([]byte{0xff}, oob, remote)
		}
	}
}

func (d *Daemon) tick() {
	for {
		select {
		case <-d.ticker.C:
		case <-d.notify:
		case <-d.done:
			return
		}
		var ev func()
		closed := false
		d.timersSafe(func() { // recover.go
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.closed {
				closed = true
				return
			}
			now := time.Now()
			for _, sa := range d.sas {
				sa.timers(now)
			}
			d.expireRetired(now, false)
			d.retryRemovals(now)
			d.startPeers(now)
			d.retryChildren(now)
			ev = d.opts.Events
			if sig := d.stateSig(); sig != d.sig {
				d.sig = sig
			} else {
				ev = nil // nothing the engine shows or installs changed
			}
		})
		if closed {
			return
		}
		if ev != nil {
			ev()
		}
	}
}

// startPeers initiates to every active peer with a single address and policies that
// has no IKE SA (RouterOS brings such tunnels up without waiting for traffic).
func (d *Daemon) startPeers(now time.Time) {
	for _, p := range d.peers {
		if p.Passive || len(p.Children) == 0 || len(p.Identities) == 0 {
			continue
		}
		if _, ok := p.host(); !ok {
			continue
		}
		if sa := d.started[p.Name]; sa != nil && sa.state != stateDead {
			continue
		}
		if d.hasSAFor(p) {
			continue
		}
		if !d.initDue(p, now) {
			continue
		}
		if sa, err := d.initiate(p); errors.Is(err, errSourceNotUsable) {
			d.initWaitSource(p, now, err.Error())
		} else if err != nil {
			d.initFailed(p, now, err.Error(), true)
		} else {
			d.started[p.Name] = sa
		}
	}
}

func (d *Daemon) hasSAFor(p *PeerConfig) bool {
	for _, sa := range d.sas {
		if sa.peer == p && sa.state != stateDead {
			return true
		}
	}
	return false
}

// Initiate starts an IKE SA to a peer now (tests and the load generator).
func (d *Daemon) Initiate(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.peerNamed(name)
	if p == nil {
		return fmt.Errorf("no such peer %q", name)
	}
	sa, err := d.initiate(p)
	if err == nil {
		d.started[p.Name] = sa
	}
	return err
}

// Establish negotiates one more IKE SA with its first CHILD_SA to a peer and waits until
// both are up (nil) or the negotiation failed; then, when del is set, deletes it. The
// load generator (tools/ikeload) drives responders with it.
func (d *Daemon) Establish(ctx context.Context, name string, del bool) error {
	d.mu.Lock()
	p := d.peerNamed(name)
	if p == nil {
		d.mu.Unlock()
		return fmt.Errorf("no such peer %q", name)
	}
	sa, err := d.initiate(p)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	done := make(chan error, 1)
	sa.done = done
	d.mu.Unlock()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if del {
		d.mu.Lock()
		if err == nil {
			sa.deleteIKE("done")
		} else {
			sa.destroy("abandoned")
		}
		d.mu.Unlock()
	}
	return err
}

// Acquire answers traffic that found no SA for a policy (the data path's ACQUIRE):
// a CHILD_SA is negotiated on the peer's established IKE SA, or a new IKE SA is started,
// except for a passive peer, which waits for the remote to initiate (RouterOS
// passive=yes). After a peer's break-before-make reauthentication deleted the IKE SA,
// traffic would otherwise start one from this side too in the same moment as the
// peer's, and the collision costs both tunnels.
func (d *Daemon) Acquire(peer string, policy uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.peerNamed(peer)
	if p == nil {
		return
	}
	var cfg *ChildConfig
	for _, c := range p.Children {
		if c.ID == policy {
			cfg = c
		}
	}
	for _, sa := range d.sas {
		if sa.peer != p || sa.state == stateDead {
			continue
		}
		if sa.state != stateEstablished || cfg == nil {
			return // negotiating already
		}
		for _, c := range sa.children {
			if c.Policy.ID == policy && !c.rekeyed {
				return
			}
		}
		if d.acquirePaused(p.Name, cfg, time.Now()) {
			return // refused before: the backoff says when to ask again (childretry.go)
		}
		sa.createChild(cfg)
		return
	}
	if _, ok := p.host(); ok && len(p.Identities) > 0 && !p.Passive {
		if sa, err := d.initiate(p); err == nil {
			d.started[p.Name] = sa
		}
	}
}

func (d *Daemon) newSPI() uint64 {
	for {
		var b [8]byte
		rand.Read(b[:])
		spi := binary.BigEndian.Uint64(b[:])
		if spi != 0 && d.sas[spi] == nil {
			return spi
		}
	}
}

// newChildSPI returns a fresh inbound ESP SPI (above the reserved 1..255).
func (d *Daemon) newChildSPI() uint32 {
	for {
		var b [4]byte
		rand.Read(b[:])
		spi := binary.BigEndian.Uint32(b[:])
		if spi < 256 {
			continue
		}
		used := false
		for _, sa := range d.sas {
			for _, c := range sa.children {
				if c.InSPI == spi {
					used = true
				}
			}
		}
		if !used {
			return spi
		}
	}
}

// handle dispatches one received IKE message (d.mu held).
func (d *Daemon) handle(b []byte, from, local netip.AddrPort) {
	h, err := ParseHeader(b)
	if err != nil {
		d.Stats.Malformed.Add(1)
		return
	}
	if h.Version>>4 == 1 {
		d.handleV1(b[:h.Length], h, from, local)
		return
	}
	if h.Version>>4 != 2 {
		d.Stats.Malformed.Add(1)
		if h.Version>>4 > 2 {
			// RFC 7296 2.5: dropped, answered with the version we speak in the header.
			d.unauthReply(h, &Notify{NType: NotifyInvalidMajorVersion}, from, local,
				"unsupported IKE major version", "version", fmt.Sprintf("%d.%d", h.Version>>4, h.Version&15))
		}
		return
	}
	b = b[:h.Length]
	if h.Exchange == IKESAInit && !h.IsResponse() && h.SPIr == 0 {
		d.respondInit(b, h, from, local)
		return
	}
	// Our SPI is SPIi when we initiated the IKE SA, else SPIr.
	spi := h.SPIr
	if !h.FromInitiator() {
		spi = h.SPIi
	}
	sa := d.sas[spi]
	if sa == nil || (sa.initiator && sa.spiI != h.SPIi) || (!sa.initiator && sa.spiI != h.SPIi) {
		if h.Exchange == IKESAInit && h.IsResponse() {
			// The responder's SPI is new to us: find our half-open SA by SPIi.
			if s2 := d.sas[h.SPIi]; s2 != nil && s2.initiator && s2.state == stateInitSent {
				s2.receive(b, h, from, local)
				return
			}
		}
		d.Stats.NoSA.Add(1)
		return
	}
	sa.receive(b, h, from, local)
}

// natHash is the NAT_DETECTION_*_IP hash (RFC 7296 2.23).
func natHash(spiI, spiR uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], spiI)
	binary.BigEndian.PutUint64(b[8:], spiR)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[:], ap.Port())
	h.Write(b[:2])
	return h.Sum(nil)
}

// cookie computes the responder's stateless cookie (RFC 7296 2.6).
func (d *Daemon) cookie(ni []byte, from netip.AddrPort, spiI uint64) []byte {
	h := sha1.New()
	h.Write(ni)
	h.Write(from.Addr().AsSlice())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spiI)
	h.Write(b[:])
	h.Write(d.secret[:])
	return append([]byte{0, 0, 0, 1}, h.Sum(nil)...)
}

// peerTiers are the enabled IKEv2 peers whose address covers a remote address, grouped
// by how specific that address is (the reference: the largest netmask wins), the most
// specific group first, each in configuration order. Several are equally specific when
// a static peer and a tunnel's ipsec-secret (its dynamic peer) name the same address:
// which one the remote means shows only in IKE_AUTH (its ID and AUTH, then its traffic
// selectors), so the responder keeps them all as candidates (peerswitch.go).
// IKE_SA_INIT falls back to a less specific group only when no peer of a more specific
// one accepts the offer (responder.go).
func (d *Daemon) peerTiers(a netip.Addr) [][]*PeerConfig {
	byBits := map[int][]*PeerConfig{}
	var bits []int
	for _, p := range d.peers {
		if p.Exchange != ExchangeIKEv2 || !p.Remote.IsValid() || !p.Remote.Contains(a) {
			continue
		}
		b := p.Remote.Bits()
		if byBits[b] == nil {
			bits = append(bits, b)
		}
		byBits[b] = append(byBits[b], p)
	}
	slices.Sort(bits)
	tiers := make([][]*PeerConfig, 0, len(bits))
	for i := len(bits) - 1; i >= 0; i-- {
		tiers = append(tiers, byBits[bits[i]])
	}
	return tiers
}
