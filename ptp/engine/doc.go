// Package engine applies /system ptp and /system ptp port to PTP clock instances
// (package node), one per enabled profile with enabled ports, and serves /system ptp
// monitor, /system ptp status and the routerd_ptp_* metrics. It chooses the local clock
// per the daemon's --ptp-clock option: the port's PHC with hardware timestamps where
// the NIC has one (auto), the system clock, or a virtual clock that leaves the machine's
// clock alone (tests, benchmarks).
package engine
