// Package servo turns offset-from-master samples (IEEE 1588-2008 clause 11.2, computed
// by the delay mechanisms of clause 11.3/11.4) into clock corrections: a PI controller
// with an initial frequency estimate, a first step and a step threshold, in the manner
// of linuxptp's PI servo, so that the two behave alike on the same input.
package servo
