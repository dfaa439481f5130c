package esp

import "sync"

// replayWindow is the RFC 4303 3.4.3 anti-replay window with the Appendix A extended
// sequence number inference. The bitmap is a ring indexed by sequence number (RFC 6479), so
// moving the window clears words instead of shifting bits.
type replayWindow struct {
	mu   sync.Mutex
	size uint64
	top  uint64 // highest authenticated sequence number
	bits []uint64
}

func newReplayWindow(size uint32) *replayWindow {
	if size == 0 {
		return nil
	}
	words := (uint64(size)+63)/64 + 1
	return &replayWindow{size: uint64(size), bits: make([]uint64, words)}
}

// infer returns the full sequence number for the 32 bits on the wire (RFC 4303 A.2.1).
func (w *replayWindow) infer(low uint32, esn bool) uint64 {
	if !esn {
		return uint64(low)
	}
	if w == nil {
		return uint64(low)
	}
	w.mu.Lock()
	top, size := w.top, w.size
	w.mu.Unlock()
	tl, th := uint32(top), top>>32
	if uint64(tl) >= size-1 {
		if uint64(low) >= uint64(tl)-size+1 {
			return th<<32 | uint64(low)
		}
		return (th+1)<<32 | uint64(low)
	}
	if uint64(low) >= uint64(tl-uint32(size)+1) && th > 0 {
		return (th-1)<<32 | uint64(low)
	}
	return th<<32 | uint64(low)
}

// check tells whether seq may be accepted (not seen, not left of the window). It does not
// record seq: call update after the ICV verified.
func (w *replayWindow) check(seq uint64) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkLocked(seq)
}

func (w *replayWindow) checkLocked(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.top {
		return true
	}
	if w.top-seq >= w.size {
		return false
	}
	n := uint64(len(w.bits)) * 64
	i := seq % n
	return w.bits[i/64]&(1<<(i%64)) == 0
}

// update records an authenticated seq; false when it was a replay after all (two
// copies decrypted concurrently).
func (w *replayWindow) update(seq uint64) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.checkLocked(seq) {
		return false
	}
	n := uint64(len(w.bits)) * 64
	if seq > w.top {
		from, to := w.top/64+1, seq/64
		if to < from {
			// same word as top: nothing to clear
		} else if to-from >= uint64(len(w.bits)) {
			clear(w.bits)
		} else {
			for k := from; k <= to; k++ {
				w.bits[k%uint64(len(w.bits))] = 0
			}
		}
		w.top = seq
	}
	i := seq % n
	w.bits[i/64] |= 1 << (i % 64)
	return true
}

func (w *replayWindow) highest() uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.top
}
