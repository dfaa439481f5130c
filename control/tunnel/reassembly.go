package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/dataplane"
)

// Reassembled outer packets. A tunnel whose mtu is above what the underlay carries after
// the tunnel headers (EoIP with mtu=1500 over a 1500-byte underlay, as RouterOS allows)
// sends fragmented outer packets (bpf/tunnel.c encap_too_big). The eBPF decapsulators
// leave fragments to the stack, which reassembles them (ip_defrag) and, having no tunnel
// of its own for the protocol, hands them to the raw sockets of that protocol: here,
// where they are decapsulated (dataplane.Decap, the maps' receive entries) and the inner
// frame is sent out of the tunnel's hidden end, so that the visible end receives it as
// it receives every other. The raw sockets also see the tunnel protocols' packets that
// are no tunnel's here, which they drop (as the stack would, without the ICMP).

// reasmCounts are what the receivers delivered, by hidden ifindex (fillStats adds them
// to the dataplane's counters).
type reasmCounts struct {
	mu sync.Mutex
	by map[int]*reasmCount
}

type reasmCount struct{ packets, bytes, cleartext uint64 }

func (c *reasmCounts) add(hidden int, f func(*reasmCount)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[int]*reasmCount{}
	}
	n := c.by[hidden]
	if n == nil {
		n = &reasmCount{}
		c.by[hidden] = n
	}
	f(n)
}

func (c *reasmCounts) get(hidden int) reasmCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.by[hidden]; n != nil {
		return *n
	}
	return reasmCount{}
}

// forgetCounts drops a removed tunnel's counts (a new tunnel may get its ifindex).
func (c *reasmCounts) forget(hidden int) {
	c.mu.Lock()
	delete(c.by, hidden)
	c.mu.Unlock()
}

// reasmBatchSize is how many reassembled packets one recvmmsg takes and one sendmmsg
// sends on: a TCP window's burst of full frames costs a few system calls instead of two
// per frame.
const reasmBatchSize = 32

// reasmRcvBuf is the raw sockets' receive buffer: room for bursts of full frames (a TCP
// window's worth) while the receiver is busy.
const reasmRcvBuf = 8 << 20

// Why a reassembled packet was dropped before reaching a tunnel (metrics: what no
// tunnel's counters can show).
const (
	reasmDropNotTunnel = iota // another protocol's GRE, an unknown endpoint or tunnel-id
	reasmDropMalformed        // headers inconsistent with the packet
	reasmDropTruncated        // longer than the receive buffer (cannot happen for IPv4)
	reasmDropSend             // the packet socket refused the frame
	reasmDropInternal         // a panic in the batch's handling (recovered)
	reasmDropMax
)

var reasmDropReasons = [reasmDropMax]string{"not-tunnel", "malformed", "truncated", "send", "internal"}

// reasmUnbatched selects the receive loop of one recvmsg and one sendto per packet
// (ROUTERD_TUNNEL_REASM=unbatched): the path before batching, kept as the baseline of
// test/tunnel's BenchmarkEoIPFullFrames.
func reasmUnbatched() bool { return os.Getenv("ROUTERD_TUNNEL_REASM") == "unbatched" }

// startReassembly opens a raw socket for each outer protocol (GRE, IPIP, IPv6 in IPv4)
// and the packet socket frames are sent with, and starts their receivers. A protocol
// whose socket cannot be opened is logged and left out: its tunnels then carry only
// what fits the underlay.
func (e *Engine) startReassembly(ctx context.Context, goFn func(context.Context, func(context.Context))) error {
	tx, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	e.reasmTx = tx
	unbatched := reasmUnbatched()
	for _, proto := range []int{unix.IPPROTO_GRE, unix.IPPROTO_IPIP, unix.IPPROTO_IPV6} {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if err == nil {
			// Best effort: without CAP_NET_ADMIN the default buffer stays.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, reasmRcvBuf)
			// The receiver looks at its context between reads.
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 250000})
		}
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			slog.Warn("tunnel: no receiver for fragmented outer packets", "protocol", proto, "err", err)
			continue
		}
		e.reasmRx = append(e.reasmRx, fd)
		if unbatched {
			goFn(ctx, func(ctx context.Context) { e.receiveUnbatched(ctx, fd) })
		} else {
			goFn(ctx, func(ctx context.Context) { e.receiveReassembled(ctx, fd) })
		}
	}
	return nil
}

// closeReassembly closes the sockets once the receivers have ended.
func (e *Engine) closeReassembly() {
	for _, fd := range e.reasmRx {
		unix.Close(fd)
	}
	if e.reasmTx > 0 {
		unix.Close(e.reasmTx)
	}
}

// reasmBatch holds the messages of one recvmmsg and of the sendmmsg that follows it,
// allocated once: the frames are decapsulated in place in the receive buffers, and the
// send side points into them.
type reasmBatch struct {
	in    []unix.Mmsghdr
	inIov []unix.Iovec
	bufs  [][]byte
	oob   [][]byte

	out    []unix.Mmsghdr
	outIov []unix.Iovec
	sa     []unix.RawSockaddrLinklayer
	hidden []int
}

func newReasmBatch(n int) *reasmBatch {
	b := &reasmBatch{
		in: make([]unix.Mmsghdr, n), inIov: make([]unix.Iovec, n), bufs: make([][]byte, n), oob: make([][]byte, n),
		out: make([]unix.Mmsghdr, n), outIov: make([]unix.Iovec, n), sa: make([]unix.RawSockaddrLinklayer, n),
		hidden: make([]int, n),
	}
	for i := range n {
		// The largest IPv4 packet: a reassembled one cannot be longer.
		b.bufs[i] = make([]byte, 65536)
		b.oob[i] = make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(len(b.bufs[i]))
		b.in[i].Hdr.Iov = &b.inIov[i]
		b.in[i].Hdr.SetIovlen(1)
		b.in[i].Hdr.Control = &b.oob[i][0]
		b.out[i].Hdr.Iov = &b.outIov[i]
		b.out[i].Hdr.SetIovlen(1)
		b.out[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.sa[i]))
		b.out[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	}
	return b
}

// recv waits for at least one packet on fd (up to its SO_RCVTIMEO) and takes what else
// is queued, up to the batch's size.
func (b *reasmBatch) recv(fd int) (int, error) {
	for i := range b.in {
		b.in[i].Hdr.SetControllen(len(b.oob[i]))
		b.in[i].Hdr.Flags = 0
		b.in[i].Len = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.in[0])),
		uintptr(len(b.in)), unix.MSG_WAITFORONE, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// queue puts frame on the send side at k, to go out of hidden.
func (b *reasmBatch) queue(k, hidden int, frame []byte) {
	b.outIov[k].Base = &frame[0]
	b.outIov[k].SetLen(len(frame))
	b.sa[k] = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Ifindex: int32(hidden), Halen: 6}
	copy(b.sa[k].Addr[:6], frame[:6])
	b.hidden[k] = hidden
}

// send sends the k queued frames on fd; f is called for each, with whether it went.
func (b *reasmBatch) send(fd, k int, f func(i int, ok bool)) {
	for off := 0; off < k; {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.out[off])),
			uintptr(k-off), 0, 0, 0)
		if errno != 0 {
			// The first frame failed (sendmmsg reports an error only when nothing
			// went): it is dropped, the rest are tried again.
			f(off, false)
			off++
			continue
		}
		for i := off; i < off+int(n); i++ {
			f(i, true)
		}
		off += int(n)
	}
}

// receiveReassembled decapsulates what the raw socket fd receives until ctx ends, in
// batches: one recvmmsg takes what is queued, and one sendmmsg sends the inner frames out
// of the tunnels' hidden ends.
func (e *Engine) receiveReassembled(ctx context.Context, fd int) {
	b := newReasmBatch(reasmBatchSize)
	for ctx.Err() == nil {
		n, err := b.recv(fd)
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				slog.Warn("tunnel: receiving reassembled packets", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		e.deliverBatch(b, n)
	}
}

// deliverBatch decapsulates the n packets of b and sends the frames. A panic (a parser of
// untrusted packets) costs the batch, counted, and the receiver goes on.
func (e *Engine) deliverBatch(b *reasmBatch, n int) {
	defer func() {
		if p := recover(); p != nil {
			e.reasmDrops[reasmDropInternal].Add(uint64(n))
			slog.Error("tunnel: internal error handling reassembled packets", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	k := 0
	for i := range n {
		h := &b.in[i]
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			e.reasmDrops[reasmDropTruncated].Add(1)
			continue
		}
		in, err := e.dp.Decap(b.bufs[i][:h.Len], e.fromESP(b.oob[i][:h.Hdr.Controllen]))
		if !e.decapped(in, err) {
			continue
		}
		b.queue(k, in.Hidden, in.Frame)
		k++
	}
	// Counted by runs of one tunnel's frames (a batch is mostly one flow's).
	var run reasmCount
	hidden := 0
	flush := func() {
		if run.packets > 0 {
			r := run
			e.reasm.add(hidden, func(c *reasmCount) {
				c.packets += r.packets
				c.bytes += r.bytes
			})
		}
		run = reasmCount{}
	}
	b.send(e.reasmTx, k, func(i int, ok bool) {
		if b.hidden[i] != hidden {
			flush()
			hidden = b.hidden[i]
		}
		if !ok {
			e.reasmDrops[reasmDropSend].Add(1)
			return
		}
		run.packets++
		run.bytes += uint64(b.outIov[i].Len)
	})
	flush()
}

// decapped counts what Decap refused and says whether in is to be sent.
func (e *Engine) decapped(in dataplane.Inner, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, dataplane.ErrCleartext):
		e.reasm.add(in.Hidden, func(c *reasmCount) { c.cleartext++ })
	case errors.Is(err, dataplane.ErrMalformed):
		e.reasmDrops[reasmDropMalformed].Add(1)
	default:
		e.reasmDrops[reasmDropNotTunnel].Add(1)
	}
	return false
}

// receiveUnbatched is receiveReassembled with one recvmsg and one sendto per packet
// (reasmUnbatched).
func (e *Engine) receiveUnbatched(ctx context.Context, fd int) {
	pkt := make([]byte, 65536)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	for ctx.Err() == nil {
		n, oobn, _, _, err := unix.Recvmsg(fd, pkt, oob, 0)
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				slog.Warn("tunnel: receiving reassembled packets", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		in, err := e.dp.Decap(pkt[:n], e.fromESP(oob[:oobn]))
		if !e.decapped(in, err) {
			continue
		}
		sa := &unix.SockaddrLinklayer{Ifindex: in.Hidden, Halen: 6}
		copy(sa.Addr[:], in.Frame[:6])
		if err := unix.Sendto(e.reasmTx, in.Frame, 0, sa); err != nil {
			e.reasmDrops[reasmDropSend].Add(1)
			continue
		}
		e.reasm.add(in.Hidden, func(c *reasmCount) { c.packets++; c.bytes += uint64(len(in.Frame)) })
	}
}

// fromESP says whether the packet whose control messages are in oob (IP_PKTINFO)
// arrived on the userspace ESP path's device.
func (e *Engine) fromESP(oob []byte) bool {
	esp := e.espIndex.Load()
	return esp != 0 && pktinfoIfindex(oob) == esp
}

// pktinfoIfindex finds the interface index of the IP_PKTINFO control message in oob, or
// 0, without allocating (unix.ParseSocketControlMessage makes a slice per packet).
func pktinfoIfindex(oob []byte) int32 {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		// struct in_pktinfo starts with the interface index.
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(4) {
			return int32(binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]))
		}
		if sp := unix.CmsgSpace(l - unix.SizeofCmsghdr); sp < len(oob) {
			oob = oob[sp:]
		} else {
			return 0
		}
	}
	return 0
}

// stats are a tunnel's dataplane counters with what the receivers delivered and dropped.
func (e *Engine) stats(hidden int) (dataplane.Stats, error) {
	s, err := e.dp.Stats(hidden)
	if err != nil {
		return s, err
	}
	r := e.reasm.get(hidden)
	s.RxPackets += r.packets
	s.RxBytes += r.bytes
	s.RxReassembled = r.packets
	s.Drops[dataplane.DropCleartext] += r.cleartext
	return s, nil
}
