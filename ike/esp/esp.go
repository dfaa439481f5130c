package esp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"
)

// Kind names an implementation as `/ip ipsec installed-sa print` and statistics show it.
type Kind string

const (
	KindUserspace Kind = "userspace"
	KindKernel    Kind = "kernel-xfrm"
)

var (
	// ErrNotSupported: the requested path or algorithm cannot run on this kernel/build.
	ErrNotSupported = errors.New("not supported")
	// ErrUnknownAlgorithm: an algorithm name RouterOS does not use or the build lacks.
	ErrUnknownAlgorithm = errors.New("unknown algorithm")
	// ErrBadKey: key length does not fit the algorithm.
	ErrBadKey = errors.New("bad key length")
	// ErrNoSA: no SA with that SPI/destination.
	ErrNoSA = errors.New("no such SA")
	// ErrExists: an SA with that SPI/destination is installed already.
	ErrExists = errors.New("SA exists")
	// ErrClosed: the datapath was closed.
	ErrClosed = errors.New("datapath closed")
)

// Direction of an SA or policy.
type Direction uint8

const (
	DirIn  Direction = 1
	DirOut Direction = 2
	// DirFwd: inbound traffic for another host (kernel path only; the userspace path
	// treats in and fwd alike because its inbound check runs after decryption).
	DirFwd Direction = 3
)

func (d Direction) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	case DirFwd:
		return "fwd"
	}
	return "?"
}

// Mode is the ESP mode.
type Mode uint8

const (
	ModeTunnel    Mode = 1
	ModeTransport Mode = 2
)

func (m Mode) String() string {
	if m == ModeTransport {
		return "transport"
	}
	return "tunnel"
}

// Encap asks for ESP-in-UDP (RFC 3948). Ports are the outer UDP ports in the SA's packet
// direction: for DirOut SrcPort is ours (normally 4500) and DstPort the peer's (4500, or what
// a NAT mapped it to); for DirIn the other way round.
type Encap struct {
	SrcPort, DstPort uint16
}

// Lifetime of an SA. Zero fields mean no limit. Soft limits raise an EventSoftExpire once
// (IKE rekeys); hard limits raise EventHardExpire and the datapath removes the SA itself.
type Lifetime struct {
	SoftTime, HardTime   time.Duration
	SoftBytes, HardBytes uint64
}

// SA is one ESP security association (one direction).
type SA struct {
	SPI uint32
	Dir Direction
	// Src and Dst are the outer addresses (sa-src-address/sa-dst-address as the packet
	// travels: for DirOut Src is local, for DirIn Dst is local).
	Src, Dst netip.Addr
	Encap    *Encap // nil: raw ESP (IP protocol 50)
	Mode     Mode
	// EncAlg uses RouterOS's names: "aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
	// "aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-ctr", "aes-192-ctr",
	// "aes-256-ctr", "chacha20poly1305", "3des", "null". GCM is always the 16-byte ICV.
	EncAlg string
	// EncKey is the keying material IKE derives (RFC 7296 2.17): for GCM, CTR and
	// chacha20poly1305 it ends with the 4-byte salt/nonce (RFC 4106, 3686, 7634).
	EncKey []byte
	// AuthAlg: "md5", "sha1", "sha256", "sha384", "sha512", or "" / "null" with AEAD or
	// (not recommended) null integrity.
	AuthAlg string
	AuthKey []byte
	// ReplayWindow in packets; 0 turns anti-replay off. DefaultReplayWindow is 128.
	ReplayWindow uint32
	ESN          bool // 64-bit extended sequence numbers (RFC 4303 2.2.1)
	Lifetime     Lifetime
	// ReqID links the SA to policies (Policy.ReqID); IKE picks one per CHILD_SA pair.
	ReqID uint32
}

// DefaultReplayWindow is the window the kernel and RouterOS use when nothing is set.
const DefaultReplayWindow = 128

// Key identifies an installed SA: (SPI, destination) as in the kernel's SAD.
type Key struct {
	SPI uint32
	Dst netip.Addr
}

// Action of a policy, as /ip ipsec policy action.
type Action uint8

const (
	ActionEncrypt Action = 1
	ActionDiscard Action = 2
	ActionNone    Action = 3
)

// Level of a policy, as /ip ipsec policy level.
type Level uint8

const (
	LevelRequire Level = 1
	LevelUnique  Level = 2
	LevelUse     Level = 3
)

// Policy is one entry of routerd's SPD. Policies are matched in slice order (RouterOS
// evaluates top to bottom), first match wins.
type Policy struct {
	ID       uint32 // stable identity from the engine (used in ACQUIRE events)
	Src, Dst netip.Prefix
	Protocol uint8 // 0: all
	// SrcPort/DstPort: 0 means any (only with TCP/UDP/SCTP).
	SrcPort, DstPort uint16
	Dir              Direction
	Action           Action
	Level            Level
	Mode             Mode
	// TunnelSrc/TunnelDst are sa-src-address/sa-dst-address (the outer endpoints); for
	// transport mode they equal the packet's addresses.
	TunnelSrc, TunnelDst netip.Addr
	ReqID                uint32
	// SPI pins an outbound SA (level=unique); 0 picks any SA with ReqID and the endpoints.
	SPI uint32
}

// PolicyError is what the data path could not do for one policy (its steering route),
// so that the caller shows it on that policy alone, not on every policy of the SPD.
type PolicyError struct {
	ID  uint32 // the Policy's ID
	Err error
}

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

// SACounters of one SA, for installed-sa print (current-bytes) and metrics.
type SACounters struct {
	Bytes, Packets       uint64 // inner bytes (as XFRM counts them) and packets
	ReplayErrors         uint64
	AuthErrors           uint64
	AddTime              time.Time
	State                string // "mature", "dying" (soft expired), "dead"
	HardwareAccelerated  bool   // hw-aead
	ReplayWindow         uint32
	SeqOut, SeqInHighest uint64
	// ReceivePath is how an inbound raw ESP SA's packets arrive on the userspace path
	// now (RecvPortGRO, RecvRawSocket); "" elsewhere.
	ReceivePath string
}

// Statistics are the /ip ipsec statistics counters, named as the reference names them.
type Statistics struct {
	InErrors               uint64 `ros:"in-errors"`
	InBufferErrors         uint64 `ros:"in-buffer-errors"`
	InHeaderErrors         uint64 `ros:"in-header-errors"`
	InNoStates             uint64 `ros:"in-no-states"`
	InStateProtocolErrors  uint64 `ros:"in-state-protocol-errors"`
	InStateModeErrors      uint64 `ros:"in-state-mode-errors"`
	InStateSequenceErrors  uint64 `ros:"in-state-sequence-errors"`
	InStateExpired         uint64 `ros:"in-state-expired"`
	InStateMismatches      uint64 `ros:"in-state-mismatches"`
	InStateInvalid         uint64 `ros:"in-state-invalid"`
	InTemplateMismatches   uint64 `ros:"in-template-mismatches"`
	InNoPolicies           uint64 `ros:"in-no-policies"`
	InPolicyBlocked        uint64 `ros:"in-policy-blocked"`
	InPolicyErrors         uint64 `ros:"in-policy-errors"`
	OutErrors              uint64 `ros:"out-errors"`
	OutBundleErrors        uint64 `ros:"out-bundle-errors"`
	OutBundleCheckErrors   uint64 `ros:"out-bundle-check-errors"`
	OutNoStates            uint64 `ros:"out-no-states"`
	OutStateProtocolErrors uint64 `ros:"out-state-protocol-errors"`
	OutStateModeErrors     uint64 `ros:"out-state-mode-errors"`
	OutStateSequenceErrors uint64 `ros:"out-state-sequence-errors"`
	OutStateExpired        uint64 `ros:"out-state-expired"`
	OutPolicyBlocked       uint64 `ros:"out-policy-blocked"`
	OutPolicyDead          uint64 `ros:"out-policy-dead"`
	OutPolicyErrors        uint64 `ros:"out-policy-errors"`
}

// EventKind of an Event.
type EventKind uint8

const (
	// EventSoftExpire: an SA reached a soft limit; IKE should rekey the CHILD_SA.
	EventSoftExpire EventKind = 1
	// EventHardExpire: an SA reached a hard limit and was removed by the datapath.
	EventHardExpire EventKind = 2
	// EventAcquire: outbound traffic matched an encrypt policy with no usable SA; IKE
	// should negotiate one (the datapath rate-limits these per policy to one a second).
	EventAcquire EventKind = 3
	// EventMapping: authenticated ESP-in-UDP for the inbound SA arrived from another
	// address or port than the SA's peer (its NAT mapping changed, RFC 7296 2.23); the
	// kernel's XFRM_MSG_MAPPING. From is the new source, OldFrom the SA's.
	EventMapping EventKind = 4
	// EventDevice: the data path's own device was deleted behind routerd's back (ip
	// link del ipsec0); the owner should call Repair (Repairer).
	EventDevice EventKind = 5
)

// Repairer is implemented by a data path with kernel objects of its own that can be
// removed behind routerd's back: the userspace path's TUN device, whose deletion takes
// its steering routes with it and leaves every SA silent.
type Repairer interface {
	// Repair makes again what was removed: the device and its routes. It reports
	// whether it had to; with nothing removed it only reads (one link lookup). The
	// owner calls it on EventDevice and periodically (a device set down, or renamed,
	// wakes no reader).
	Repair(ctx context.Context) (repaired bool, err error)
	// Health is nil while the data path has what it needs, else why not (one link
	// lookup).
	Health() error
}

// Event from the datapath to IKE.
type Event struct {
	Kind EventKind
	SA   Key // expiry events
	// ReqID of the expired SA or the acquiring policy.
	ReqID    uint32
	Dir      Direction
	ByBytes  bool // expiry reached by bytes rather than time
	PolicyID uint32
	// Packet that triggered an ACQUIRE (narrowing the traffic selectors, RFC 7296 2.9).
	Src, Dst         netip.Addr
	Protocol         uint8
	SrcPort, DstPort uint16
	// From and OldFrom: the peer's new and previous endpoint (EventMapping).
	From, OldFrom netip.AddrPort
}

// Config of a datapath.
type Config struct {
	// UDP4500 and UDP4500v6 are IKE's NAT-T sockets (bound to port 4500). The userspace
	// path sends ESP-in-UDP through them, so it leaves with source port 4500; the kernel
	// path sets UDP_ENCAP_ESPINUDP on them. Either may be nil (then SAs with Encap in
	// that family are refused).
	UDP4500, UDP4500v6 *net.UDPConn
	// TunName is the userspace path's TUN device.
	TunName string
	// Table and RulePriority: the routing table and ip rule the userspace path steers
	// encrypt-policy traffic with.
	Table, RulePriority int
	// BypassMark is set (SO_MARK) on every outer socket so outer packets skip Table.
	// IKE's 500 socket should carry it too (SetBypassMark). The ip rule and the discard
	// chains match it under itself as the mask, so it must be bits no firewall action
	// writes: routerd's default is the routing field's all-ones value
	// (control/routing.ReservedMark), which no routing table gets and mark-packet (low
	// bits) and the bridge-port class (bits 16-19) leave alone.
	BypassMark uint32
	// IKEPorts are the local UDP ports of IKE and ESP-in-UDP: what this host sends
	// from them never enters the steering table, whatever mark the firewall gives it
	// (bypassrules.go).
	IKEPorts []uint16
	// MTU of the TUN device; outer overhead is subtracted by the peer's path, not here.
	MTU int
	// Force picks an implementation instead of probing ("" probes).
	Force Kind
	// TUNReadsPerWake bounds the userspace path's TUN reads per batch it encrypts and
	// sends (0: as many as the device has queued, up to the batch's room). 1 is the path
	// before batching (one read, one send), kept as the baseline its benchmarks measure
	// beside; DefaultConfig takes it from ROUTERD_ESP_TUNREAD=unbatched so a routerd
	// daemon can run that way too.
	TUNReadsPerWake int
	// outInline: the userspace path's out loop sends each batch itself instead of
	// handing it to a send stage on another goroutine (the path before; tests and
	// ROUTERD_ESP_TUNREAD set it).
	outInline bool
	// outStaged: every batch goes to the send stage, small ones too (the path before
	// small batches were sent inline; ROUTERD_ESP_TUNREAD=staged, for the benchmarks).
	outStaged bool
	// udpInQueued: ESP-in-UDP batches are decrypted one by one and handed to the TUN
	// writer's goroutine (the path before InputUDPBatch wrote them itself;
	// ROUTERD_ESP_UDPIN=queued, for the benchmarks).
	udpInQueued bool
	// RxSteer, when set, takes the userspace path's inbound raw IPv4 ESP before the
	// stack and hands it to a GRO socket of the path (steer.go) if SteerRx is on; nil or
	// off: the raw socket reads all ESP.
	RxSteer RxSteer
	// SteerRx turns the steering on (DefaultConfig: ROUTERD_ESP_RXSTEER=port-gro). Off by
	// default: on veth, where the sender's transmit runs the receiver's NAPI poll for
	// each packet, GRO never has two ESP packets to merge, and the steered path, with its
	// checksums, was slower than the raw socket (docs/perf.md).
	SteerRx bool
	// Log receives the data path's own errors (a recovered panic); nil is slog.Default.
	Log *slog.Logger
}

// DefaultConfig returns the settings routerd uses.
func DefaultConfig() Config {
	c := Config{
		TunName:      "ipsec0",
		Table:        220,
		RulePriority: 220,
		BypassMark:   0xfff00000,
		IKEPorts:     []uint16{500, 4500},
		MTU:          1400,
	}
	c.TUNReadsPerWake, c.outInline, c.outStaged = tunReadFromEnv()
	c.udpInQueued = os.Getenv("ROUTERD_ESP_UDPIN") == "queued"
	c.SteerRx = os.Getenv("ROUTERD_ESP_RXSTEER") == "port-gro"
	return c
}

// tunReadFromEnv: ROUTERD_ESP_TUNREAD=unbatched runs a routerd's userspace ESP out loop as
// before batching (one TUN read, one send, on one goroutine), =inline with batched reads
// but no send stage of its own, =staged with every batch handed to the send stage (before
// small batches were sent inline), so that the daemon-to-daemon benchmarks (test/ipsec)
// can measure the paths before beside the current one in the same run.
func tunReadFromEnv() (perWake int, inline, staged bool) {
	switch os.Getenv("ROUTERD_ESP_TUNREAD") {
	case "unbatched":
		return 1, true, false
	case "inline":
		return 0, true, false
	case "staged":
		return 0, false, true
	}
	return 0, false, false
}

// Datapath is an ESP data path. All methods are safe for concurrent use.
type Datapath interface {
	// Kind says which implementation runs ("userspace" or "kernel-xfrm").
	Kind() Kind
	// AddSA installs an SA; ErrExists when (SPI, Dst) is taken, ErrUnknownAlgorithm /
	// ErrBadKey for a proposal the path cannot run.
	AddSA(ctx context.Context, sa SA) error
	// UpdateSA replaces an installed SA's endpoints/encapsulation (NAT-T port float,
	// MOBIKE) and lifetimes, keeping sequence numbers, replay state and counters.
	UpdateSA(ctx context.Context, sa SA) error
	// MoveSA moves the SA old to sa's endpoints (the peer's NAT mapping changed, RFC
	// 7296 2.23), keeping its sequence numbers and replay state.
	MoveSA(ctx context.Context, old Key, sa SA) error
	DeleteSA(ctx context.Context, k Key) error
	// FlushSAs removes every SA (installed-sa flush).
	FlushSAs(ctx context.Context) error
	// SetPolicies replaces routerd's SPD with ps (idempotent: the same list twice
	// changes nothing). On the userspace path this also installs the steering routes.
	SetPolicies(ctx context.Context, ps []Policy) error
	// Counters of one SA.
	Counters(k Key) (SACounters, error)
	// Statistics: the /ip ipsec statistics counters.
	Statistics() Statistics
	// Events delivers expiry and ACQUIRE events; it is closed by Close.
	Events() <-chan Event
	// InputUDP takes one UDP payload received on port 4500 that is ESP (its first four
	// bytes are not the zero non-ESP marker and it is not a one-byte 0xff keepalive).
	// The kernel path never needs it (the socket's encap option consumes ESP) and
	// ignores it. b is not retained.
	InputUDP(b []byte, src, dst netip.AddrPort)
	// InputUDPBatch takes the n ESP payloads of one read of a port 4500 socket, the i-th
	// from at(i), as InputUDP would each, and writes what they carry into its device
	// together. The buffers are the caller's until it returns and may be changed in
	// place (decrypted).
	InputUDPBatch(n int, at func(i int) (b []byte, src, dst netip.AddrPort))
	Close() error
}

// IsESPinUDP tells ESP from IKE on port 4500 (RFC 3948 2.2): IKE messages start with the
// four-byte zero non-ESP marker, NAT keepalives are the single byte 0xff.
func IsESPinUDP(b []byte) bool {
	if len(b) == 1 && b[0] == 0xff {
		return false
	}
	return len(b) >= 8 && (b[0]|b[1]|b[2]|b[3]) != 0
}

// ProbeResult says what the running kernel can do.
type ProbeResult struct {
	Kind   Kind   // the implementation Open picks
	Reason string // why (e.g. "kernel XFRM: Requested AEAD algorithm not found")
}

// Open probes (unless cfg.Force is set) and starts the chosen datapath.
func Open(ctx context.Context, cfg Config) (Datapath, error) {
	k := cfg.Force
	if k == "" {
		k = Probe().Kind
	}
	switch k {
	case KindKernel:
		return openKernel(ctx, cfg)
	case KindUserspace:
		return openUserspace(ctx, cfg)
	}
	return nil, ErrNotSupported
}
