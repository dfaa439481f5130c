// Package port is the PTP port state machine of IEEE 1588-2008 clause 9.2.5 (Figure 23
// for ordinary and boundary clocks, Figure 24 for slave-only clocks): the nine states of
// Table 10 and the events that move a port between them, including the recommended
// states that the state decision algorithm (clause 9.3.3, package bmca) produces.
//
// It is a pure function of state and event; the clock instance (package node) owns the
// timers (announce receipt timeout, qualification timeout) and turns them into events.
package port
