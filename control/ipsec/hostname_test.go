package ipsec

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestPeerHostName: a peer whose address is a host name (/ip dns static answers it
// here) resolves through the shared Resolver, the SA comes up and traffic passes, and
// the peer's read-only actual-address shows what the name resolved to; a name nothing answers leaves its
// peer invalid with the reason, not refused at add.
func TestPeerHostName(t *testing.T) {
	nsA, nsB := twoSites(t)
	a := startRouter(t, nsA, true)
	b := startRouter(t, nsB, true)
	b.run(t, siteToSite("s", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, "/ip dns static add name=site-b.example.net address=198.18.90.2")
	a.run(t, strings.Replace(siteToSite("s", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"),
		"address=198.18.90.2/32", "address=site-b.example.net", 1))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("no traffic through the peer given by name")
	}
	if out := a.run(t, "/ip ipsec peer print detail where name=s"); !strings.Contains(out, "actual-address=198.18.90.2") ||
		!strings.Contains(out, `address=site-b.example.net`) {
		t.Errorf("peer print does not show the name and its address:\n%s", out)
	}

	// The record changes: the peer follows it (here to an address nobody answers).
	a.run(t, "/ip dns static set [find name=site-b.example.net] address=198.18.90.3")
	if !iketest.WaitFor(20*time.Second, func() bool {
		a.e.Reconcile(context.Background())
		return strings.Contains(a.run(t, "/ip ipsec peer print detail where name=s"), "actual-address=198.18.90.3")
	}) {
		t.Errorf("peer did not follow the changed record:\n%s", a.run(t, "/ip ipsec peer print detail where name=s"))
	}

	a.run(t, "/ip ipsec peer add name=nx address=nx.example.invalid exchange-mode=ike2")
	a.e.Reconcile(context.Background())
	if out := a.run(t, "/ip ipsec peer print detail where name=nx"); !strings.Contains(out, "cannot resolve nx.example.invalid") {
		t.Errorf("unresolvable peer:\n%s", out)
	}
}
