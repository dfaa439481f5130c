package port

import "testing"

func TestNext(t *testing.T) {
	cases := []struct {
		from      State
		ev        Event
		newMaster bool
		slaveOnly bool
		want      State
	}{
		{Master, Initialize, false, false, Initializing},
		{Initializing, InitComplete, false, false, Listening},
		{Listening, FaultDetected, false, false, Faulty},
		{Disabled, FaultDetected, false, false, Disabled},
		{Faulty, FaultCleared, false, false, Initializing},
		{Slave, DesignatedDisabled, false, false, Disabled},
		{Disabled, DesignatedEnabled, false, false, Initializing},
		{Disabled, RecommendSlave, false, false, Disabled},
		{Listening, AnnounceReceiptTimeout, false, false, Master},
		{Slave, AnnounceReceiptTimeout, false, false, Master},
		{Passive, AnnounceReceiptTimeout, false, false, Master},
		{Uncalibrated, AnnounceReceiptTimeout, false, false, Master},
		{Slave, AnnounceReceiptTimeout, false, true, Listening},
		{Master, AnnounceReceiptTimeout, false, false, Master},
		{Listening, RecommendMaster, false, false, PreMaster},
		{Slave, RecommendMaster, false, false, PreMaster},
		{Master, RecommendMaster, false, false, Master},
		{PreMaster, RecommendMaster, false, false, PreMaster},
		{PreMaster, QualificationTimeout, false, false, Master},
		{Listening, RecommendGrandMaster, false, false, Master},
		{Listening, RecommendMaster, false, true, Listening},
		{Master, RecommendPassive, false, false, Passive},
		{Listening, RecommendSlave, true, false, Uncalibrated},
		{Master, RecommendSlave, true, false, Uncalibrated},
		{Passive, RecommendSlave, true, false, Uncalibrated},
		{Uncalibrated, MasterClockSelected, false, false, Slave},
		{Slave, RecommendSlave, false, false, Slave},
		{Slave, RecommendSlave, true, false, Uncalibrated},
		{Slave, SynchronizationFault, false, false, Uncalibrated},
		{Master, MasterClockSelected, false, false, Master},
		{Initializing, RecommendMaster, false, false, Initializing},
	}
	for _, c := range cases {
		if got := Next(c.from, c.ev, c.newMaster, c.slaveOnly); got != c.want {
			t.Errorf("%v + event %d (new master %v, slave-only %v): got %v, want %v", c.from, c.ev, c.newMaster, c.slaveOnly, got, c.want)
		}
	}
	for s := Initializing; s <= Slave; s++ {
		if s.String() == "unknown" {
			t.Errorf("state %d has no name", s)
		}
	}
}
