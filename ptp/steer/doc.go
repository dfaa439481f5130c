// Package steer keeps PTP messages from crossing a Linux bridge whose ports belong to a
// routerd PTP instance: a boundary clock terminates PTP on its ports, a bridge floods it.
// It loads bpf/ptp_steer.c (bpf2go output, committed), attaches it at TC ingress (tcx)
// of each such bridge port, pins maps and links under the --bpffs directory so a
// restarted routerd finds them, and reads the per-port counters. The clock itself
// receives the messages through a packet tap on the port (ptp/ts), which runs before the
// TC hook.
package steer
