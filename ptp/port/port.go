package port

// State is portState (Table 10).
type State uint8

// Port states; the values are those of the standard's enumeration.
const (
	Initializing State = iota + 1
	Faulty
	Disabled
	Listening
	PreMaster
	Master
	Passive
	Uncalibrated
	Slave
)

// String is the name /system ptp status shows.
func (s State) String() string {
	switch s {
	case Initializing:
		return "initializing"
	case Faulty:
		return "faulty"
	case Disabled:
		return "disabled"
	case Listening:
		return "listening"
	case PreMaster:
		return "pre-master"
	case Master:
		return "master"
	case Passive:
		return "passive"
	case Uncalibrated:
		return "uncalibrated"
	case Slave:
		return "slave"
	}
	return "unknown"
}

// Event moves a port (clause 9.2.6).
type Event uint8

// Events.
const (
	Initialize Event = iota + 1 // POWERUP, INITIALIZE
	InitComplete
	FaultDetected
	FaultCleared
	DesignatedEnabled
	DesignatedDisabled
	AnnounceReceiptTimeout
	QualificationTimeout
	MasterClockSelected  // the servo locked: UNCALIBRATED -> SLAVE
	SynchronizationFault // the servo lost lock: SLAVE -> UNCALIBRATED
	RecommendGrandMaster // decisions M1, M2
	RecommendMaster      // decision M3
	RecommendSlave       // decision S1
	RecommendPassive     // decisions P1, P2
)

// Next returns the state after ev. newMaster tells, for RecommendSlave, whether the
// parent changed; slaveOnly selects Figure 24.
func Next(s State, ev Event, newMaster, slaveOnly bool) State {
	switch ev {
	case Initialize:
		return Initializing
	case DesignatedDisabled:
		return Disabled
	case FaultDetected:
		if s == Disabled {
			return s
		}
		return Faulty
	}
	switch s {
	case Initializing:
		if ev == InitComplete {
			return Listening
		}
	case Faulty:
		if ev == FaultCleared {
			return Initializing
		}
	case Disabled:
		if ev == DesignatedEnabled {
			return Initializing
		}
	case Listening, PreMaster, Master, Passive, Uncalibrated, Slave:
		return running(s, ev, newMaster, slaveOnly)
	}
	return s
}

func running(s State, ev Event, newMaster, slaveOnly bool) State {
	switch ev {
	case AnnounceReceiptTimeout:
		if s == Listening || s == Uncalibrated || s == Slave || s == Passive {
			if slaveOnly {
				return Listening
			}
			return Master
		}
	case QualificationTimeout:
		if s == PreMaster {
			return Master
		}
	case MasterClockSelected:
		if s == Uncalibrated {
			return Slave
		}
	case SynchronizationFault:
		if s == Slave {
			return Uncalibrated
		}
	case RecommendGrandMaster:
		if slaveOnly {
			return Listening
		}
		return Master
	case RecommendMaster:
		switch {
		case slaveOnly:
			return Listening
		case s == Master || s == PreMaster:
			return s
		}
		return PreMaster
	case RecommendPassive:
		if slaveOnly {
			return Listening
		}
		return Passive
	case RecommendSlave:
		if (s == Uncalibrated || s == Slave) && !newMaster {
			return s
		}
		return Uncalibrated
	}
	return s
}
