package ipsec_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestModeConfigClientRetriesCharon (QA issue 12): routerd is the reference's RouterOS
// road-warrior client (mode config responder=no, a template, generate-policy) of a
// charon responder that refuses the first CHILD SA with TS_UNACCEPTABLE (its child
// covers another network until its configuration is reloaded). routerd keeps the IKE
// SA, tries the CHILD SA again with a backoff from its mode config address, and gets it
// once charon's configuration is fixed, without anyone killing the IKE SA.
func TestModeConfigClientRetriesCharon(t *testing.T) {
	tp := newTopo(t, false)
	iketest.Sh(t, "ip", "-n", tp.nsS, "addr", "add", "198.19.55.1/24", "dev", "lo")
	conf := func(localTS string) string {
		return swanPSK{name: "rw", local: "198.18.50.2", remote: "198.18.50.1", extra: []string{"pools = p"},
			children: []swanChild{{name: "net", localTS: localTS, esp: "aes128gcm16"}},
			sections: "pools {\n  p {\n    addrs = 198.19.77.0/24\n  }\n}\n"}.String()
	}
	c := iketest.StartCharon(t, tp.nsS, conf("198.19.56.0/24"))
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip ipsec profile add name=rw enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw responder=no
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw proposal=rw template=yes dst-address=198.19.55.0/24
/ip ipsec peer add address=198.18.50.2/32 exchange-mode=ike2 name=office profile=rw
/ip ipsec identity add peer=office secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example generate-policy=port-strict mode-config=rw policy-template-group=rw
`)
	// The refusal in IKE_AUTH and at least one CREATE_CHILD_SA after it.
	refused := func() int { return strings.Count(c.Log(), "failed to establish CHILD_SA, keeping IKE_SA") }
	if !iketest.WaitFor(30*time.Second, func() bool { return refused() >= 2 }) {
		t.Fatalf("charon refused %d CHILD SAs, want 2 (the first and a retry):\n%s\n%s", refused(),
			r.run(t, "/ip ipsec active-peers print detail"), tail(c.Log(), 4000))
	}
	if !strings.Contains(r.run(t, "/ip ipsec active-peers print"), "established") {
		t.Fatalf("the IKE SA did not stay:\n%s", r.run(t, "/ip ipsec active-peers print detail"))
	}
	// charon's child now covers the network; the IKE SA is the same.
	if err := os.WriteFile(filepath.Join(c.Dir, "swanctl.conf"), []byte(conf("198.19.55.0/24")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Swanctl("--load-conns", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("swanctl --load-conns: %v %s", err, out)
	}
	var pols string
	if !iketest.WaitFor(45*time.Second, func() bool {
		pols = strings.Join(strings.Fields(r.run(t, "/ip ipsec policy print where dynamic")), " ")
		return strings.Contains(pols, "dst-address=198.19.55.0/24")
	}) {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("no CHILD SA after charon's configuration was fixed (%d refusals):\n%s\n%s\n%s", refused(), pols, sas, tail(c.Log(), 4000))
	}
	vip := regexp.MustCompile(`src-address=(198\.19\.77\.\d+)/32`).FindStringSubmatch(pols)
	if vip == nil {
		t.Fatalf("no mode config address in the policies: %s", pols)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", vip[1], "198.19.55.1").Run() == nil
	}) {
		t.Fatalf("%s -> 198.19.55.1 does not cross:\n%s", vip[1], r.run(t, "/ip ipsec statistics print"))
	}
	if n := strings.Count(c.Log(), "IKE_SA rw[") - strings.Count(c.Log(), "IKE_SA rw[1]"); n != 0 {
		t.Errorf("charon saw %d log lines of another IKE SA than the first: the retry should ride on it", n)
	}
}

// TestHardLifetimeDeleteCharon (QA issue 12): routerd's proposal has a PFS group and a
// short lifetime, charon's none, so every rekey (CREATE_CHILD_SA with KE) is refused
// with NO_PROPOSAL_CHOSEN while the first CHILD SA (IKE_AUTH, no KE) came up. routerd
// backs off between rekeys instead of retrying each tick; at the hard lifetime it deletes
// the CHILD SA at charon (charon logs the DELETE and drops its CHILD SA, instead of
// sending into it until its own hour is up), and negotiates a new one, which charon
// takes once it accepts PFS.
func TestHardLifetimeDeleteCharon(t *testing.T) {
	tp := newTopo(t, false)
	conf := func(esp string) string {
		return swanPSK{local: tp.sAddr, remote: tp.rAddr, children: []swanChild{{name: "net", localTS: "198.19.102.0/24",
			remoteTS: "198.19.101.0/24", esp: esp, extra: []string{"rekey_time = 1h", "life_time = 2h"}}}}.String()
	}
	ch := iketest.StartCharon(t, tp.nsS, conf("aes128-sha1"))
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=p enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=modp2048 lifetime=12s
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
	}) {
		t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
	}
	first := regexp.MustCompile(`CHILD_SA net\{1\} established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o`).FindStringSubmatch(ch.Log())
	if first == nil {
		t.Fatalf("charon's first CHILD SA not in its log:\n%s", tail(ch.Log(), 4000))
	}
	// The delete names routerd's inbound SPI, charon's outbound one (_o).
	if !iketest.WaitFor(40*time.Second, func() bool {
		return strings.Contains(ch.Log(), "received DELETE for ESP CHILD_SA with SPI "+first[2])
	}) {
		t.Fatalf("charon got no DELETE for CHILD SA %s at routerd's hard lifetime:\n%s", first[2], tail(ch.Log(), 6000))
	}
	refusals := strings.Count(ch.Log(), "no acceptable proposal found")
	// Between the soft lifetime (9-9.6 s) and the hard one (12 s) a few seconds of
	// backoff: 1 s, 2 s... A retry every tick (0.25 s) made ten or more.
	if refusals < 1 || refusals > 5 {
		t.Errorf("charon refused %d rekeys before the hard lifetime, want 1 to 5", refusals)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		sas, _ := ch.Swanctl("--list-sas")
		return !strings.Contains(sas, first[1])
	}) {
		sas, _ := ch.Swanctl("--list-sas")
		t.Fatalf("charon still holds the CHILD SA routerd deleted:\n%s", sas)
	}
	// The policy still wants an SA: when charon takes PFS, the next try brings it up.
	if err := os.WriteFile(filepath.Join(ch.Dir, "swanctl.conf"), []byte(conf("aes128-sha1-modp2048")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := ch.Swanctl("--load-conns", "--file", filepath.Join(ch.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("swanctl --load-conns: %v %s", err, out)
	}
	if !iketest.WaitFor(45*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
	}) {
		t.Fatalf("no new CHILD SA after the hard lifetime:\n%s\n%s", r.run(t, "/ip ipsec installed-sa print"), tail(ch.Log(), 4000))
	}
}
