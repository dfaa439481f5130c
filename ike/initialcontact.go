package ike

import "bytes"

// initialContactDue says whether this SA's authentication message carries
// INITIAL_CONTACT (RFC 7296 2.4, RFC 2407 4.6.3.3). The notify tells the peer that we
// hold no other SA with it, and peers (charon) delete every other SA they have with our
// identity on receiving it. So it goes only when no other IKE or ISAKMP SA with the
// peer's address, or with the remote identity this SA expects (the same peer at another
// address), is established (or expired with its IPsec SAs kept), and no SA of another
// peer on that address (another exchange mode: IKEv2 and IKEv1 side by side) nor one the
// peer initiated is being set up; otherwise a re-initiation of one would kill the other.
func (sa *IKESA) initialContactDue() bool {
	if !sa.peer.SendInitialContact {
		return false
	}
	var want *Identity
	if sa.ident != nil && !sa.ident.RemoteID.Auto && !sa.ident.RemoteID.Ignore {
		want = &sa.ident.RemoteID.ID
	}
	for _, o := range sa.d.sas {
		if o == sa {
			continue
		}
		up := o.state == stateEstablished || o.state == stateP1Expired
		if o.remote.Addr() != sa.remote.Addr() {
			if up && want != nil && o.remoteID.Type == want.Type && bytes.Equal(o.remoteID.Data, want.Data) {
				return false
			}
			continue
		}
		switch o.state {
		case stateEstablished, stateP1Expired:
			return false
		case stateInitSent, stateAuthSent, stateHalfOpen:
			// Our own earlier attempts with this peer do not count; one the peer is
			// setting up with us does: both sides initiated at once (a strongSwan
			// reauthentication, or both sides' traffic), and INITIAL_CONTACT would make
			// the peer destroy the SA it initiated while the tie-break here may delete
			// ours, leaving neither (qa12).
			if o.peer != sa.peer || !o.initiator {
				return false
			}
		}
	}
	return true
}
