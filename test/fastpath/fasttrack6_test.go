package fastpath

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFastTrackIPv6: with an IPv6 filter that fasttracks established connections (so
// the IPv6 fast path is off), a TCP transfer over IPv6 moves through XDP
// (ipv6-fasttrack-packets grows, the filter's dummy fasttrack rule counts them, the
// connection's orig- and repl-fasttrack-packets count them too), every
// byte arrives, and allow-fast-path=no in /ipv6 settings stops it mid-transfer without
// breaking the connection.
func TestFastTrackIPv6(t *testing.T) {
	need(t, "nft")
	r := newRig(t)
	r.active(t)
	r.must("/ipv6 firewall filter add chain=forward action=fasttrack-connection connection-state=established,related")
	r.must("/ipv6 firewall filter add chain=forward action=accept")
	eventually(t, "IPv6 fasttrack active", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		return prop(s, "ipv6-fasttrack-active") == "yes" && prop(s, "ipv6-fast-path-active") == "no", s
	})
	r.nftApplied(t, "ip6")

	tr := r.startTransfer(t, "2001:db8:61::2")
	eventually(t, "fasttracked IPv6 packets", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		v, _ := strconv.ParseUint(prop(s, "ipv6-fasttrack-packets"), 10, 64)
		return v > 100, s
	})
	r.checkConnFastTrack(t, "/ipv6")
	r.must("/ipv6 settings set allow-fast-path=no")
	eventually(t, "IPv6 fasttrack off", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		return prop(s, "ipv6-fasttrack-active") == "no", s
	})
	off := r.counter("ipv6-fasttrack-packets")
	time.Sleep(500 * time.Millisecond)
	if v := r.counter("ipv6-fasttrack-packets"); v != off {
		t.Errorf("allow-fast-path=no: IPv6 fasttrack counter moved %d -> %d", off, v)
	}
	r.must("/ipv6 settings set allow-fast-path=yes")
	eventually(t, "IPv6 fasttrack back", func() (bool, string) {
		v := r.counter("ipv6-fasttrack-packets")
		return v > off+100, strconv.FormatUint(v, 10)
	})
	if from, got, sent := tr.finish(t); from != "2001:db8:60::2" || got != sent {
		t.Errorf("sink received %s bytes from %s, want all %s bytes from 2001:db8:60::2", got, from, sent)
	}
	r.sameFastTrack(t, "/ipv6", "ipv6-fasttrack-packets")
	// The dummy rule shows FastTrack's counters.
	out := r.must("/ipv6 firewall filter print stats")
	if !strings.Contains(out, "special dummy rule to show fasttrack counters") ||
		!regexp.MustCompile(`(?m)^\s+D\s+forward passthrough\s+[1-9]\d*\s+[1-9]\d*\s*$`).MatchString(out) {
		t.Errorf("the dummy fasttrack rule does not show IPv6 FastTrack's counters:\n%s", out)
	}
}
