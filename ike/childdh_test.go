package ike

import "testing"

// TestChildDHGroupWithoutPolicies: a passive generate-policy peer has no policies of its
// own; asking for a PFS group must not index them (it did: a CREATE_CHILD_SA with an
// unknown KE group crashed the responder) and falls back to the templates.
func TestChildDHGroupWithoutPolicies(t *testing.T) {
	sa := &IKESA{peer: &PeerConfig{}}
	if g := sa.childDHGroup(); g != 0 {
		t.Fatalf("no policies, no templates: group %d, want 0", g)
	}
	pfs := Proposal{Protocol: ProtoESP, Transforms: []Transform{{Type: TransformDH, ID: 19}}}
	sa.ident = &IdentityConfig{Templates: []*ChildConfig{{Proposals: []Proposal{{Protocol: ProtoESP}}}, {Proposals: []Proposal{pfs}}}}
	if g := sa.childDHGroup(); g != 19 {
		t.Fatalf("template with ecp256 PFS: group %d, want 19", g)
	}
}
