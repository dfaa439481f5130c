// Package ptp holds interop tests of routerd's PTP engine against linuxptp (ptp4l, pmc)
// in network namespaces, with software timestamps and routerd on its virtual clock, so
// that the machine's clock is never steered (ptp4l slaves run with --free_running 1).
package ptp
