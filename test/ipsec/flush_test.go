package ipsec_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

var saSPI = regexp.MustCompile(`spi="?(0x[0-9A-F]+)`)

// TestInstalledSAFlushSAType: `installed-sa flush sa-type=` as RouterOS has it (all,
// ah, esp). ah removes nothing (there are no AH SAs), esp removes the ESP SAs (charon
// is told, and routerd, the initiator, negotiates new ones at once for the level=require
// policy), a bad value is refused.
func TestInstalledSAFlushSAType(t *testing.T) {
	tp := newTopo(t, false)
	s := matrix[3]
	c := iketest.StartCharon(t, tp.nsS, tp.swanctl(s))
	r := startRouter(t, tp.nsR)
	r.run(t, tp.routerdConfig(s, false))
	if !iketest.WaitFor(15*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established")
	}) {
		t.Fatalf("no phase 2:\n%s", r.run(t, "/ip ipsec active-peers print detail"))
	}
	spis := func() []string {
		var out []string
		for _, m := range saSPI.FindAllStringSubmatch(r.run(t, "/ip ipsec installed-sa print detail"), -1) {
			out = append(out, m[1])
		}
		return out
	}
	before := spis()
	if len(before) != 2 {
		t.Fatalf("installed SAs %v:\n%s", before, r.run(t, "/ip ipsec installed-sa print detail"))
	}
	r.run(t, "/ip ipsec installed-sa flush sa-type=ah")
	if after := spis(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("sa-type=ah removed ESP SAs: %v -> %v", before, after)
	}
	var b strings.Builder
	err := r.in.Run(context.Background(), r.con, "/ip ipsec installed-sa flush sa-type=gre\n", &b)
	if err == nil || !strings.Contains(err.Error()+b.String(), "sa-type") {
		t.Fatalf("sa-type=gre: err %v, output %q", err, b.String())
	}
	r.run(t, "/ip ipsec installed-sa flush sa-type=esp")
	gone := func() bool {
		for _, spi := range spis() {
			for _, old := range before {
				if spi == old {
					return false
				}
			}
		}
		return true
	}
	if !iketest.WaitFor(10*time.Second, gone) {
		t.Fatalf("SAs %v still installed after sa-type=esp:\n%s", before, r.run(t, "/ip ipsec installed-sa print detail"))
	}
	// The policy is level=require: routerd, which set the IKE SA up, negotiates its
	// CHILD SA again at once, before any packet asks for it.
	if !iketest.WaitFor(10*time.Second, func() bool { return gone() && len(spis()) == 2 }) {
		t.Fatalf("no new SAs without traffic after the flush (level=require):\n%s", r.run(t, "/ip ipsec installed-sa print detail"))
	}
	// Charon was told (INFORMATIONAL delete) and new SAs carry traffic again.
	if !iketest.WaitFor(15*time.Second, func() bool { return pingAcross(tp.nsR) == nil }) {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("no traffic after the flush:\n%s\n%s", r.run(t, "/ip ipsec installed-sa print detail"), out)
	}
	if out, _ := c.Swanctl("--list-sas"); strings.Contains(strings.ToLower(out), strings.ToLower(strings.TrimPrefix(before[0], "0x"))) ||
		strings.Contains(strings.ToLower(out), strings.ToLower(strings.TrimPrefix(before[1], "0x"))) {
		t.Errorf("charon still has a flushed SA:\n%s\nflushed %v", out, before)
	}
}
