package ipsec

import (
	"testing"

	"github.com/routerd/routerd/ike"
)

// TestProfileMixedCiphersInterop: a profile listing CBC and GCM ciphers offers them as two
// IKE proposals, so a peer that offers, or picks, only the AEAD cipher (libreswan's
// ike=aes_gcm256-sha2_256-dh31, strongSwan's aes256gcm16-prfsha256-curve25519) is
// accepted both when routerd responds and when it initiates (qa12 high).
func TestProfileMixedCiphersInterop(t *testing.T) {
	p, err := decodeProfile(profileItem{Name: "mix", EncAlgorithm: []string{"aes-128", "aes-256-gcm"},
		HashAlgorithm: "sha256", DHGroup: []string{"modp2048", "curve25519"}, DPDInterval: "disable-dpd"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.proposals) != 2 {
		t.Fatalf("%d proposals, want 2 (CBC with INTEG, GCM without): %v", len(p.proposals), p.proposals)
	}
	for _, pr := range p.proposals {
		aead, integ := false, false
		for _, tr := range pr.Transforms {
			if tr.Type == ike.TransformENCR && tr.ID == ike.EncrAESGCM16 {
				aead = true
			}
			integ = integ || tr.Type == ike.TransformINTEG
		}
		if aead == integ {
			t.Errorf("proposal %d mixes AEAD and INTEG: %v", pr.Num, pr.Transforms)
		}
	}
	if p.proposals[0].Transforms[0].ID != ike.EncrAESCBC {
		t.Errorf("the operator listed aes-128 first; first proposal is %v", p.proposals[0].Transforms)
	}
	gcm := ike.Proposal{Num: 1, Protocol: ike.ProtoIKE, Transforms: []ike.Transform{
		{Type: ike.TransformENCR, ID: ike.EncrAESGCM16, KeyLen: 256},
		{Type: ike.TransformPRF, ID: ike.PRFHMACSHA256},
		{Type: ike.TransformDH, ID: ike.DHCurve25519},
	}}
	// Responder: the peer offers only GCM. Initiator: the same proposal is what the peer
	// chose out of our offer, and the initiator checks it against its own proposals.
	if _, ok := ike.Select([]ike.Proposal{gcm}, p.proposals); !ok {
		t.Errorf("a pure AES-GCM offer is refused by a profile listing aes-256-gcm")
	}
	cbc := ike.Proposal{Num: 1, Protocol: ike.ProtoIKE, Transforms: []ike.Transform{
		{Type: ike.TransformENCR, ID: ike.EncrAESCBC, KeyLen: 128},
		{Type: ike.TransformPRF, ID: ike.PRFHMACSHA256},
		{Type: ike.TransformINTEG, ID: hashInteg["sha256"]},
		{Type: ike.TransformDH, ID: ike.DHModp2048},
	}}
	if _, ok := ike.Select([]ike.Proposal{cbc}, p.proposals); !ok {
		t.Errorf("a CBC offer is refused by a profile listing aes-128")
	}
	// GCM-only profiles stay one proposal.
	g, err := decodeProfile(profileItem{Name: "g", EncAlgorithm: []string{"aes-256-gcm"},
		HashAlgorithm: "sha256", DHGroup: []string{"curve25519"}, DPDInterval: "disable-dpd"})
	if err != nil || len(g.proposals) != 1 {
		t.Fatalf("gcm-only: %v %v", g, err)
	}
}
