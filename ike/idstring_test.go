package ike

import "testing"

// TestIdentityString: an identity prints as my-id/remote-id take it, and one not known
// yet (an initiator's SA before IKE_AUTH's answer) prints nothing, not an internal
// number (active-peers showed id=id-type-0 for a peer still connecting: qa12).
func TestIdentityString(t *testing.T) {
	for id, want := range map[*Identity]string{
		{}: "",
		{Type: IDFQDN, Data: []byte("r.example")}:     "fqdn:r.example",
		{Type: IDIPv4, Data: []byte{198, 18, 0, 1}}:   "address:198.18.0.1",
		{Type: IDRFC822, Data: []byte("u@r.example")}: "user-fqdn:u@r.example",
		{Type: IDKeyID, Data: []byte("k1")}:           "key-id:k1",
	} {
		if got := id.String(); got != want {
			t.Errorf("%+v: %q, want %q", *id, got, want)
		}
	}
}
