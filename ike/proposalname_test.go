package ike

import "testing"

// TestProposalsString: the offer a refusal logs is named in the menus' words, also where
// SuiteOf cannot make one suite of it (two DH groups offered, as QA saw it printed as Go
// structs).
func TestProposalsString(t *testing.T) {
	ps := []Proposal{
		{Protocol: ProtoIKE, Transforms: []Transform{{Type: TransformENCR, ID: EncrAESCBC, KeyLen: 128},
			{Type: TransformPRF, ID: PRFHMACSHA1}, {Type: TransformINTEG, ID: IntegSHA196},
			{Type: TransformDH, ID: DHModp1024}, {Type: TransformDH, ID: DHModp2048}}},
		{Protocol: ProtoIKE, Transforms: []Transform{{Type: TransformENCR, ID: EncrAESGCM16, KeyLen: 256},
			{Type: TransformPRF, ID: PRFHMACSHA256}, {Type: TransformDH, ID: DHCurve25519}}},
	}
	got := proposalsString(ps)
	want := "encr=aes-128-cbc integ=sha1 prf=sha1 dh=modp1024,modp2048; aes256gcm16-prfsha256-curve25519"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
