// Package node is one PTP clock instance: an ordinary clock (one port) or a boundary
// clock (several ports, at most one SLAVE) of IEEE 1588-2008 clause 6.5.2-6.5.3, built
// from the codec (msg), the BMCA (bmca), the port state machine (port), the servo
// (servo), the local clock (clock) and timestamping transports (ts). It covers:
//
//   - Announce transmission and reception, foreign master qualification and the
//     announce receipt timeout (clause 9.2.6.11, 9.3.2), the state decision event and the
//     data set updates of clause 9.3.5, PRE_MASTER qualification (9.2.6.10);
//   - two-step Sync/Follow_Up transmission (clause 9.5.9-9.5.10) and reception;
//   - the delay request-response mechanism (E2E, clause 11.3) and the peer delay
//     mechanism (P2P, clause 11.4) as requester and responder, with correction fields and
//     delayAsymmetry (clause 11.6);
//   - offset from master and mean path delay (clause 11.2), fed to the servo;
//   - the profiles' settings (profile.go): default (Annex J.3), 802.1AS, AES67, G.8275.1
//     and SMPTE ST 2059-2, with the auto values of the RouterOS reference.
package node
