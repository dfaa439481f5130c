package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// swanEAPRadiusResponder is charon as an IKEv2 responder (pre-shared key) whose EAP goes
// to User Manager on routerd through charon's own RADIUS client (the eap-radius
// plugin), with RADIUS accounting and interim updates every second.
var swanEAPRadiusResponder = swanEAPServer("eap-radius", "")

const swanEAPRadiusPlugin = `  plugins { eap-radius {
    accounting = yes
    accounting_interval = 1
    servers { um { address = 198.18.50.1
                   secret = umtest
                   auth_port = 1812
                   acct_port = 1813 } }
  } }`

// TestUserManagerCharonRADIUS: User Manager answers a RADIUS client it has not met
// elsewhere, strongSwan's eap-radius plugin: routerd's EAP-MSCHAPv2 initiator logs in
// through charon, which relays to User Manager and keys the IKE SA with the MS-MPPE keys
// User Manager sent; ping across; charon's accounting shows up as a User Manager session
// with the traffic counts; a wrong password is refused with User Manager's log line.
func TestUserManagerCharonRADIUS(t *testing.T) {
	tp := newTopo(t, false)
	c := iketest.StartCharon(t, tp.nsS, swanEAPRadiusResponder, "+eap-identity eap-radius", swanEAPRadiusPlugin)
	d := startDaemon(t, tp.nsR)
	d.script(`/user-manager router
add address=198.18.50.2 name=charon shared-secret=umtest
/user-manager
set enabled=yes
/user-manager user
add name=user1 password=password
/ip ipsec profile add name=p
/ip ipsec proposal add name=p pfs-group=none
/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s auth-method=eap eap-methods=eap-mschapv2 username=user1 password=password secret=a-long-test-psk remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		out, _ := c.Swanctl("--list-sas")
		return strings.Contains(out, "ESTABLISHED") && strings.Contains(out, "INSTALLED")
	}) {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("no SA:\n%s\n%s", out, d.log.String())
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return pingAcross(tp.nsR) == nil }) {
		t.Fatalf("no ping across:\n%s", d.script("/ip ipsec installed-sa print detail\n"))
	}
	down, up := regexp.MustCompile(`download=[1-9]`), regexp.MustCompile(`upload=[1-9]`)
	if !iketest.WaitFor(15*time.Second, func() bool {
		s := d.script("/user-manager session print detail\n")
		return strings.Contains(s, `user="user1"`) && strings.Contains(s, `status="interim"`) && down.MatchString(s) && up.MatchString(s)
	}) {
		t.Fatalf("no counted interim session from charon:\n%s", d.script("/user-manager session print detail\n"))
	}
	if s := d.script("/user-manager monitor print detail where method=eap-mschap2\n"); !regexp.MustCompile(`accepts=[1-9]`).MatchString(s) {
		t.Fatalf("monitor:\n%s", s)
	}
	d.script("/ip ipsec identity set 0 password=wrong\n/ip ipsec active-peers kill-connections\n")
	if !iketest.WaitFor(30*time.Second, func() bool {
		l := d.log.String()
		return strings.Contains(l, `msg="login failed" topic=manager user=user1 method=eap-mschap2 nas=charon`) && strings.Contains(l, "wrong password")
	}) {
		t.Fatalf("no User Manager log line for the wrong password:\n%s", d.log.String())
	}
}
