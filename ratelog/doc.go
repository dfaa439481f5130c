// Package ratelog rate-limits the log lines of failures that strangers can cause by the
// thousand: unauthenticated IKE requests (package ike), RADIUS datagrams dropped
// (package radius). /log keeps a fixed number of lines, so without a bound anyone who
// reaches a UDP port could flush it; the callers count every failure in their
// statistics whether it is logged or not.
//
// A source's first line of each kind is logged, then at most one per Interval, which
// says how many were not; all sources together write at most MaxLines per Interval and
// MaxSources are remembered, so spoofed sources share one budget, and what is over is
// summed into one summary line.
package ratelog
