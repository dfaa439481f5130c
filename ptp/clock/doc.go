// Package clock holds the clocks a PTP instance reads and steers (IEEE 1588-2008 clause
// 6.6.3, "local clock", and the adjustments of clause 11.1 that the servo computes):
//
//   - System: CLOCK_REALTIME through clock_adjtime (frequency in ppb, steps with
//     ADJ_SETOFFSET);
//   - PHC: a NIC's PTP hardware clock (/dev/ptpN) through its dynamic POSIX clock id;
//   - Virtual: a software clock over CLOCK_REALTIME with its own offset, drift and
//     frequency correction, used by tests and benchmarks so that the machine's clock is
//     never touched.
package clock
