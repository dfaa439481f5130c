// Package trafficgen is routerd's packet generator: frames built from flags (UDP, TCP, or
// UDP inside GRE, EoIP or IPIP; size; number of flows) sent by an XDP program that the
// kernel runs in a loop through BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, as
// xdp-trafficgen does, so that one core sends millions of frames per second where a
// userspace sender on veth stops near 1.5 Mpps. A Sink counts what arrives at an
// interface (XDP, counted and dropped). The command is in cmd/trafficgen; the benchmarks
// of docs/perf.md use the package.
package trafficgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrNotSupported says the kernel cannot run the generator (no BPF or no live frames).
var ErrNotSupported = errors.New("trafficgen: BPF live frames not supported here")

// Options describe the frames.
type Options struct {
	// Proto is udp, tcp, gre, eoip or ipip (the last three carry UDP).
	Proto string
	// Size is the Ethernet frame's length without FCS (at least what the headers need).
	Size int
	// Flows > 1 varies the (inner) UDP or TCP source port over that many values.
	Flows int
	// SrcMAC and DstMAC are the Ethernet addresses (DstMAC: the router's port).
	SrcMAC, DstMAC net.HardwareAddr
	// Src and Dst are the (inner) packet's addresses, SrcPort and DstPort its ports.
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// OuterSrc and OuterDst are the tunnel's addresses (gre, eoip, ipip).
	OuterSrc, OuterDst netip.Addr
	// TunnelID is EoIP's tunnel-id.
	TunnelID uint16
	// InnerDstMAC is the destination of the frame EoIP carries (default DstMAC): the
	// tunnel interface's MAC for a routed EoIP tunnel.
	InnerDstMAC net.HardwareAddr
	// TTL of the (inner) packet; 0 means 64.
	TTL uint8
}

// Frame is a built frame and where the generator varies it.
type Frame struct {
	Bytes            []byte
	PortOff, CsumOff int // 0: none
}

func csum(b []byte, s uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ipv4(proto byte, ttl uint8, src, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b[6] = 0x40 // DF
	b[8] = ttl
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], csum(b, 0))
	return append(b, payload...)
}

// l4 builds a UDP or TCP segment with payload bytes of data and, with withCsum, its
// checksum over the IPv4 pseudo header.
func l4(proto string, src, dst netip.Addr, sport, dport uint16, data int, withCsum bool) []byte {
	var h []byte
	var num byte
	if proto == "tcp" {
		num = 6
		h = make([]byte, 20, 20+data)
		binary.BigEndian.PutUint32(h[4:], 1)
		binary.BigEndian.PutUint32(h[8:], 1)
		h[12] = 5 << 4
		h[13] = 0x10 // ACK
		binary.BigEndian.PutUint16(h[14:], 65535)
	} else {
		num = 17
		h = make([]byte, 8, 8+data)
		binary.BigEndian.PutUint16(h[4:], uint16(8+data))
	}
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h = append(h, make([]byte, data)...)
	if withCsum {
		s4, d4 := src.As4(), dst.As4()
		ph := append(append(append([]byte{}, s4[:]...), d4[:]...), 0, num, byte(len(h)>>8), byte(len(h)))
		var s uint32
		for i := 0; i < len(ph); i += 2 {
			s += uint32(binary.BigEndian.Uint16(ph[i:]))
		}
		c := csum(h, s)
		if c == 0 && num == 17 {
			c = 0xffff
		}
		off := 6
		if num == 6 {
			off = 16
		}
		binary.BigEndian.PutUint16(h[off:], c)
	}
	return h
}

// Build makes the frame o describes.
func Build(o Options) (Frame, error) {
	if o.TTL == 0 {
		o.TTL = 64
	}
	if !o.Src.Is4() || !o.Dst.Is4() {
		return Frame{}, fmt.Errorf("trafficgen: src and dst must be IPv4 addresses")
	}
	if o.SrcPort == 0 {
		o.SrcPort = 1024
	}
	if o.DstPort == 0 {
		o.DstPort = 9
	}
	eth := append(append(append([]byte{}, o.DstMAC...), o.SrcMAC...), 0x08, 0x00)
	if len(eth) != 14 {
		return Frame{}, fmt.Errorf("trafficgen: MAC addresses must be 6 bytes")
	}
	// Header bytes in front of the (inner) L4 header, and the L4 header's own.
	outer := 0
	switch o.Proto {
	case "udp", "tcp":
	case "gre":
		outer = 20 + 4
	case "ipip":
		outer = 20
	case "eoip":
		outer = 20 + 8 + 14
	default:
		return Frame{}, fmt.Errorf("trafficgen: protocol %q: want udp, tcp, gre, eoip or ipip", o.Proto)
	}
	l4len := 8
	if o.Proto == "tcp" {
		l4len = 20
	}
	data := o.Size - 14 - outer - 20 - l4len
	if data < 0 {
		return Frame{}, fmt.Errorf("trafficgen: size %d is below the %d bytes of the headers", o.Size, o.Size-data)
	}
	if outer != 0 && (!o.OuterSrc.Is4() || !o.OuterDst.Is4()) {
		return Frame{}, fmt.Errorf("trafficgen: %s needs IPv4 outer addresses", o.Proto)
	}
	proto := o.Proto
	if outer != 0 {
		proto = "udp"
	}
	// Tunnelled UDP carries no checksum (RFC 768 allows it), so varying its port costs
	// no checksum update.
	inner := ipv4(map[string]byte{"udp": 17, "tcp": 6}[proto], o.TTL, o.Src, o.Dst,
		l4(proto, o.Src, o.Dst, o.SrcPort, o.DstPort, data, outer == 0))
	f := Frame{PortOff: 14 + outer + 20}
	if outer == 0 && o.Flows > 1 {
		f.CsumOff = f.PortOff + 6
		if proto == "tcp" {
			f.CsumOff = f.PortOff + 16
		}
	}
	var l3 []byte
	switch o.Proto {
	case "udp", "tcp":
		l3 = inner
	case "gre":
		l3 = ipv4(47, 64, o.OuterSrc, o.OuterDst, append([]byte{0, 0, 0x08, 0x00}, inner...))
	case "ipip":
		l3 = ipv4(4, 64, o.OuterSrc, o.OuterDst, inner)
	case "eoip":
		// EoIP carries the Ethernet frame; its addresses are the inner ones.
		frame := append(append([]byte{}, eth...), inner...)
		if len(o.InnerDstMAC) == 6 {
			copy(frame, o.InnerDstMAC)
		}
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, 0x2001)
		binary.BigEndian.PutUint16(h[2:], 0x6400)
		binary.BigEndian.PutUint16(h[4:], uint16(len(frame)))
		binary.LittleEndian.PutUint16(h[6:], o.TunnelID)
		l3 = ipv4(47, 64, o.OuterSrc, o.OuterDst, append(h, frame...))
	}
	if o.Flows <= 1 {
		f.PortOff, f.CsumOff = 0, 0
	}
	f.Bytes = append(eth, l3...)
	return f, nil
}

// Gen sends one frame, over and over, out of an interface.
type Gen struct {
	objs    trafficgenObjects
	frame   []byte
	ifindex int
}

// Open loads the generator for frame f, sent out of ifindex (XDP_TX, so the frame leaves
// by that interface; a veth's peer must run XDP or have GRO on to take it) or, with
// redirectTo, redirected there. Call it, and Run, in the interface's namespace.
func Open(f Frame, flows int, ifindex, redirectTo int) (*Gen, error) {
	spec, err := loadTrafficgen()
	if err != nil {
		return nil, err
	}
	hl := len(f.Bytes) &^ 7
	if hl > 128 {
		hl = 128
	}
	var head [128]byte
	copy(head[:], f.Bytes)
	for name, v := range map[string]any{"head_len": uint32(hl), "head": head, "flows": uint32(max(flows, 1)),
		"port_off": uint32(f.PortOff), "csum_off": uint32(f.CsumOff), "out_ifindex": uint32(redirectTo)} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("trafficgen: %s: %w", name, err)
		}
	}
	g := &Gen{frame: f.Bytes, ifindex: ifindex}
	if err := spec.LoadAndAssign(&g.objs, nil); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: %v", ErrNotSupported, err)
		}
		return nil, err
	}
	return g, nil
}

// Close releases the program.
func (g *Gen) Close() error { return g.objs.Close() }

// Sent is how many frames the program handed to the kernel to send so far.
func (g *Gen) Sent() uint64 { return sum(g.objs.GenCount) }

func sum(m *ebpf.Map) uint64 {
	var per []uint64
	if err := m.Lookup(uint32(0), &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// xdpMd is struct xdp_md, the context of a live-frames run.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// progRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr (cilium/ebpf's Run does
// not take the live-frames flag with a batch size).
type progRunAttr struct {
	ProgFd, Retval, DataSizeIn, DataSizeOut uint32
	DataIn, DataOut                         uint64
	Repeat, Duration, CtxSizeIn, CtxSizeOut uint32
	CtxIn, CtxOut                           uint64
	Flags, CPU, BatchSize                   uint32
	_                                       uint32
}

const liveFrames = 2 // BPF_F_TEST_XDP_LIVE_FRAMES

// Run sends n frames and returns the wall time it took: the kernel runs the loop (and,
// on veth, the receivers' NAPI as its softirqs come due) on the calling thread, locked
// to it meanwhile. Call it in the interface's namespace.
func (g *Gen) Run(n int) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := &xdpMd{DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(g.ifindex)}
	start := time.Now()
	for left := n; left > 0; {
		// A signal ends a run early (EINTR); runs of 1M frames keep that rare and cheap.
		chunk := min(left, 1<<20)
		before := g.Sent()
		attr := &progRunAttr{ProgFd: uint32(g.objs.Gen.FD()), DataSizeIn: uint32(len(g.frame)),
			DataIn: uint64(uintptr(unsafe.Pointer(&g.frame[0]))), Repeat: uint32(chunk),
			CtxSizeIn: uint32(unsafe.Sizeof(*ctx)), CtxIn: uint64(uintptr(unsafe.Pointer(ctx))),
			Flags: liveFrames}
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
		runtime.KeepAlive(g.frame)
		runtime.KeepAlive(ctx)
		if errno != 0 && errno != unix.EINTR {
			if errno == unix.EINVAL || errno == unix.EOPNOTSUPP {
				return 0, fmt.Errorf("%w: %v", ErrNotSupported, errno)
			}
			return 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
		}
		left -= int(g.Sent() - before)
	}
	return time.Since(start), nil
}

// Sink counts the frames arriving at an interface and drops them (native XDP).
type Sink struct {
	objs trafficgenObjects
	l    link.Link
}

// OpenSink attaches the counter to ifindex (call it in the interface's namespace).
func OpenSink(ifindex int) (*Sink, error) {
	s := &Sink{}
	if err := loadTrafficgenObjects(&s.objs, nil); err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: s.objs.Count, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("trafficgen: sink on %d: %w", ifindex, err)
	}
	s.l = l
	return s, nil
}

// Count is how many frames arrived so far.
func (s *Sink) Count() uint64 { return sum(s.objs.GenCount) }

// Close detaches the counter.
func (s *Sink) Close() error {
	s.l.Close()
	return s.objs.Close()
}
