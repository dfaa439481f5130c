// Package servo turns offset-from-master samples (IEEE 1588-2008 clause 11.2, computed
// by the delay mechanisms of clause 11.3/11.4) into clock corrections: a PI controller
// with linuxptp's states (s0 estimating, s1 stepped, s2 locked), a frequency estimate
// from the first Syncs (t2 - t1 alone, before any path delay is known), one step of
// time and frequency together, a step threshold, and loop gains that start fast and
// narrow to ones suited to software timestamp noise, with a clamp on lone outliers.
package servo
