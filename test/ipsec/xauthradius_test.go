package ipsec_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestXAuthUseRADIUS: /ip ipsec settings xauth-use-radius=yes: strongSwan's IKEv1 XAuth
// client logs in as a user only routerd's User Manager knows (no /ip ipsec user): the
// login goes to /radius as a PAP Access-Request, User Manager accepts it and the client
// gets its mode config address, and its session is accounted (Start with the address,
// Stop when it goes); the same user with a wrong password is refused.
func TestXAuthUseRADIUS(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(`/radius add address=127.0.0.1 secret=test service=ipsec
/user-manager router add address=127.0.0.1 name=local shared-secret=test
/user-manager set enabled=yes
/user-manager user add name=peapu password=peappass1
/ip pool add name=rw ranges=198.19.77.10-198.19.77.20
/ip ipsec mode-config add name=rw address-pool=rw split-include=198.19.101.0/24 system-dns=no
/ip ipsec settings set xauth-use-radius=yes
/ip ipsec peer add name=rw passive=yes
/ip ipsec identity add peer=rw auth-method=pre-shared-key-xauth secret=a-long-test-psk generate-policy=port-strict mode-config=rw
`)
	// The peer, User Manager's RADIUS server and /radius applied before charon initiates:
	// else its Main Mode finds no peer, or its XAuth login no RADIUS server.
	d.Settle()
	conf := func(name, pass string) string {
		return fmt.Sprintf(`  %s {
    version = 1
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local-1 { auth = psk
              id = 198.18.50.2 }
    local-2 { auth = xauth
              xauth_id = peapu }
    remote { auth = psk
             id = 198.18.50.1 }
    children { %s { remote_ts = 198.19.101.0/24
                    esp_proposals = aes128-sha1-modp1024 } }
  }
`, name, name+"-net")
	}
	ch := iketest.StartCharon(t, tp.nsS, `connections {
`+conf("good", "")+`}
secrets {
  ike-1 { id-a = 198.18.50.1
          id-b = 198.18.50.2
          secret = "a-long-test-psk" }
  xauth-1 { id = peapu
            secret = "peappass1" }
}
`, "+xauth-generic")
	if out, err := ch.Swanctl("--initiate", "--child", "good-net", "--timeout", "25"); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s\n%s\n%s", err, out, tail(ch.Log(), 4000), d.script("/log print\n"))
	}
	sas, _ := ch.Swanctl("--list-sas")
	if !strings.Contains(sas, "198.19.77.1") {
		t.Fatalf("charon got no pool address:\n%s", sas)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(tp.nsS, "ping", "-c", "1", "-W", "1", "-I", "198.19.77.10", "198.19.101.1").Run() == nil
	}) {
		t.Fatalf("no ping from the pool address:\n%s", d.script("/ip ipsec installed-sa print\n"))
	}
	var accepts int
	fmt.Sscan(d.script(":put [/radius get 0 accepts]\n"), &accepts)
	if accepts != 1 {
		t.Fatalf("RADIUS accepts %d, want 1:\n%s", accepts, d.script("/radius print stats\n"))
	}
	// Accounting (settings accounting=yes, the default): the login is a User Manager
	// session from its Start, with the address mode config gave, ended by the Stop.
	if !iketest.WaitFor(10*time.Second, func() bool {
		s := d.script("/user-manager session print detail\n")
		return strings.Contains(s, `user="peapu"`) && strings.Contains(s, "198.19.77.10")
	}) {
		t.Fatalf("no accounting start:\n%s", d.script("/user-manager session print detail\n"))
	}
	// The wrong password: User Manager rejects, routerd refuses the login.
	ch.Swanctl("--terminate", "--ike", "good", "--timeout", "10")
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(d.script("/user-manager session print detail\n"), `status="stop"`)
	}) {
		t.Fatalf("no accounting stop:\n%s", d.script("/user-manager session print detail\n"))
	}
	writeConf(t, ch, `connections {
`+conf("good", "")+`}
secrets {
  ike-1 { id-a = 198.18.50.1
          id-b = 198.18.50.2
          secret = "a-long-test-psk" }
  xauth-1 { id = peapu
            secret = "not-the-password" }
}
`)
	if out, err := ch.Swanctl("--initiate", "--child", "good-net", "--timeout", "20"); err == nil {
		t.Fatalf("a wrong XAuth password connected:\n%s", out)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(d.script("/log print\n"), `xauth user "peapu" authentication failed`)
	}) {
		t.Fatalf("no refusal logged:\n%s", d.script("/log print\n"))
	}
}
