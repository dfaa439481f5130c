package bmca

import "github.com/routerd/routerd/ptp/msg"

// DefaultDS is clause 8.2.1: the local clock's attributes.
type DefaultDS struct {
	TwoStep     bool
	Identity    msg.ClockIdentity
	NumberPorts uint16
	Quality     msg.ClockQuality
	Priority1   uint8
	Priority2   uint8
	Domain      uint8
	SlaveOnly   bool
}

// CurrentDS is clause 8.2.2.
type CurrentDS struct {
	StepsRemoved     uint16
	OffsetFromMaster int64 // ns
	MeanPathDelay    int64 // ns
}

// ParentDS is clause 8.2.3.
type ParentDS struct {
	ParentPort  msg.PortIdentity
	GMIdentity  msg.ClockIdentity
	GMQuality   msg.ClockQuality
	GMPriority1 uint8
	GMPriority2 uint8
}

// TimePropertiesDS is clause 8.2.4.
type TimePropertiesDS struct {
	CurrentUTCOffset      int16
	CurrentUTCOffsetValid bool
	Leap59, Leap61        bool
	TimeTraceable         bool
	FrequencyTraceable    bool
	PTPTimescale          bool
	TimeSource            uint8
}

// Flags renders the time properties as the low octet of flagField.
func (t TimePropertiesDS) Flags() uint16 {
	var f uint16
	set := func(b bool, bit uint16) {
		if b {
			f |= bit
		}
	}
	set(t.Leap61, msg.FlagLeap61)
	set(t.Leap59, msg.FlagLeap59)
	set(t.CurrentUTCOffsetValid, msg.FlagUTCOffsetValid)
	set(t.PTPTimescale, msg.FlagPTPTimescale)
	set(t.TimeTraceable, msg.FlagTimeTraceable)
	set(t.FrequencyTraceable, msg.FlagFreqTraceable)
	return f
}

// Time-source values of Table 7 used here.
const (
	TimeSourceInternalOscillator = 0xA0
)

// Clock holds the clock-wide data sets the BMCA updates.
type Clock struct {
	Default DefaultDS
	Current CurrentDS
	Parent  ParentDS
	Time    TimePropertiesDS
	// PTPTimescale: the local clock keeps TAI (a PHC). A clock on CLOCK_REALTIME keeps
	// UTC and announces the ARB timescale, as linuxptp does, so that slaves do not take
	// the UTC offset off its time.
	PTPTimescale bool
}

// D0 is defaultDS as a data set for comparison (clause 9.3.4: stepsRemoved 0, this
// clock as sender and receiver).
func (c *Clock) D0() Dataset {
	self := msg.PortIdentity{Clock: c.Default.Identity}
	return Dataset{GMPriority1: c.Default.Priority1, GMIdentity: c.Default.Identity, GMQuality: c.Default.Quality,
		GMPriority2: c.Default.Priority2, Sender: self, Receiver: self, LocalPriority: 128}
}

// BecomeGrandmaster applies Table 12 (decisions M1 and M2): this clock is its own parent.
func (c *Clock) BecomeGrandmaster() {
	c.Current = CurrentDS{}
	c.Parent = ParentDS{ParentPort: msg.PortIdentity{Clock: c.Default.Identity}, GMIdentity: c.Default.Identity,
		GMQuality: c.Default.Quality, GMPriority1: c.Default.Priority1, GMPriority2: c.Default.Priority2}
	c.Time = TimePropertiesDS{CurrentUTCOffset: 37, PTPTimescale: c.PTPTimescale, TimeSource: TimeSourceInternalOscillator}
}

// FollowMaster applies Table 16 (decision S1): the Announce of the new parent.
func (c *Clock) FollowMaster(a *msg.Announce) {
	c.Current.StepsRemoved = a.StepsRemoved + 1
	c.Parent = ParentDS{ParentPort: a.SourcePort, GMIdentity: a.GMIdentity, GMQuality: a.GMQuality,
		GMPriority1: a.GMPriority1, GMPriority2: a.GMPriority2}
	f := a.Flags
	c.Time = TimePropertiesDS{CurrentUTCOffset: a.CurrentUTCOffset, CurrentUTCOffsetValid: f&msg.FlagUTCOffsetValid != 0,
		Leap59: f&msg.FlagLeap59 != 0, Leap61: f&msg.FlagLeap61 != 0, TimeTraceable: f&msg.FlagTimeTraceable != 0,
		FrequencyTraceable: f&msg.FlagFreqTraceable != 0, PTPTimescale: f&msg.FlagPTPTimescale != 0, TimeSource: a.TimeSource}
}

// IsGrandmaster reports whether the clock is its own grandmaster.
func (c *Clock) IsGrandmaster() bool { return c.Parent.GMIdentity == c.Default.Identity }
