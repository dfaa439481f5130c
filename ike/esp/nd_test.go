package esp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
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

// TestTransportThroughNAT66: IPv6 transport mode, ESP-in-UDP across an nftables IPv6
// masquerade. b sees a as the NAT's address and rebuilds the inner header with it, so
// the upper layer's checksum (TCP, UDP, ICMPv6: all of IPv6's cover the addresses) must
// be recomputed, or the kernel drops every packet (Icmp6InCsumErrors, TcpInCsumErrors).
func TestTransportThroughNAT66(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	p := newNATPair(t, "nd", true, ModeTransport, nil)
	a, b, na, nb, aIn, aPub, bAddr := p.a, p.b, p.na, p.nb, p.aIn, p.aPub, p.bAddr
	ctx := context.Background()
	pol := func(l, r netip.Addr) []Policy {
		lp, rp := netip.PrefixFrom(l, 128), netip.PrefixFrom(r, 128)
		return []Policy{
			{ID: 1, Src: lp, Dst: rp, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, TunnelSrc: l, TunnelDst: r, ReqID: 1},
			{ID: 2, Src: rp, Dst: lp, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, TunnelSrc: r, TunnelDst: l, ReqID: 1},
		}
	}
	if err := na.dp.SetPolicies(ctx, pol(aIn, bAddr)); err != nil {
		t.Fatal(err)
	}
	if err := nb.dp.SetPolicies(ctx, pol(bAddr, aPub)); err != nil {
		t.Fatal(err)
	}
	pingOK(t, a, bAddr.String())
	udpAcross(t, a, b, aIn, bAddr)
	bps := iperf(t, a, b, bAddr.String(), 2).bps
	t.Logf("iperf3 -6 through NAT66, transport mode: %.0f Mbit/s", bps/1e6)
	if bps <= 0 {
		t.Fatal("nothing carried")
	}
	if st := nb.dp.Statistics(); st.InStateProtocolErrors != 0 || st.InNoStates != 0 || st.InStateModeErrors != 0 {
		t.Fatalf("b: %+v", st)
	}
}

// udpAcross sends one UDP datagram from src in namespace from to dst in namespace to and
// checks that it arrives.
func udpAcross(t *testing.T, from, to string, src, dst netip.Addr) {
	t.Helper()
	var ln, tx *net.UDPConn
	var err error
	inNS(t, to, func() { ln, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0))) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inNS(t, from, func() {
		tx, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), ln.LocalAddr().(*net.UDPAddr))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte("nd6 across the NAT")); err != nil {
		t.Fatal(err)
	}
	ln.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	if n, err := ln.Read(buf); err != nil || string(buf[:n]) != "nd6 across the NAT" {
		t.Fatalf("UDP %s -> %s: %q, %v", src, dst, buf[:n], err)
	}
}
