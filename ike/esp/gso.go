package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// The TUN's reads, split here rather than by the TUN library: the library's split takes
// every byte before the checksum start for one IP header, and an IPsec-protected
// tunnel's GSO packet (dataplane's tun_encap, whole_gso) comes whole, its outer IPv4
// and GRE headers in front of the inner IP header. Per segment this split sets every IP
// header's length (IPv4: also its ID and header checksum), the TCP sequence number and
// flags or the UDP length, and the transport checksum over the innermost IP header's
// pseudo-header, as the kernel's GSO would for an encapsulated packet.

// The virtio-net header in front of each read (include/uapi/linux/virtio_net.h), in the
// machine's byte order (the TUN's default).
const (
	vnetHdrLen       = 10
	vnetNeedsCsum    = 1
	vnetGSONone      = 0
	vnetGSOTCPv4     = 1
	vnetGSOUDPL4     = 5
	vnetGSOTCPv6     = 4
	maxGSOHeaders    = 3 // IP headers in front of the transport header: outer, inner and one spare
	tcpFlagFIN       = 0x01
	tcpFlagPSH       = 0x08
	tcpFlagCWR       = 0x80
	rawTUNReadLength = vnetHdrLen + 65535
)

var errVirtio = errors.New("esp: malformed packet from the TUN")

// gsoHeaders is where the headers of a GSO packet are: the IP headers in order, outer
// first, and the transport header.
type gsoHeaders struct {
	ip    [maxGSOHeaders]int
	v6    [maxGSOHeaders]bool
	n     int
	l4    int
	proto byte
}

// parseGSOHeaders walks IPv4 and IPv6 headers (IPv6 extension headers included), GRE
// without options and IP-in-IP to the TCP or UDP header.
func parseGSOHeaders(b []byte) (gsoHeaders, error) {
	var h gsoHeaders
	off, want := 0, byte(0) // want: the IP version the previous header announced
	for {
		if h.n == maxGSOHeaders || off >= len(b) {
			return h, errVirtio
		}
		v := b[off] >> 4
		if want != 0 && v != want {
			return h, errVirtio
		}
		var proto byte
		switch v {
		case 4:
			if len(b) < off+20 {
				return h, errVirtio
			}
			ihl := int(b[off]&0x0f) * 4
			if ihl < 20 || len(b) < off+ihl || binary.BigEndian.Uint16(b[off+6:])&0x3fff != 0 {
				return h, errVirtio // a fragment is never a GSO packet
			}
			h.ip[h.n], h.v6[h.n] = off, false
			proto, off = b[off+9], off+ihl
		case 6:
			if len(b) < off+40 {
				return h, errVirtio
			}
			h.ip[h.n], h.v6[h.n] = off, true
			proto, off = b[off+6], off+40
			for i := 0; i < 8 && (proto == 0 || proto == 43 || proto == 60); i++ {
				if len(b) < off+8 {
					return h, errVirtio
				}
				proto, off = b[off], off+8+int(b[off+1])*8
			}
		default:
			return h, errVirtio
		}
		h.n++
		switch proto {
		case 6, 17:
			if off > len(b) {
				return h, errVirtio
			}
			h.l4, h.proto = off, proto
			return h, nil
		case 4:
			want = 4
		case 41:
			want = 6
		case 47:
			// RFC 2784 without checksum, key or sequence number: what routerd's
			// tunnels send.
			if len(b) < off+4 || binary.BigEndian.Uint16(b[off:]) != 0 {
				return h, errVirtio
			}
			switch binary.BigEndian.Uint16(b[off+2:]) {
			case 0x0800:
				want = 4
			case 0x86dd:
				want = 6
			default:
				return h, errVirtio
			}
			off += 4
		default:
			return h, errVirtio
		}
	}
}

// splitVirtio takes what one read of the TUN gave (virtio-net header, then the packet)
// and writes the packets it stands for at bufs[i][offset:], their lengths in sizes.
// It returns tun.ErrTooManySegments (and nothing) when bufs cannot hold them all.
func splitVirtio(in []byte, bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(in) < vnetHdrLen || len(bufs) == 0 {
		return 0, errVirtio
	}
	flags, typ := in[0], in[1]
	gsoSize := int(binary.NativeEndian.Uint16(in[4:]))
	csumStart := int(binary.NativeEndian.Uint16(in[6:]))
	csumOff := int(binary.NativeEndian.Uint16(in[8:]))
	pkt := in[vnetHdrLen:]
	if typ == vnetGSONone {
		if len(pkt) > len(bufs[0])-offset {
			return 0, errVirtio
		}
		out := bufs[0][offset : offset+len(pkt)]
		copy(out, pkt)
		if flags&vnetNeedsCsum != 0 {
			// CHECKSUM_PARTIAL: the pseudo-header's sum is in place already.
			at := csumStart + csumOff
			if at+2 > len(out) || csumStart > at {
				return 0, errVirtio
			}
			initial := uint64(binary.BigEndian.Uint16(out[at:]))
			out[at], out[at+1] = 0, 0
			binary.BigEndian.PutUint16(out[at:], ^fold(csumAdd(initial, out[csumStart:])))
		}
		sizes[0] = len(pkt)
		return 1, nil
	}
	if typ != vnetGSOTCPv4 && typ != vnetGSOTCPv6 && typ != vnetGSOUDPL4 {
		return 0, fmt.Errorf("%w: GSO type %#x", errVirtio, typ) // ECN too: never offered
	}
	h, err := parseGSOHeaders(pkt)
	if err != nil {
		return 0, err
	}
	// The kernel says where the transport header is: another place means a header this
	// walk read otherwise.
	if (typ == vnetGSOUDPL4) != (h.proto == 17) || h.l4 != csumStart || flags&vnetNeedsCsum == 0 {
		return 0, errVirtio
	}
	hdrLen := h.l4 + 8
	if h.proto == 6 {
		if len(pkt) < h.l4+20 {
			return 0, errVirtio
		}
		hdrLen = h.l4 + int(pkt[h.l4+12]>>4)*4
		if hdrLen < h.l4+20 {
			return 0, errVirtio
		}
	}
	payload := len(pkt) - hdrLen
	if gsoSize == 0 || payload <= 0 {
		return 0, errVirtio
	}
	segs := (payload + gsoSize - 1) / gsoSize
	if segs > len(bufs) || segs > len(sizes) {
		return 0, tun.ErrTooManySegments
	}
	if hdrLen+gsoSize > len(bufs[0])-offset {
		return 0, errVirtio
	}
	var ids [maxGSOHeaders]uint16
	for j := 0; j < h.n; j++ {
		if !h.v6[j] {
			ids[j] = binary.BigEndian.Uint16(pkt[h.ip[j]+4:])
		}
	}
	seq := uint32(0)
	if h.proto == 6 {
		seq = binary.BigEndian.Uint32(pkt[h.l4+4:])
	}
	inner := h.ip[h.n-1]
	for i := 0; i < segs; i++ {
		start := hdrLen + i*gsoSize
		end := min(start+gsoSize, len(pkt))
		segLen := hdrLen + end - start
		if len(bufs[i]) < offset+segLen {
			return 0, errVirtio
		}
		out := bufs[i][offset : offset+segLen]
		copy(out, pkt[:hdrLen])
		copy(out[hdrLen:], pkt[start:end])
		for j := 0; j < h.n; j++ {
			o := h.ip[j]
			if h.v6[j] {
				binary.BigEndian.PutUint16(out[o+4:], uint16(segLen-o-40))
				continue
			}
			ihl := int(out[o]&0x0f) * 4
			binary.BigEndian.PutUint16(out[o+2:], uint16(segLen-o))
			binary.BigEndian.PutUint16(out[o+4:], ids[j]+uint16(i))
			out[o+10], out[o+11] = 0, 0
			binary.BigEndian.PutUint16(out[o+10:], ^fold(csumAdd(0, out[o:o+ihl])))
		}
		l4 := out[h.l4:]
		if h.proto == 6 {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(i*gsoSize))
			if i > 0 {
				l4[13] &^= tcpFlagCWR // the kernel's GSO: CWR on the first segment only
			}
			if i < segs-1 {
				l4[13] &^= tcpFlagFIN | tcpFlagPSH
			}
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		at := csumOff
		if at+2 > len(l4) {
			return 0, errVirtio
		}
		l4[at], l4[at+1] = 0, 0
		sum := ^fold(csumAdd(pseudoSum(out[inner:], h.v6[h.n-1], h.proto, len(l4)), l4))
		if sum == 0 && h.proto == 17 {
			sum = 0xffff
		}
		binary.BigEndian.PutUint16(l4[at:], sum)
		sizes[i] = segLen
	}
	return segs, nil
}

// pseudoSum is the unfolded sum of the pseudo-header of ip's transport header.
func pseudoSum(ip []byte, v6 bool, proto byte, l4len int) uint64 {
	sum := uint64(proto) + uint64(l4len)
	if v6 {
		return csumAdd(sum, ip[8:40])
	}
	return csumAdd(sum, ip[12:20])
}

// csumAdd adds b to the Internet checksum sum (RFC 1071), unfolded: 32-bit words in a
// 64-bit sum, which folds to the 16-bit one's-complement sum.
func csumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 16 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:]))
		b = b[16:]
	}
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// tunReader reads the TUN: with the virtio-net header (the library's devices with
// offloads) raw from its file, split by splitVirtio; else through the library.
//
// A TUN read gives one packet. Forwarded traffic reaches the device as one skb per
// 1,500-byte packet (no GRO on the port it came in on), so reading, encrypting and
// sending one at a time costs a send system call per packet, and when the loop falls
// behind the device's queue (txqueuelen) overflows. So after a wakeup the reader drains
// the device without blocking until the batch is full or the device is empty, and the
// out loop sends the batch at once (sendmmsg, UDP GSO).
type tunReader struct {
	f   *os.File
	rc  syscall.RawConn
	raw []byte
	// pending is the length of a packet in raw whose segments did not fit the batch it
	// was read for: it opens the next batch.
	pending int
	// perWake bounds the reads per wakeup (Config.TUNReadsPerWake; 0: the batch's room).
	perWake int
	// reads counts the read system calls that gave a packet (perfCounters).
	reads int
}

func newTUNReader(t tun.Device, perWake int) *tunReader {
	if t.BatchSize() > 1 { // the library's sign of IFF_VNET_HDR with offloads
		return newRawReader(t.File(), perWake)
	}
	return &tunReader{perWake: perWake}
}

// newRawReader reads f, a non-blocking file of whole packets with the virtio-net header.
func newRawReader(f *os.File, perWake int) *tunReader {
	r := &tunReader{f: f, perWake: perWake, raw: make([]byte, rawTUNReadLength)}
	if rc, err := f.SyscallConn(); err == nil {
		r.rc = rc
	}
	return r
}

// read fills bufs[i][offset:] with packets, their lengths in sizes, and returns how many;
// skipped counts the packets it dropped as malformed (errVirtio, or more segments than
// an empty batch holds). An error comes only with no packets: os.ErrClosed when the
// device was deleted or its file closed.
func (r *tunReader) read(t tun.Device, bufs [][]byte, sizes []int, offset int) (n, skipped int, err error) {
	r.reads = 0
	if r.f == nil {
		n, err = t.Read(bufs, sizes, offset)
		if err == nil {
			r.reads = 1
		}
		return n, 0, err
	}
	if r.rc == nil {
		return 0, 0, os.ErrClosed
	}
	if r.pending > 0 {
		c, err := splitVirtio(r.raw[:r.pending], bufs, sizes, offset)
		r.pending = 0
		if err != nil {
			skipped++
		} else {
			n = c
		}
	}
	var rerr error
	perr := r.rc.Read(func(fd uintptr) bool {
		for n < len(bufs) && (r.perWake <= 0 || r.reads < r.perWake) {
			m, err := unix.Read(int(fd), r.raw)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				// Nothing at all: let the poller park until the device has a packet.
				return n > 0 || skipped > 0
			case err != nil:
				if n == 0 {
					rerr = err
				}
				// With packets in hand they go first; a lasting error (EBADFD) comes
				// again on the next read.
				return true
			}
			r.reads++
			c, err := splitVirtio(r.raw[:m], bufs[n:], sizes[n:], offset)
			switch {
			case errors.Is(err, tun.ErrTooManySegments) && n > 0:
				r.pending = m // the next batch starts empty and takes it
				return true
			case err != nil:
				skipped++
			default:
				n += c
			}
		}
		return true
	})
	if perr != nil {
		// The poller's own error: the file was closed (Close, or Repair replacing the
		// device), which the out loop tells apart by the device in use.
		return 0, skipped, os.ErrClosed
	}
	if errors.Is(rerr, syscall.EBADFD) {
		rerr = os.ErrClosed // the device deleted, as the library says it
	}
	return n, skipped, rerr
}
