package ipsec

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/iketest"
)

// refuseRemove is the engine's data path adapter whose CHILD SA removals fail while
// refuse is set.
type refuseRemove struct {
	*adapter
	refuse atomic.Bool
}

func (r *refuseRemove) RemoveChild(c *ike.ChildSA) error {
	if r.refuse.Load() {
		return errors.New("test data path refuses removals")
	}
	return r.adapter.RemoveChild(c)
}

// TestRefusedRemovalShownDead (issue 10): a CHILD SA that IKE deleted but the data path
// refused to remove is still installed, so installed-sa lists it, with the reference's
// state dead, until a retry removes it; before, only the metric
// routerd_ipsec_unremoved_sas and the log said so.
func TestRefusedRemovalShownDead(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("ike1-site1", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, siteToSite("ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	var old []string
	if !iketest.WaitFor(15*time.Second, func() bool {
		old = nil
		for _, s := range a.e.Daemon().Snapshot() {
			for _, c := range s.Children {
				old = append(old, fmt.Sprintf("spi=\"0x%X\"", c.InSPI), fmt.Sprintf("spi=\"0x%X\"", c.OutSPI))
			}
		}
		return len(old) == 2
	}) {
		t.Fatalf("no CHILD SA:\n%s", a.run(t, "/ip ipsec active-peers print detail"))
	}
	dead := func() string {
		return strings.TrimSpace(a.run(t, "/ip ipsec installed-sa print count-only where state=dead"))
	}
	if n := dead(); n != "0" {
		t.Fatalf("%s dead SAs before any removal:\n%s", n, a.run(t, "/ip ipsec installed-sa print detail"))
	}
	rd := &refuseRemove{adapter: &adapter{dp: a.e.Datapath, changed: a.e.refresh, tot: a.e.espTot}}
	rd.refuse.Store(true)
	a.e.Daemon().SetDatapath(rd)
	a.run(t, "/ip ipsec installed-sa flush")
	if !iketest.WaitFor(15*time.Second, func() bool { return dead() == "2" }) {
		t.Fatalf("%s dead SAs after a refused removal, want its 2:\n%s", dead(), a.run(t, "/ip ipsec installed-sa print detail"))
	}
	sas := a.run(t, "/ip ipsec installed-sa print detail where state=dead")
	for _, spi := range old {
		if !strings.Contains(sas, spi) {
			t.Errorf("the dead SAs are not the flushed ones (%s):\n%s", spi, sas)
		}
	}
	if strings.Contains(sas, "expires-in") {
		t.Errorf("a dead SA shows when it expires:\n%s", sas)
	}
	rd.refuse.Store(false)
	if !iketest.WaitFor(15*time.Second, func() bool { return dead() == "0" }) {
		t.Fatalf("the dead SAs stay listed after their removal succeeded:\n%s", a.run(t, "/ip ipsec installed-sa print detail"))
	}
}
