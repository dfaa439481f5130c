package esp

import (
	"fmt"
	"strings"
	"testing"
)

// TestTransportColdNeighbourCache: a host-to-host IPv6 transport pair of level require
// resolves each other on a cold neighbour cache. The kernel sends neighbour discovery in
// the clear by the device; the require check dropped the peer's advertisement as
// cleartext of the policy, so not even a small ping passed. A cleartext echo from the
// peer is still dropped and counted.
func TestTransportColdNeighbourCache(t *testing.T) {
	r := newRigNamed(t, "nd")
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "chacha20poly1305", mode: ModeTransport, v6outer: true})
	for _, ns := range []string{r.a, r.b} {
		run(t, "ip", "-n", ns, "-6", "neigh", "flush", "dev", "eth0")
	}
	pingOK(t, r.a, "2001:db8:ff::2")
	pingOK(t, r.b, "2001:db8:ff::1")
	for ns, peer := range map[string]string{r.a: "2001:db8:ff::2", r.b: "2001:db8:ff::1"} {
		out := run(t, "ip", "-n", ns, "-6", "neigh", "show", peer, "dev", "eth0")
		if !strings.Contains(out, "lladdr") || strings.Contains(out, "PERMANENT") {
			t.Errorf("%s: neighbour %s not learnt: %q", ns, peer, out)
		}
	}
	if st := a.dp.Statistics(); st.InTemplateMismatches != 0 {
		t.Errorf("a: in-template-mismatches %d before any cleartext, want 0", st.InTemplateMismatches)
	}
	// b sends around its policy: marked, its steering table is skipped.
	mark := fmt.Sprint(DefaultConfig().BypassMark)
	if out, err := nsExec(t, r.b, "ping", "-6", "-c", "2", "-W", "1", "-m", mark, "2001:db8:ff::1"); err == nil {
		t.Fatalf("a cleartext echo passed a require policy:\n%s", out)
	}
	if st := a.dp.Statistics(); st.InTemplateMismatches < 2 {
		t.Errorf("a: in-template-mismatches %d after 2 cleartext echoes, want >= 2", st.InTemplateMismatches)
	}
}
