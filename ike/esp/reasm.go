package esp

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Transport mode carries whole datagrams (RFC 4303 3.1.1, RFC 4301 7): the ESP packet of
// a datagram is fragmented on the wire, never the datagram before it is encrypted, since
// the receiver rebuilds one IP header, of a whole datagram, in front of what it
// decrypted. The kernel cannot know that: a datagram of the host's own larger than the
// ESP device's MTU (a 4000-byte ping, a 1450-byte UDP datagram) reaches the path in
// fragments. The out loop puts those of a transport-mode SA together again here, in the
// one goroutine that reads the device (no lock), and encrypts the datagram once; its ESP
// packet leaves by the sender's fragmenting ways (sendFrag4, the UDP and raw IPv6
// sockets, which the kernel fragments). Tunnel mode keeps encrypting each fragment (an
// inner fragment is a packet of its own there).
//
// Only what the local kernel makes is expected: fragments in order, back to back. Bounds
// (RFC 791 and RFC 8200 let a receiver choose them): reasmMaxEntries datagrams and
// reasmMaxBytes at once, reasmTimeout for one to complete. A fragment that cannot belong
// to a datagram (overlapping another, other than an exact copy, RFC 5722; a non-last one
// not a multiple of 8 bytes long; data beyond the end the last fragment set, or beyond
// 65535 bytes) ends its datagram and counts as out-state-mode-errors; a datagram timed
// out, or pushed out by the bounds, counts as out-errors.
const (
	reasmMaxEntries = 64
	reasmMaxBytes   = 4 << 20
	reasmTimeout    = 2 * time.Second
	// reasmFront is what a datagram's buffer keeps in front of its data: the headroom
	// encapOne encrypts into and the largest IP header (IPv4 with options).
	reasmFront = headroom + 60
	// reasmTail is what encapOne needs behind the datagram (padding, pad length and
	// next header, ICV), as newOutBatch leaves it.
	reasmTail = 256
)

// fragKey names a datagram's fragments: RFC 791's (src, dst, protocol, id), RFC 8200's
// (src, dst, id).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// fragment is one fragment read from the ESP device.
type fragment struct {
	key  fragKey
	hdr  []byte // IPv4: its header; IPv6: the 40-byte header in front of the Fragment header
	nh   byte   // IPv6: the Fragment header's next header
	off  int    // offset of data in the datagram's fragmentable part
	data []byte
	more bool
}

// parseFragment reads pkt, a packet parseInner accepted, as a fragment; ok is false when
// it is none (IPv6: no Fragment header right behind the fixed header; one further back
// leaves the packet to transport mode's header check, which refuses it). An IPv6 atomic
// fragment (offset 0, no more) is a datagram of one fragment.
func parseFragment(pkt []byte) (f fragment, ok bool) {
	if pkt[0]>>4 == 4 {
		fo := binary.BigEndian.Uint16(pkt[6:])
		if fo&0x3fff == 0 {
			return f, false
		}
		ihl := int(pkt[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(pkt[2:]))
		f.key = fragKey{src: netip.AddrFrom4([4]byte(pkt[12:16])), dst: netip.AddrFrom4([4]byte(pkt[16:20])),
			id: uint32(binary.BigEndian.Uint16(pkt[4:])), proto: pkt[9]}
		f.hdr, f.data = pkt[:ihl], pkt[ihl:tot]
		f.off, f.more = int(fo&0x1fff)*8, fo&0x2000 != 0
		return f, true
	}
	if len(pkt) < 48 || pkt[6] != 44 {
		return f, false
	}
	end := 40 + int(binary.BigEndian.Uint16(pkt[4:]))
	if end < 48 || end > len(pkt) {
		return f, false
	}
	fo := binary.BigEndian.Uint16(pkt[42:])
	f.key = fragKey{src: netip.AddrFrom16([16]byte(pkt[8:24])), dst: netip.AddrFrom16([16]byte(pkt[24:40])),
		id: binary.BigEndian.Uint32(pkt[44:])}
	f.hdr, f.nh, f.data = pkt[:40], pkt[40], pkt[48:end]
	f.off, f.more = int(fo&0xfff8), fo&1 != 0
	return f, true
}

// fragEntry is a datagram being put together.
type fragEntry struct {
	// buf holds reasmFront bytes, the data received so far at their offsets, and
	// reasmTail bytes of room beyond what it may hold.
	buf    []byte
	hdr    [60]byte // the first fragment's header (IPv6: next header set to the datagram's)
	hdrLen int      // 0 until the first fragment came
	spans  []span   // data received, sorted, adjacent ones merged
	total  int      // the datagram's data length, -1 until the last fragment came
	born   time.Time
}

type span struct{ off, end int }

// reasm is the out loop's reassembly of the host's own fragmented datagrams.
type reasm struct {
	m     map[fragKey]*fragEntry
	bytes int // held in the entries' buffers
}

// reasmResult says what add did with a fragment.
type reasmResult uint8

const (
	reasmHeld    reasmResult = iota // kept until its datagram completes
	reasmWhole                      // its datagram is complete: add returned it
	reasmBad                        // it and its datagram were dropped (out-state-mode-errors)
	reasmNoSpace                    // it was dropped for the bounds (out-errors)
)

func (r *reasm) pending(k fragKey) bool {
	_, ok := r.m[k]
	return ok
}

// add takes a fragment. With reasmWhole it returns the whole datagram for encapOne:
// buf[headroom:] is the datagram (IP header with no fragment left in it, then its
// data), with room in front and behind. expired is how many datagrams it gave up for
// time or bounds on the way.
func (r *reasm) add(f *fragment, now time.Time) (buf []byte, res reasmResult, expired int) {
	end := f.off + len(f.data)
	limit := 0xffff // IPv6's payload length, the Fragment header gone
	if f.hdr[0]>>4 == 4 {
		limit -= 20 // IPv4's total length, the smallest header
	}
	if (f.more && (len(f.data) == 0 || len(f.data)%8 != 0)) || end > limit {
		r.drop(f.key)
		return nil, reasmBad, 0
	}
	e := r.m[f.key]
	if e == nil {
		if r.m == nil {
			r.m = map[fragKey]*fragEntry{}
		}
		expired = r.expire(now)
		if len(r.m) >= reasmMaxEntries {
			r.evictOldest()
			expired++
		}
		e = &fragEntry{total: -1, born: now}
		r.m[f.key] = e
	} else if now.Sub(e.born) > reasmTimeout {
		// Its datagram is too old to wait for: this fragment starts it again.
		r.drop(f.key)
		buf, res, n := r.add(f, now)
		return buf, res, n + 1
	}
	switch {
	case !f.more && e.total >= 0 && end != e.total,
		!f.more && len(e.spans) > 0 && e.spans[len(e.spans)-1].end > end,
		f.more && e.total >= 0 && end >= e.total:
		r.drop(f.key)
		return nil, reasmBad, expired
	}
	i, dup, ok := e.place(f.off, end)
	if !ok {
		r.drop(f.key)
		return nil, reasmBad, expired
	}
	if dup {
		return nil, reasmHeld, expired
	}
	if need := reasmFront + end + reasmTail; need > len(e.buf) {
		size := max(need, min(2*len(e.buf), reasmFront+0xffff+reasmTail))
		if !f.more {
			size = need
		}
		if r.bytes+size-len(e.buf) > reasmMaxBytes {
			r.drop(f.key)
			return nil, reasmNoSpace, expired
		}
		nb := make([]byte, size)
		copy(nb, e.buf)
		r.bytes += size - len(e.buf)
		e.buf = nb
	}
	copy(e.buf[reasmFront+f.off:], f.data)
	e.insert(i, f.off, end)
	if f.off == 0 {
		e.hdrLen = copy(e.hdr[:], f.hdr)
		if len(f.hdr) == 40 {
			e.hdr[6] = f.nh
		}
	}
	if !f.more {
		e.total = end
	}
	if e.total < 0 || e.hdrLen == 0 || len(e.spans) != 1 || e.spans[0] != (span{0, e.total}) {
		return nil, reasmHeld, expired
	}
	r.drop(f.key)
	v6 := e.hdr[0]>>4 == 6
	if !v6 && e.hdrLen+e.total > 0xffff {
		return nil, reasmBad, expired // the first fragment's options made it too long
	}
	start := reasmFront - e.hdrLen
	ip := e.buf[start : reasmFront+e.total]
	copy(ip, e.hdr[:e.hdrLen])
	if v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(e.total))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		ip[6], ip[7] = 0, 0 // neither offset nor more fragments: one datagram
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:e.hdrLen]))
	}
	return e.buf[start-headroom : reasmFront+e.total], reasmWhole, expired
}

// place finds where [off, end) goes among e's spans: at index i; dup when it lies
// within data received (the local kernel sends no fragment twice: taken as a copy and
// ignored); ok false when it overlaps received data otherwise.
func (e *fragEntry) place(off, end int) (i int, dup, ok bool) {
	for i = 0; i < len(e.spans); i++ {
		s := e.spans[i]
		if end <= s.off {
			break
		}
		if off >= s.end {
			continue
		}
		if off >= s.off && end <= s.end {
			return i, true, true
		}
		return i, false, false
	}
	return i, false, true
}

// insert puts [off, end) in at index i and merges it with its neighbours.
func (e *fragEntry) insert(i, off, end int) {
	e.spans = append(e.spans, span{})
	copy(e.spans[i+1:], e.spans[i:])
	e.spans[i] = span{off, end}
	if i+1 < len(e.spans) && e.spans[i+1].off == end {
		e.spans[i].end = e.spans[i+1].end
		e.spans = append(e.spans[:i+1], e.spans[i+2:]...)
	}
	if i > 0 && e.spans[i-1].end == off {
		e.spans[i-1].end = e.spans[i].end
		e.spans = append(e.spans[:i], e.spans[i+1:]...)
	}
}

func (r *reasm) drop(k fragKey) {
	if e, ok := r.m[k]; ok {
		r.bytes -= len(e.buf)
		delete(r.m, k)
	}
}

// expire drops the datagrams older than reasmTimeout and says how many.
func (r *reasm) expire(now time.Time) int {
	n := 0
	for k, e := range r.m {
		if now.Sub(e.born) > reasmTimeout {
			r.drop(k)
			n++
		}
	}
	return n
}

func (r *reasm) evictOldest() {
	var old fragKey
	var born time.Time
	for k, e := range r.m {
		if born.IsZero() || e.born.Before(born) {
			old, born = k, e.born
		}
	}
	r.drop(old)
}
