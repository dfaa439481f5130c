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

// TestProposalsStringESN: a CHILD SA offer refused because it wants extended sequence
// numbers names them (qa12: charon's aes128gcm16-esn was logged as aes128gcm16, the
// very suite the refusing router's own proposal has); an offer of either says both.
func TestProposalsStringESN(t *testing.T) {
	gcm := Transform{Type: TransformENCR, ID: EncrAESGCM16, KeyLen: 128}
	for _, c := range []struct {
		esn  []uint16
		want string
	}{
		{[]uint16{1}, "aes128gcm16-esn"},
		{[]uint16{0}, "aes128gcm16"},
		{nil, "aes128gcm16"},
		{[]uint16{1, 0}, "encr=aes-128-gcm esn=yes,no"},
	} {
		p := Proposal{Protocol: ProtoESP, Transforms: []Transform{gcm}}
		for _, id := range c.esn {
			p.Transforms = append(p.Transforms, Transform{Type: TransformESN, ID: id})
		}
		if got := proposalsString([]Proposal{p}); got != c.want {
			t.Errorf("ESN %v: got %q, want %q", c.esn, got, c.want)
		}
	}
}
