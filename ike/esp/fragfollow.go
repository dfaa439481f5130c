package esp

import "time"

// Later fragments of a datagram carry no ports. Where an outbound policy selects ports,
// the SPD cannot place them by themselves: looked up without ports they would miss that
// policy and leave in the clear although their first fragment was encrypted (the kernel
// cuts forwarded datagrams to ipsec0's MTU before the TUN, and the host's own where no
// transport SA reassembles them). So the first fragment decides for the others
// (RFC 4301 7.1 allows discarding non-initial fragments an implementation cannot map):
// its policy is remembered by (src, dst, id, proto) for a short time, later fragments
// take it, and a later fragment whose first was not seen (dropped before us, or out of
// order) is dropped as blocked by policy.

const (
	followMax = 1024            // datagrams remembered at once
	followTTL = 2 * time.Second // the reassembly timeout the receiver will likely give up by
)

type followEntry struct {
	p  *Policy // nil: no policy matched the first fragment (it went in the clear)
	at time.Time
}

// fragFollow is the out loop's alone, as reasm is.
type fragFollow struct {
	m map[fragKey]followEntry
}

// first remembers the policy the first fragment of key's datagram got.
func (f *fragFollow) first(key fragKey, p *Policy, now time.Time) {
	if f.m == nil {
		f.m = make(map[fragKey]followEntry)
	}
	if len(f.m) >= followMax {
		for k, e := range f.m {
			if now.Sub(e.at) > followTTL {
				delete(f.m, k)
			}
		}
		if len(f.m) >= followMax {
			// All recent: forget them. Their later fragments are then dropped (fail closed).
			clear(f.m)
		}
	}
	f.m[key] = followEntry{p, now}
}

// later is the policy a later fragment of key's datagram takes; ok is false when its
// first fragment was not seen within followTTL.
func (f *fragFollow) later(key fragKey, now time.Time) (p *Policy, ok bool) {
	e, ok := f.m[key]
	if !ok || now.Sub(e.at) > followTTL {
		return nil, false
	}
	return e.p, true
}

// selectsPorts says whether an outbound policy of ps selects ports: only then can a
// fragment's missing ports change its lookup.
func selectsPorts(ps []Policy) bool {
	for i := range ps {
		if ps[i].Dir == DirOut && (ps[i].SrcPort != 0 || ps[i].DstPort != 0) {
			return true
		}
	}
	return false
}
