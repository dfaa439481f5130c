package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

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
	for _, proto := range []int{unix.IPPROTO_GRE, unix.IPPROTO_IPIP, unix.IPPROTO_IPV6} {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if err == nil {
			// Room for bursts of full frames (a TCP window's worth) while the
			// receiver is busy; best effort.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
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
		goFn(ctx, func(ctx context.Context) { e.receiveReassembled(ctx, fd) })
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

// receiveReassembled decapsulates what the raw socket fd receives until ctx ends.
func (e *Engine) receiveReassembled(ctx context.Context, fd int) {
	pkt := make([]byte, 65536)
	frame := make([]byte, 65536+14)
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
		in, err := e.dp.Decap(pkt[:n], e.fromESP(oob[:oobn]), frame)
		if errors.Is(err, dataplane.ErrCleartext) {
			e.reasm.add(in.Hidden, func(c *reasmCount) { c.cleartext++ })
			continue
		}
		if err != nil {
			continue
		}
		sa := &unix.SockaddrLinklayer{Ifindex: in.Hidden, Halen: 6}
		copy(sa.Addr[:], in.Frame[:6])
		if err := unix.Sendto(e.reasmTx, in.Frame, 0, sa); err != nil {
			continue
		}
		e.reasm.add(in.Hidden, func(c *reasmCount) { c.packets++; c.bytes += uint64(len(in.Frame)) })
	}
}

// fromESP says whether the packet whose IP_PKTINFO is in oob arrived on the userspace
// ESP path's device.
func (e *Engine) fromESP(oob []byte) bool {
	esp := e.espIndex.Load()
	if esp == 0 {
		return false
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		// struct in_pktinfo starts with the interface index.
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= 4 {
			return int32(binary.NativeEndian.Uint32(m.Data)) == esp
		}
	}
	return false
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
