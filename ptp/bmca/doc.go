// Package bmca is the best master clock algorithm of IEEE 1588-2008 clause 9.3 and the
// clock data sets it works on (clause 8.2: defaultDS, currentDS, parentDS,
// timePropertiesDS):
//
//   - the data set comparison of clause 9.3.4 (Figures 27 and 28), including the topology
//     part (stepsRemoved, sender and receiver port identities) and its two error cases;
//   - the state decision algorithm of clause 9.3.3 (Figure 26) with the decision codes
//     M1, M2, M3, S1, P1, P2;
//   - foreign master qualification of clause 9.3.2.4-9.3.2.5 (FOREIGN_MASTER_TIME_WINDOW
//     of 4 announce intervals, FOREIGN_MASTER_THRESHOLD of 2), and which Announce messages
//     a port must not qualify;
//   - the alternate comparisons the profiles call for: ITU-T G.8275.1 clause 6.3 (clockClass
//     first, priority1 unused, localPriority before clockIdentity) and IEEE 802.1AS-2011
//     clause 10.3.4/10.3.5 (priority vectors compared as a whole).
//
// The package has no timers and no I/O: the port state machine (package port) drives it.
package bmca
