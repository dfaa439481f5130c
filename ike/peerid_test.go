package ike

import (
	"net/netip"
	"testing"
)

// TestSkipPeerIDCheck: with remote-id=auto an address ID must be the peer's own address
// (behind a NAT it cannot be); compatibility-options=skip-peer-id-check waives that in
// IKEv1 only, as the manual says IKEv2 ignores it. Other ID types are not concerned.
func TestSkipPeerIDCheck(t *testing.T) {
	ic := &IdentityConfig{RemoteID: IDSpec{Auto: true}}
	other := AddrIdentity(netip.MustParseAddr("198.18.9.9"))
	own := AddrIdentity(netip.MustParseAddr("198.18.0.2"))
	fqdn := Identity{Type: IDFQDN, Data: []byte("peer.example")}
	for _, c := range []struct {
		name      string
		exch      ExchangeMode
		skip      bool
		id        Identity
		wantMatch bool
	}{
		{"own address", ExchangeMain, false, own, true},
		{"other address", ExchangeMain, false, other, false},
		{"other address, skip, main", ExchangeMain, true, other, true},
		{"other address, skip, aggressive", ExchangeAggressive, true, other, true},
		{"other address, skip, ike2", ExchangeIKEv2, true, other, false},
		{"fqdn", ExchangeMain, false, fqdn, true},
	} {
		sa := &IKESA{peer: &PeerConfig{Exchange: c.exch, SkipPeerIDCheck: c.skip},
			remote: netip.MustParseAddrPort("198.18.0.2:500")}
		if got := sa.remoteIDMatches(ic, c.id); got != c.wantMatch {
			t.Errorf("%s: match = %v, want %v", c.name, got, c.wantMatch)
		}
	}
}
