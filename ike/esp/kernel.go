package esp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// kernel is the data path in the kernel's XFRM: routerd builds the netlink messages itself
// (so tests can check them on kernels that cannot run them) and sends them on a socket
// opened in the namespace Open ran in.
type kernel struct {
	cfg    Config
	nl     *netlink.Handle
	sock   *nl.NetlinkSocket
	mon    *nl.NetlinkSocket
	mu     sync.Mutex
	pols   map[string]polEntry // installed policies by selector+dir
	prio   map[uint32]Policy   // XFRM priority -> policy, to name the policy of an ACQUIRE
	stat   *os.File            // /proc/net/xfrm_stat of Open's namespace
	events chan Event
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	faults faults // recover.go
}

type polEntry struct {
	p   Policy
	dir uint8
}

// Values of <linux/xfrm.h>.
const (
	xfrmModeTransport = 0
	xfrmModeTunnel    = 1
	xfrmDirIn         = 0
	xfrmDirOut        = 1
	xfrmDirFwd        = 2
	xfrmPolicyBlock   = 1
)

// policyPriorityBase: XFRM matches the lowest priority value first; RouterOS's order maps to
// increasing values from here, and the value identifies the policy in ACQUIRE messages.
const policyPriorityBase = 1000

func openKernel(ctx context.Context, cfg Config) (Datapath, error) {
	k := &kernel{cfg: cfg, pols: map[string]polEntry{}, events: make(chan Event, 1024), done: make(chan struct{})}
	var err error
	if k.nl, err = netlink.NewHandle(unix.NETLINK_XFRM); err != nil {
		return nil, fmt.Errorf("esp: xfrm netlink: %w", err)
	}
	if k.sock, err = nl.Subscribe(unix.NETLINK_XFRM); err != nil {
		k.nl.Close()
		return nil, fmt.Errorf("esp: xfrm netlink: %w", err)
	}
	if k.mon, err = nl.Subscribe(unix.NETLINK_XFRM, nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE, nl.XFRMNLGRP_MAPPING); err != nil {
		k.sock.Close()
		k.nl.Close()
		return nil, fmt.Errorf("esp: xfrm monitor: %w", err)
	}
	for _, c := range []*net.UDPConn{cfg.UDP4500, cfg.UDP4500v6} {
		if c == nil {
			continue
		}
		// The kernel takes ESP off the socket and hands IKE (non-ESP marker) through.
		rc, err := c.SyscallConn()
		if err != nil {
			k.closeAll()
			return nil, err
		}
		var serr error
		rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP)
		})
		if serr != nil {
			k.closeAll()
			return nil, fmt.Errorf("esp: UDP_ENCAP_ESPINUDP on 4500: %w", serr)
		}
	}
	k.stat, _ = os.Open("/proc/thread-self/net/xfrm_stat") // this thread's namespace (/proc/self is the process leader's)
	k.wg.Add(1)
	go k.monitor() // joined by Close; events1 recovers
	return k, nil
}

func (k *kernel) Kind() Kind { return KindKernel }

func (k *kernel) exec(req *nl.NetlinkRequest) error {
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: {Socket: k.sock}}
	_, err := req.Execute(unix.NETLINK_XFRM, 0)
	return err
}

// xfrmAlgs maps RouterOS names to the kernel's crypto API names.
var xfrmEnc = map[string]struct {
	name string
	aead bool
}{
	"aes-128-gcm": {"rfc4106(gcm(aes))", true}, "aes-192-gcm": {"rfc4106(gcm(aes))", true},
	"aes-256-gcm": {"rfc4106(gcm(aes))", true}, "chacha20poly1305": {"rfc7539esp(chacha20,poly1305)", true},
	"aes-128-cbc": {"cbc(aes)", false}, "aes-192-cbc": {"cbc(aes)", false}, "aes-256-cbc": {"cbc(aes)", false},
	"aes-128-ctr": {"rfc3686(ctr(aes))", false}, "aes-192-ctr": {"rfc3686(ctr(aes))", false},
	"aes-256-ctr": {"rfc3686(ctr(aes))", false}, "3des": {"cbc(des3_ede)", false}, "null": {"ecb(cipher_null)", false},
}

var xfrmAuth = map[string]string{
	"md5": "hmac(md5)", "sha1": "hmac(sha1)", "sha256": "hmac(sha256)", "sha384": "hmac(sha384)", "sha512": "hmac(sha512)",
}

func xfrmAddr(a netip.Addr) nl.XfrmAddress {
	var x nl.XfrmAddress
	x.FromIP(a.AsSlice())
	return x
}

// family is a's address family as XFRM takes it.
func family(a netip.Addr) uint16 {
	return uint16(ipFamily(a.Is4()))
}

// ipFamily is the address family of IPv4 (v4) or IPv6, as netlink takes it
// (netlink.FAMILY_V4 and FAMILY_V6 are AF_INET and AF_INET6).
func ipFamily(v4 bool) int {
	if v4 {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func lifetime(l Lifetime) nl.XfrmLifetimeCfg {
	inf := func(v uint64) uint64 {
		if v == 0 {
			return nl.XFRM_INF
		}
		return v
	}
	return nl.XfrmLifetimeCfg{
		SoftByteLimit: inf(l.SoftBytes), HardByteLimit: inf(l.HardBytes),
		SoftPacketLimit: nl.XFRM_INF, HardPacketLimit: nl.XFRM_INF,
		SoftAddExpiresSeconds: uint64(l.SoftTime / time.Second), HardAddExpiresSeconds: uint64(l.HardTime / time.Second),
	}
}

// stateRequest builds XFRM_MSG_NEWSA (or UPDSA) for sa.
func stateRequest(sa SA, update bool) (*nl.NetlinkRequest, error) {
	return stateRequestReplay(sa, update, nil)
}

// replayAttr is an SA's replay state as the kernel reports it (XFRMA_REPLAY_VAL or
// XFRMA_REPLAY_ESN_VAL with its sequence numbers and bitmap), carried over when MoveSA
// re-adds the SA under a new address.
type replayAttr struct {
	typ uint16
	val []byte
}

// stateRequestReplay is stateRequest with the replay state of an SA being moved (nil:
// a fresh SA, sequence numbers from zero).
func stateRequestReplay(sa SA, update bool, replay *replayAttr) (*nl.NetlinkRequest, error) {
	// Key lengths and names are checked the same way as on the userspace path.
	if _, err := newTransform(&sa); err != nil {
		return nil, err
	}
	enc := xfrmEnc[strings.ToLower(sa.EncAlg)]
	typ, flags := nl.XFRM_MSG_NEWSA, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK
	if update {
		typ, flags = nl.XFRM_MSG_UPDSA, unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(typ, flags)
	msg := &nl.XfrmUsersaInfo{}
	msg.Id.Daddr = xfrmAddr(sa.Dst)
	msg.Id.Spi = nl.Swap32(sa.SPI)
	msg.Id.Proto = unix.IPPROTO_ESP
	msg.Saddr = xfrmAddr(sa.Src)
	msg.Family = family(sa.Dst)
	msg.Sel.Family = msg.Family
	msg.Reqid = sa.ReqID
	msg.Mode = xfrmModeTunnel
	if sa.Mode == ModeTransport {
		msg.Mode = xfrmModeTransport
	}
	msg.Lft = lifetime(sa.Lifetime)
	if sa.ESN || sa.ReplayWindow > 255 {
		msg.Flags |= nl.XFRM_STATE_ESN
	} else {
		msg.ReplayWindow = uint8(sa.ReplayWindow)
	}
	req.AddData(msg)
	if enc.aead {
		a := &nl.XfrmAlgoAEAD{AlgKeyLen: uint32(len(sa.EncKey) * 8), AlgICVLen: 128, AlgKey: sa.EncKey}
		copy(a.AlgName[:], enc.name)
		req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_AEAD, a.Serialize()))
	} else {
		c := &nl.XfrmAlgo{AlgKeyLen: uint32(len(sa.EncKey) * 8), AlgKey: sa.EncKey}
		copy(c.AlgName[:], enc.name)
		req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_CRYPT, c.Serialize()))
		if an, ok := xfrmAuth[strings.ToLower(sa.AuthAlg)]; ok {
			a := &nl.XfrmAlgoAuth{AlgKeyLen: uint32(len(sa.AuthKey) * 8), AlgTruncLen: uint32(authAlgs[strings.ToLower(sa.AuthAlg)].icvLen * 8), AlgKey: sa.AuthKey}
			copy(a.AlgName[:], an)
			req.AddData(nl.NewRtAttr(nl.XFRMA_ALG_AUTH_TRUNC, a.Serialize()))
		}
	}
	if sa.Encap != nil {
		e := make([]byte, nl.SizeofXfrmEncapTmpl)
		t := nl.DeserializeXfrmEncapTmpl(e)
		t.EncapType = unix.UDP_ENCAP_ESPINUDP
		t.EncapSport = nl.Swap16(sa.Encap.SrcPort)
		t.EncapDport = nl.Swap16(sa.Encap.DstPort)
		req.AddData(nl.NewRtAttr(nl.XFRMA_ENCAP, e))
	}
	if replay != nil && (replay.typ == nl.XFRMA_REPLAY_ESN_VAL) == (msg.Flags&nl.XFRM_STATE_ESN != 0) {
		req.AddData(nl.NewRtAttr(int(replay.typ), replay.val))
	} else if msg.Flags&nl.XFRM_STATE_ESN != 0 {
		w := sa.ReplayWindow
		if w == 0 {
			w = DefaultReplayWindow
		}
		words := (w + 31) / 32
		b := make([]byte, 24+4*words)
		binary.NativeEndian.PutUint32(b[0:], words)
		binary.NativeEndian.PutUint32(b[20:], w) // bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window
		req.AddData(nl.NewRtAttr(nl.XFRMA_REPLAY_ESN_VAL, b))
	}
	// XFRMA_SA_DIR (Linux 6.10+) is left out: older kernels reject unknown attributes.
	return req, nil
}

func (k *kernel) AddSA(ctx context.Context, sa SA) error {
	req, err := stateRequest(sa, false)
	if err != nil {
		return err
	}
	if err := k.exec(req); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("esp: SA 0x%08x: %w", sa.SPI, ErrExists)
		}
		return fmt.Errorf("esp: xfrm add SA 0x%08x: %w", sa.SPI, err)
	}
	return nil
}

func (k *kernel) UpdateSA(ctx context.Context, sa SA) error {
	req, err := stateRequest(sa, true)
	if err != nil {
		return err
	}
	if err := k.exec(req); err != nil {
		return fmt.Errorf("esp: xfrm update SA 0x%08x: %w", sa.SPI, err)
	}
	return nil
}

// MoveSA re-adds an SA under new endpoints: the kernel's SA id holds the destination
// and UPDSA changes neither the addresses nor (for an inbound SA) the peer's source, so
// the state is read (its replay state: the output sequence number the peer's window
// expects), deleted and added again with it, as strongSwan's kernel interface does.
// Traffic counters restart.
func (k *kernel) MoveSA(ctx context.Context, old Key, sa SA) error {
	replay, err := k.replayOf(old)
	if err != nil {
		return err
	}
	reqs, err := moveRequests(old, sa, replay)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if err := k.exec(r); err != nil {
			return fmt.Errorf("esp: xfrm move SA 0x%08x to %s: %w", sa.SPI, sa.Dst, err)
		}
	}
	return nil
}

// moveRequests are the messages of MoveSA: XFRM_MSG_DELSA of old, XFRM_MSG_NEWSA of sa
// with the replay state read from old.
func moveRequests(old Key, sa SA, replay *replayAttr) ([]*nl.NetlinkRequest, error) {
	add, err := stateRequestReplay(sa, false, replay)
	if err != nil {
		return nil, err
	}
	return []*nl.NetlinkRequest{deleteSARequest(old), add}, nil
}

// replayOf reads an installed SA's replay state (XFRM_MSG_GETSA).
func (k *kernel) replayOf(key Key) (*replayAttr, error) {
	req := nl.NewNetlinkRequest(nl.XFRM_MSG_GETSA, 0)
	req.AddData(&nl.XfrmUsersaId{Daddr: xfrmAddr(key.Dst), Spi: nl.Swap32(key.SPI), Family: family(key.Dst), Proto: unix.IPPROTO_ESP})
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: {Socket: k.sock}}
	msgs, err := req.Execute(unix.NETLINK_XFRM, nl.XFRM_MSG_NEWSA)
	if err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("esp: SA 0x%08x: %w", key.SPI, ErrNoSA)
		}
		return nil, fmt.Errorf("esp: xfrm get SA 0x%08x: %w", key.SPI, err)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("esp: SA 0x%08x: %w", key.SPI, ErrNoSA)
	}
	return replayFromState(msgs[0]), nil
}

// replayFromState finds the replay attribute in an XFRM_MSG_NEWSA payload.
func replayFromState(b []byte) *replayAttr {
	if len(b) < nl.SizeofXfrmUsersaInfo {
		return nil
	}
	as, err := nl.ParseRouteAttr(b[nl.SizeofXfrmUsersaInfo:])
	if err != nil {
		return nil
	}
	for _, a := range as {
		if a.Attr.Type == nl.XFRMA_REPLAY_VAL || a.Attr.Type == nl.XFRMA_REPLAY_ESN_VAL {
			return &replayAttr{typ: a.Attr.Type, val: append([]byte(nil), a.Value...)}
		}
	}
	return nil
}

func deleteSARequest(key Key) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(nl.XFRM_MSG_DELSA, unix.NLM_F_ACK)
	id := &nl.XfrmUsersaId{Daddr: xfrmAddr(key.Dst), Spi: nl.Swap32(key.SPI), Family: family(key.Dst), Proto: unix.IPPROTO_ESP}
	req.AddData(id)
	return req
}

func (k *kernel) DeleteSA(ctx context.Context, key Key) error {
	if err := k.exec(deleteSARequest(key)); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("esp: SA 0x%08x: %w", key.SPI, ErrNoSA)
		}
		return fmt.Errorf("esp: xfrm delete SA 0x%08x: %w", key.SPI, err)
	}
	return nil
}

func (k *kernel) FlushSAs(ctx context.Context) error {
	return k.nl.XfrmStateFlush(netlink.XFRM_PROTO_ESP)
}

func (k *kernel) Counters(key Key) (SACounters, error) {
	st, err := k.nl.XfrmStateGet(&netlink.XfrmState{Dst: key.Dst.AsSlice(), Spi: int(key.SPI), Proto: netlink.XFRM_PROTO_ESP})
	if err != nil {
		return SACounters{}, fmt.Errorf("esp: SA 0x%08x: %w", key.SPI, ErrNoSA)
	}
	s := st.Statistics
	return SACounters{Bytes: s.Bytes, Packets: s.Packets, ReplayErrors: uint64(s.Replay), AuthErrors: uint64(s.Failed),
		AddTime: time.Unix(int64(s.AddTime), 0), State: "mature", ReplayWindow: uint32(st.ReplayWindow)}, nil
}

// policyRequest builds XFRM_MSG_UPDPOLICY (create or replace) or DELPOLICY for one direction.
func policyRequest(p Policy, dir uint8, prio uint32, del bool) *nl.NetlinkRequest {
	sel := nl.XfrmSelector{
		Daddr: xfrmAddr(p.Dst.Masked().Addr()), Saddr: xfrmAddr(p.Src.Masked().Addr()),
		Family: family(p.Dst.Addr()), PrefixlenD: uint8(p.Dst.Bits()), PrefixlenS: uint8(p.Src.Bits()),
		Proto: p.Protocol,
	}
	if p.SrcPort != 0 {
		sel.Sport, sel.SportMask = nl.Swap16(p.SrcPort), 0xffff
	}
	if p.DstPort != 0 {
		sel.Dport, sel.DportMask = nl.Swap16(p.DstPort), 0xffff
	}
	if del {
		req := nl.NewNetlinkRequest(nl.XFRM_MSG_DELPOLICY, unix.NLM_F_ACK)
		req.AddData(&nl.XfrmUserpolicyId{Sel: sel, Dir: dir})
		return req
	}
	req := nl.NewNetlinkRequest(nl.XFRM_MSG_UPDPOLICY, unix.NLM_F_CREATE|unix.NLM_F_ACK)
	info := &nl.XfrmUserpolicyInfo{Sel: sel, Priority: prio, Dir: dir, Lft: lifetime(Lifetime{})}
	if p.Action == ActionDiscard {
		info.Action = xfrmPolicyBlock
	}
	req.AddData(info)
	if p.Action == ActionEncrypt {
		t := nl.XfrmUserTmpl{Family: family(p.TunnelDst), Saddr: xfrmAddr(p.TunnelSrc), Reqid: p.ReqID,
			Aalgos: ^uint32(0), Ealgos: ^uint32(0), Calgos: ^uint32(0)}
		t.XfrmId.Daddr = xfrmAddr(p.TunnelDst)
		t.XfrmId.Proto = unix.IPPROTO_ESP
		t.XfrmId.Spi = nl.Swap32(p.SPI)
		t.Mode = xfrmModeTunnel
		if p.Mode == ModeTransport {
			t.Mode = xfrmModeTransport
		}
		if p.Level == LevelUse {
			t.Optional = 1
		}
		if p.Level == LevelUnique {
			t.Share = 3 // XFRM_SHARE_UNIQUE
		}
		req.AddData(nl.NewRtAttr(nl.XFRMA_TMPL, t.Serialize()))
	}
	return req
}

// xfrmDirs: an inbound tunnel-mode policy also needs a fwd copy for traffic the router
// forwards after decryption.
func xfrmDirs(p Policy) []uint8 {
	switch p.Dir {
	case DirOut:
		return []uint8{xfrmDirOut}
	case DirFwd:
		return []uint8{xfrmDirFwd}
	}
	if p.Mode == ModeTunnel || p.Mode == 0 {
		return []uint8{xfrmDirIn, xfrmDirFwd}
	}
	return []uint8{xfrmDirIn}
}

// xfrmPolicyError says which XFRM policy the kernel refused, and why when it is known:
// since Linux 6.4 an optional (level=use) template in tunnel mode is refused in an
// outbound policy ("Mode in optional template not allowed in outbound policy").
func xfrmPolicyError(p Policy, dir uint8, err error) error {
	what := fmt.Sprintf("esp: xfrm policy %s -> %s (%s)", p.Src.Masked(), p.Dst.Masked(), xfrmDirName(dir))
	if errors.Is(err, unix.EINVAL) && dir == xfrmDirOut && p.Action == ActionEncrypt && p.Level == LevelUse && p.Mode == ModeTunnel {
		return fmt.Errorf("%s: the kernel refuses level=use in tunnel mode for outbound traffic (an optional tunnel template): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func xfrmDirName(dir uint8) string {
	switch dir {
	case xfrmDirIn:
		return "in"
	case xfrmDirOut:
		return "out"
	case xfrmDirFwd:
		return "fwd"
	}
	return strconv.Itoa(int(dir))
}

func polKey(p Policy, dir uint8) string {
	return fmt.Sprintf("%s>%s/%d/%d/%d/%d", p.Src.Masked(), p.Dst.Masked(), p.Protocol, p.SrcPort, p.DstPort, dir)
}

func (k *kernel) SetPolicies(ctx context.Context, ps []Policy) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	want := map[string]polEntry{}
	prio := map[uint32]Policy{}
	var errs error
	for i, p := range ps {
		if !p.Src.IsValid() || !p.Dst.IsValid() {
			return fmt.Errorf("esp: policy %d: src-address and dst-address must be prefixes", p.ID)
		}
		if p.Mode == 0 {
			p.Mode = ModeTunnel
		}
		prio[uint32(policyPriorityBase+i)] = p
		for _, d := range xfrmDirs(p) {
			key := polKey(p, d)
			if _, dup := want[key]; dup {
				continue // a later duplicate selector is shadowed, as in RouterOS's order
			}
			want[key] = polEntry{p: p, dir: d}
			if err := k.exec(policyRequest(p, d, uint32(policyPriorityBase+i), false)); err != nil {
				// The policy's own refusal, shown on it alone, as the userspace path's
				// refused routes are (every call sends every policy again).
				errs = errors.Join(errs, &PolicyError{ID: p.ID, Err: xfrmPolicyError(p, d, err)})
			}
		}
	}
	for key, e := range k.pols {
		if _, ok := want[key]; !ok {
			if err := k.exec(policyRequest(e.p, e.dir, 0, true)); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = errors.Join(errs, fmt.Errorf("esp: xfrm delete policy %s: %w", key, err))
			}
		}
	}
	k.pols = want
	k.prio = prio
	return errs
}

// Statistics reads the kernel's XFRM MIB, whose counters are the reference's.
func (k *kernel) Statistics() Statistics {
	if k.stat == nil {
		return Statistics{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := make([]byte, 4096)
	n, _ := k.stat.ReadAt(b, 0)
	return parseXfrmStat(b[:n])
}

var xfrmStatNames = map[string]stat{
	"XfrmInError": stInErrors, "XfrmInBufferError": stInBufferErrors, "XfrmInHdrError": stInHeaderErrors,
	"XfrmInNoStates": stInNoStates, "XfrmInStateProtoError": stInStateProtocolErrors,
	"XfrmInStateModeError": stInStateModeErrors, "XfrmInStateSeqError": stInStateSequenceErrors,
	"XfrmInStateExpired": stInStateExpired, "XfrmInStateMismatch": stInStateMismatches,
	"XfrmInStateInvalid": stInStateInvalid, "XfrmInTmplMismatch": stInTemplateMismatches,
	"XfrmInNoPols": stInNoPolicies, "XfrmInPolBlock": stInPolicyBlocked, "XfrmInPolError": stInPolicyErrors,
	"XfrmOutError": stOutErrors, "XfrmOutBundleGenError": stOutBundleErrors,
	"XfrmOutBundleCheckError": stOutBundleCheckErrors, "XfrmOutNoStates": stOutNoStates,
	"XfrmOutStateProtoError": stOutStateProtocolErrors, "XfrmOutStateModeError": stOutStateModeErrors,
	"XfrmOutStateSeqError": stOutStateSequenceErrors, "XfrmOutStateExpired": stOutStateExpired,
	"XfrmOutPolBlock": stOutPolicyBlocked, "XfrmOutPolDead": stOutPolicyDead, "XfrmOutPolError": stOutPolicyErrors,
}

func readXfrmStat(path string) (Statistics, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Statistics{}, err
	}
	return parseXfrmStat(b), nil
}

func parseXfrmStat(b []byte) Statistics {
	var c statCounters
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if i, ok := xfrmStatNames[f[0]]; ok {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			c[i].Store(v)
		}
	}
	return c.snapshot()
}

func (k *kernel) Events() <-chan Event { return k.events }

func (k *kernel) InputUDP(b []byte, src, dst netip.AddrPort) {}

func (k *kernel) InputUDPBatch(int, func(int) ([]byte, netip.AddrPort, netip.AddrPort)) {}

// monitor turns XFRM EXPIRE and ACQUIRE multicasts into Events.
func (k *kernel) monitor() {
	defer k.wg.Done()
	defer close(k.events)
	for {
		msgs, _, err := k.mon.Receive()
		if err != nil {
			select {
			case <-k.done:
				return
			default:
			}
			if errors.Is(err, unix.EBADF) {
				return
			}
			continue
		}
		k.events1(msgs)
	}
}

// events1 turns one read of XFRM multicasts into Events; a panic is logged and the
// monitor goes on (recover.go).
func (k *kernel) events1(msgs []syscall.NetlinkMessage) {
	defer func() {
		if p := recover(); p != nil {
			k.faults.report(k.cfg.Log, "xfrm-monitor", p)
		}
	}()
	for _, m := range msgs {
		if e, ok := parseXfrmEvent(m.Header.Type, m.Data); ok {
			if e.Kind == EventAcquire {
				k.mu.Lock()
				p, found := k.prio[e.PolicyID]
				k.mu.Unlock()
				e.PolicyID, e.ReqID = p.ID, p.ReqID
				if !found {
					e.PolicyID = 0
				}
			}
			select {
			case k.events <- e:
			default:
			}
		}
	}
}

func parseXfrmEvent(typ uint16, data []byte) (Event, bool) {
	switch typ {
	case nl.XFRM_MSG_EXPIRE:
		if len(data) < nl.SizeofXfrmUsersaInfo+1 {
			return Event{}, false
		}
		info := nl.DeserializeXfrmUsersaInfo(data)
		fam := info.Family
		e := Event{Kind: EventSoftExpire, SA: Key{SPI: nl.Swap32(info.Id.Spi), Dst: addrFrom(info.Id.Daddr, fam)}, ReqID: info.Reqid}
		if data[nl.SizeofXfrmUsersaInfo] != 0 {
			e.Kind = EventHardExpire
		}
		e.ByBytes = info.Curlft.Bytes >= info.Lft.SoftByteLimit
		return e, true
	case nl.XFRM_MSG_ACQUIRE:
		// xfrm_user_acquire: id, saddr, sel, policy, aalgos, ealgos, calgos, seq
		off := nl.SizeofXfrmId + nl.SizeofXfrmAddress
		if len(data) < off+nl.SizeofXfrmSelector+nl.SizeofXfrmUserpolicyInfo {
			return Event{}, false
		}
		sel := nl.DeserializeXfrmSelector(data[off:])
		pol := nl.DeserializeXfrmUserpolicyInfo(data[off+nl.SizeofXfrmSelector:])
		e := Event{Kind: EventAcquire, Dir: DirOut, Src: addrFrom(sel.Saddr, sel.Family), Dst: addrFrom(sel.Daddr, sel.Family),
			Protocol: sel.Proto, SrcPort: nl.Swap16(sel.Sport), DstPort: nl.Swap16(sel.Dport)}
		e.PolicyID = pol.Priority // the monitor maps it to the policy's ID
		return e, true
	case nl.XFRM_MSG_MAPPING:
		// xfrm_user_mapping: id, reqid, old_saddr, new_saddr, old_sport, new_sport (the
		// ports in network order).
		if len(data) < sizeofXfrmUserMapping {
			return Event{}, false
		}
		id := nl.DeserializeXfrmUsersaId(data)
		off := nl.SizeofXfrmUsersaId
		e := Event{Kind: EventMapping, Dir: DirIn, SA: Key{SPI: nl.Swap32(id.Spi), Dst: addrFrom(id.Daddr, id.Family)},
			ReqID: binary.NativeEndian.Uint32(data[off:])}
		off += 4
		oldA := addrFrom(nl.XfrmAddress(data[off:off+16]), id.Family)
		newA := addrFrom(nl.XfrmAddress(data[off+16:off+32]), id.Family)
		off += 32
		e.OldFrom = netip.AddrPortFrom(oldA, binary.BigEndian.Uint16(data[off:]))
		e.From = netip.AddrPortFrom(newA, binary.BigEndian.Uint16(data[off+2:]))
		return e, true
	}
	return Event{}, false
}

// sizeofXfrmUserMapping is sizeof(struct xfrm_user_mapping).
const sizeofXfrmUserMapping = nl.SizeofXfrmUsersaId + 4 + 2*nl.SizeofXfrmAddress + 4

func addrFrom(x nl.XfrmAddress, fam uint16) netip.Addr {
	if fam == unix.AF_INET {
		return netip.AddrFrom4([4]byte(x[:4]))
	}
	return netip.AddrFrom16(x)
}

// Close returns the policies the kernel refused to remove: left behind, they keep
// selecting traffic for SAs nobody negotiates any more.
func (k *kernel) Close() error {
	var errs error
	k.once.Do(func() {
		close(k.done)
		k.mu.Lock()
		for key, e := range k.pols {
			if err := k.exec(policyRequest(e.p, e.dir, 0, true)); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = errors.Join(errs, fmt.Errorf("esp: removing xfrm policy %s: %w", key, err))
			}
		}
		k.pols = nil
		k.mu.Unlock()
		k.closeAll()
		k.wg.Wait()
	})
	return errs
}

func (k *kernel) closeAll() {
	if k.stat != nil {
		k.stat.Close()
	}
	if k.mon != nil {
		k.mon.Close()
	}
	if k.sock != nil {
		k.sock.Close()
	}
	if k.nl != nil {
		k.nl.Close()
	}
}
