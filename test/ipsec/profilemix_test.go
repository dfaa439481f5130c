package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestProfileMixedCiphersCharon: a profile listing a CBC and a GCM cipher
// (enc-algorithm=aes-128,aes-256-gcm) against charon offering only AES-GCM for the IKE SA,
// with routerd initiating (charon picks GCM out of routerd's offer, which routerd once
// refused as "not offered") and with charon initiating (routerd once answered
// NO_PROPOSAL_CHOSEN): the IKE SA and the CHILD SA come up and carry traffic (qa12 high).
func TestProfileMixedCiphersCharon(t *testing.T) {
	for _, routerdInitiates := range []bool{true, false} {
		name := "charon-initiates"
		if routerdInitiates {
			name = "routerd-initiates"
		}
		t.Run(name, func(t *testing.T) {
			tp := newTopo(t, false)
			ch := iketest.StartCharon(t, tp.nsS, swanPSK{local: tp.sAddr, remote: tp.rAddr,
				proposals: "aes256gcm16-prfsha256-curve25519",
				children:  []swanChild{{name: "net", localTS: "198.19.102.0/24", remoteTS: "198.19.101.0/24", esp: "aes128gcm16"}}}.String())
			r := startRouter(t, tp.nsR)
			passive := "no"
			if !routerdInitiates {
				passive = "yes"
			}
			r.run(t, `/ip ipsec profile add name=mix enc-algorithm=aes-128,aes-256-gcm hash-algorithm=sha256 dh-group=modp2048,curve25519
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=mix passive=`+passive+`
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
			if !routerdInitiates {
				if !iketest.WaitFor(20*time.Second, func() bool {
					_, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "8")
					return err == nil
				}) {
					t.Fatalf("charon's initiation failed:\n%s", tail(ch.Log(), 4000))
				}
			}
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
			}) {
				t.Fatalf("no SA with a mixed-cipher profile:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
			}
		})
	}
}
