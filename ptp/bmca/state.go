package bmca

// Decision is the code of the state decision algorithm (clause 9.3.3, Figure 26).
type Decision int

// Decision codes; None means the port keeps its state (LISTENING with no Erbest).
const (
	None Decision = iota
	M1            // master: this clock is a grandmaster-capable best (class 1..127)
	M2            // master: this clock is the best clock
	M3            // master: a better clock is on another port
	S1            // slave: the best clock is on this port
	P1            // passive: class 1..127 and a better grandmaster exists
	P2            // passive: a better path to the best clock is on another port
)

func (d Decision) String() string {
	return [...]string{"none", "M1", "M2", "M3", "S1", "P1", "P2"}[d]
}

// Master, Slave, Passive: the recommended state (BMC_MASTER, BMC_SLAVE, BMC_PASSIVE).
func (d Decision) Master() bool  { return d == M1 || d == M2 || d == M3 }
func (d Decision) Slave() bool   { return d == S1 }
func (d Decision) Passive() bool { return d == P1 || d == P2 }

// StateDecision runs Figure 26 for one port. d0 is the local clock's data set (defaultDS
// as a data set, clause 9.3.4), erbest the best qualified Announce on this port and ebest
// the best over all ports (nil when none), ebestHere whether ebest came in on this port.
// listening tells whether the port is LISTENING: a listening port with no Erbest waits.
func StateDecision(cmp Comparison, d0, erbest, ebest *Dataset, ebestHere, listening bool) Decision {
	if erbest == nil && listening {
		return None
	}
	if d0.GMQuality.Class >= 1 && d0.GMQuality.Class <= 127 {
		if erbest == nil || cmp(d0, erbest).AWins() {
			return M1
		}
		return P1
	}
	if ebest == nil || cmp(d0, ebest).AWins() {
		return M2
	}
	if ebestHere {
		return S1
	}
	if erbest != nil && cmp(ebest, erbest) == ABetterByTopology {
		return P2
	}
	return M3
}
