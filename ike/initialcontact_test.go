package ike

import (
	"net/netip"
	"testing"
)

// TestInitialContactNotDuringSimultaneousInit: INITIAL_CONTACT is not sent while the peer
// is setting up an IKE SA with us (both sides initiated at once), and is sent when only
// our own earlier attempts with that peer exist (qa12: charon destroyed the SA it had
// initiated on our INITIAL_CONTACT while our tie-break deleted ours).
func TestInitialContactNotDuringSimultaneousInit(t *testing.T) {
	remote := netip.MustParseAddrPort("198.18.120.2:500")
	peer := &PeerConfig{Name: "p", SendInitialContact: true}
	for _, c := range []struct {
		name   string
		other  *IKESA // nil: none
		wantIC bool
	}{
		{"alone", nil, true},
		{"peer's SA half-open", &IKESA{peer: peer, remote: remote, state: stateHalfOpen}, false},
		{"our earlier attempt", &IKESA{peer: peer, remote: remote, state: stateInitSent, initiator: true}, true},
		{"established", &IKESA{peer: peer, remote: remote, state: stateEstablished}, false},
		{"another peer on the address", &IKESA{peer: &PeerConfig{Name: "v1"}, remote: remote, state: stateInitSent, initiator: true}, false},
	} {
		d := &Daemon{sas: map[uint64]*IKESA{}}
		sa := &IKESA{d: d, peer: peer, remote: remote, state: stateAuthSent, initiator: true}
		d.sas[1] = sa
		if c.other != nil {
			c.other.d = d
			d.sas[2] = c.other
		}
		if got := sa.initialContactDue(); got != c.wantIC {
			t.Errorf("%s: INITIAL_CONTACT due %v, want %v", c.name, got, c.wantIC)
		}
	}
}
