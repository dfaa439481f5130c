package bmca

import (
	"github.com/routerd/routerd/ptp/msg"
)

// Dataset is what the data set comparison looks at (clause 9.3.4): the grandmaster's
// attributes, the path length, and who sent and who received the Announce.
type Dataset struct {
	GMPriority1  uint8
	GMIdentity   msg.ClockIdentity
	GMQuality    msg.ClockQuality
	GMPriority2  uint8
	StepsRemoved uint16
	Sender       msg.PortIdentity // sourcePortIdentity of the Announce
	Receiver     msg.PortIdentity // portIdentity of the receiving port
	// LocalPriority is G.8275.1's per-port attribute (default 128); other profiles ignore it.
	LocalPriority uint8
}

// FromAnnounce builds the data set of an Announce received on a port.
func FromAnnounce(a *msg.Announce, receiver msg.PortIdentity, localPriority uint8) Dataset {
	return Dataset{
		GMPriority1: a.GMPriority1, GMIdentity: a.GMIdentity, GMQuality: a.GMQuality,
		GMPriority2: a.GMPriority2, StepsRemoved: a.StepsRemoved,
		Sender: a.SourcePort, Receiver: receiver, LocalPriority: localPriority,
	}
}

// Result of a comparison of A with B.
type Result int

// Results of Figures 27 and 28.
const (
	// Error1: A and B are the same path (an Announce that came back to its sender).
	Error1 Result = iota - 2
	// Error2: A and B are the same message twice.
	Error2
	ABetter
	BBetter
	ABetterByTopology
	BBetterByTopology
)

func (r Result) String() string {
	switch r {
	case Error1:
		return "error-1"
	case Error2:
		return "error-2"
	case ABetter:
		return "A better"
	case BBetter:
		return "B better"
	case ABetterByTopology:
		return "A better by topology"
	}
	return "B better by topology"
}

// AWins reports whether A is better or better by topology.
func (r Result) AWins() bool { return r == ABetter || r == ABetterByTopology }

// Comparison orders two data sets; the profiles differ in it.
type Comparison func(a, b *Dataset) Result

// Compare is the default data set comparison of clause 9.3.4 (Figure 27).
func Compare(a, b *Dataset) Result {
	if a.GMIdentity == b.GMIdentity {
		return topology(a, b)
	}
	switch {
	case a.GMPriority1 != b.GMPriority1:
		return less(a.GMPriority1 < b.GMPriority1)
	case a.GMQuality.Class != b.GMQuality.Class:
		return less(a.GMQuality.Class < b.GMQuality.Class)
	case a.GMQuality.Accuracy != b.GMQuality.Accuracy:
		return less(a.GMQuality.Accuracy < b.GMQuality.Accuracy)
	case a.GMQuality.Variance != b.GMQuality.Variance:
		return less(a.GMQuality.Variance < b.GMQuality.Variance)
	case a.GMPriority2 != b.GMPriority2:
		return less(a.GMPriority2 < b.GMPriority2)
	}
	return less(a.GMIdentity.Compare(b.GMIdentity) < 0)
}

func less(aWins bool) Result {
	if aWins {
		return ABetter
	}
	return BBetter
}

func lessTopo(aWins bool) Result {
	if aWins {
		return ABetterByTopology
	}
	return BBetterByTopology
}

// topology is Figure 28: the same grandmaster seen over two paths.
func topology(a, b *Dataset) Result {
	switch {
	case int(a.StepsRemoved) > int(b.StepsRemoved)+1:
		return BBetter
	case int(a.StepsRemoved)+1 < int(b.StepsRemoved):
		return ABetter
	case a.StepsRemoved > b.StepsRemoved:
		switch c := a.Receiver.Clock.Compare(a.Sender.Clock); {
		case c < 0:
			return BBetter
		case c > 0:
			return BBetterByTopology
		}
		return Error1
	case a.StepsRemoved < b.StepsRemoved:
		switch c := b.Receiver.Clock.Compare(b.Sender.Clock); {
		case c < 0:
			return ABetter
		case c > 0:
			return ABetterByTopology
		}
		return Error1
	}
	if c := a.Sender.Compare(b.Sender); c != 0 {
		return lessTopo(c < 0)
	}
	switch {
	case a.Receiver.Port < b.Receiver.Port:
		return ABetterByTopology
	case a.Receiver.Port > b.Receiver.Port:
		return BBetterByTopology
	}
	return Error2
}

// CompareG82751 is the alternate data set comparison of ITU-T G.8275.1 (clause 6.3.1,
// Figure 4): priority1 takes no part, localPriority breaks ties before clockIdentity, and
// among grandmaster-capable clocks (class up to 127) the topology decides.
func CompareG82751(a, b *Dataset) Result {
	switch {
	case a.GMQuality.Class != b.GMQuality.Class:
		return less(a.GMQuality.Class < b.GMQuality.Class)
	case a.GMQuality.Accuracy != b.GMQuality.Accuracy:
		return less(a.GMQuality.Accuracy < b.GMQuality.Accuracy)
	case a.GMQuality.Variance != b.GMQuality.Variance:
		return less(a.GMQuality.Variance < b.GMQuality.Variance)
	case a.GMPriority2 != b.GMPriority2:
		return less(a.GMPriority2 < b.GMPriority2)
	case a.LocalPriority != b.LocalPriority:
		return less(a.LocalPriority < b.LocalPriority)
	case a.GMQuality.Class <= 127:
		return topology(a, b)
	}
	if c := a.GMIdentity.Compare(b.GMIdentity); c != 0 {
		return less(c < 0)
	}
	return topology(a, b)
}

// Compare8021AS compares the priority vectors of IEEE 802.1AS-2011 clause 10.3.4:
// {rootSystemIdentity, stepsRemoved, sourcePortIdentity, portNumber}, lower wins. A win
// that the root identity does not decide is a topology win.
func Compare8021AS(a, b *Dataset) Result {
	if a.GMIdentity != b.GMIdentity || a.GMPriority1 != b.GMPriority1 || a.GMQuality != b.GMQuality || a.GMPriority2 != b.GMPriority2 {
		return Compare(a, b)
	}
	switch {
	case a.StepsRemoved != b.StepsRemoved:
		return lessTopo(a.StepsRemoved < b.StepsRemoved)
	case a.Sender != b.Sender:
		return lessTopo(a.Sender.Compare(b.Sender) < 0)
	case a.Receiver.Port != b.Receiver.Port:
		return lessTopo(a.Receiver.Port < b.Receiver.Port)
	}
	return Error2
}
