package esp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, TUN, raw sockets")
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rig is two namespaces a and b joined by a veth: a 198.18.0.1, b 198.18.0.2; a's "LAN"
// address 198.19.1.1 and b's 198.19.2.1 sit on lo.
type rig struct {
	a, b string
}

func newRig(t testing.TB) *rig { return newRigNamed(t, "esp") }

// newRigNamed is newRig with the namespaces and the veth named after pfx (a test's own
// prefix, so that its names collide with no one else's).
func newRigNamed(t testing.TB, pfx string) *rig {
	needRoot(t)
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	r := &rig{a: pfx + "a" + id, b: pfx + "b" + id}
	for _, n := range []string{r.a, r.b} {
		run(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run(t, "ip", "-n", n, "link", "set", "lo", "up")
	}
	va, vb := pfx[:min(len(pfx), 3)]+"e"+id, pfx[:min(len(pfx), 3)]+"f"+id
	run(t, "ip", "link", "add", va, "netns", r.a, "type", "veth", "peer", "name", vb, "netns", r.b)
	run(t, "ip", "-n", r.a, "link", "set", va, "name", "eth0")
	run(t, "ip", "-n", r.b, "link", "set", vb, "name", "eth0")
	run(t, "ip", "-n", r.a, "addr", "add", "198.18.0.1/24", "dev", "eth0")
	run(t, "ip", "-n", r.b, "addr", "add", "198.18.0.2/24", "dev", "eth0")
	run(t, "ip", "-n", r.a, "addr", "add", "198.19.1.1/32", "dev", "lo")
	run(t, "ip", "-n", r.b, "addr", "add", "198.19.2.1/32", "dev", "lo")
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:1::1/128", "dev", "lo", "nodad")
	run(t, "ip", "-n", r.b, "-6", "addr", "add", "2001:db8:2::1/128", "dev", "lo", "nodad")
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:ff::1/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", r.b, "-6", "addr", "add", "2001:db8:ff::2/64", "dev", "eth0", "nodad")
	for _, n := range []string{r.a, r.b} {
		run(t, "ip", "-n", n, "link", "set", "eth0", "up")
	}
	return r
}

// inNS runs fn on a thread in namespace name (sockets fn creates stay there).
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		h, err := netns.GetFromName(name)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type node struct {
	dp   Datapath
	udp  *net.UDPConn
	udp6 *net.UDPConn
}

// startNode opens a userspace datapath in ns with a 4500 socket served by ServeUDP (what
// IKE does with ESP it reads).
func startNode(t testing.TB, ns string) *node { return startNodeWith(t, ns, nil) }

// startNodeWith is startNode with the Config changed by tweak (nil: none) before Open.
func startNodeWith(t testing.TB, ns string, tweak func(*Config)) *node {
	n := &node{}
	var err error
	inNS(t, ns, func() {
		n.udp, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 4500})
		if err != nil {
			return
		}
		n.udp6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 4500})
		if err != nil {
			return
		}
		cfg := DefaultConfig()
		cfg.UDP4500, cfg.UDP4500v6 = n.udp, n.udp6
		cfg.Force = KindUserspace
		if tweak != nil {
			tweak(&cfg)
		}
		n.dp, err = Open(context.Background(), cfg)
	})
	if err != nil {
		t.Fatal(err)
	}
	go ServeUDP(n.dp, n.udp, nil)
	go ServeUDP(n.dp, n.udp6, nil)
	t.Cleanup(n.close)
	return n
}

// close ends the node: its data path and sockets (again at the test's cleanup, which is
// harmless).
func (n *node) close() { n.dp.Close(); n.udp.Close(); n.udp6.Close() }

type pairOpts struct {
	enc, auth string
	mode      Mode
	udp       bool
	v6inner   bool
	v6outer   bool
}

func keyFor(t testing.TB, enc, auth string, seed byte) ([]byte, []byte) {
	el, al, err := KeyLengths(enc, auth)
	if err != nil {
		t.Fatal(err)
	}
	ek, ak := make([]byte, el), make([]byte, al)
	for i := range ek {
		ek[i] = seed + byte(i)
	}
	for i := range ak {
		ak[i] = seed ^ byte(i*7)
	}
	return ek, ak
}

// install puts matching SAs and policies on both nodes: a->b uses SPI 0x1000, b->a 0x2000.
func install(t testing.TB, a, b *node, o pairOpts) {
	ctx := context.Background()
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	if o.v6outer {
		ipa, ipb = netip.MustParseAddr("2001:db8:ff::1"), netip.MustParseAddr("2001:db8:ff::2")
	}
	k1e, k1a := keyFor(t, o.enc, o.auth, 1)
	k2e, k2a := keyFor(t, o.enc, o.auth, 101)
	var enc *Encap
	if o.udp {
		enc = &Encap{SrcPort: 4500, DstPort: 4500}
	}
	mk := func(spi uint32, dir Direction, src, dst netip.Addr, ek, ak []byte) SA {
		return SA{SPI: spi, Dir: dir, Src: src, Dst: dst, Encap: enc, Mode: o.mode, EncAlg: o.enc, EncKey: ek,
			AuthAlg: o.auth, AuthKey: ak, ReplayWindow: DefaultReplayWindow, ReqID: 7}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.dp.AddSA(ctx, mk(0x1000, DirOut, ipa, ipb, k1e, k1a)))
	must(b.dp.AddSA(ctx, mk(0x1000, DirIn, ipa, ipb, k1e, k1a)))
	must(b.dp.AddSA(ctx, mk(0x2000, DirOut, ipb, ipa, k2e, k2a)))
	must(a.dp.AddSA(ctx, mk(0x2000, DirIn, ipb, ipa, k2e, k2a)))
	var lanA, lanB netip.Prefix
	switch {
	case o.mode == ModeTransport:
		lanA, lanB = netip.PrefixFrom(ipa, ipa.BitLen()), netip.PrefixFrom(ipb, ipb.BitLen())
	case o.v6inner:
		lanA, lanB = netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")
	default:
		lanA, lanB = netip.MustParsePrefix("198.19.1.0/24"), netip.MustParsePrefix("198.19.2.0/24")
	}
	pol := func(local, remote netip.Prefix, l, r netip.Addr) []Policy {
		return []Policy{
			{ID: 1, Src: local, Dst: remote, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: o.mode, TunnelSrc: l, TunnelDst: r, ReqID: 7},
			{ID: 2, Src: remote, Dst: local, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: o.mode, TunnelSrc: r, TunnelDst: l, ReqID: 7},
		}
	}
	must(a.dp.SetPolicies(ctx, pol(lanA, lanB, ipa, ipb)))
	must(b.dp.SetPolicies(ctx, pol(lanB, lanA, ipb, ipa)))
}

func nsExec(t testing.TB, ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

func pingOK(t testing.TB, ns, dst string) {
	t.Helper()
	args := []string{"ping", "-c", "3", "-i", "0.2", "-W", "2", dst}
	if strings.Contains(dst, ":") {
		args = append([]string{"ping", "-6"}, args[1:]...)
	}
	out, err := nsExec(t, ns, args...)
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", dst, ns, err, out)
	}
}

// iperfResult is what an iperf3 TCP run carried: the receiver's bit/s and the
// sender's retransmits.
type iperfResult struct {
	bps         float64
	retransmits int
}

// iperf runs iperf3 TCP from namespace ns to dst, a one-off server started in srvNS,
// for secs.
func iperf(t testing.TB, ns, srvNS, dst string, secs int) iperfResult {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", srvNS, "iperf3", "-s", "-1", "-B", dst)
	if err := srv.Start(); err != nil {
		t.Skipf("iperf3: %v", err)
	}
	defer srv.Process.Kill()
	// The server takes its time to listen on a loaded machine (three tries 300 ms apart
	// were seen refused at load ~12): the client is retried until it connects or 15 s
	// have passed. A one-off server (-1) keeps waiting after a refused attempt. iperf3 -J
	// may report the refusal in its JSON and exit 0 (seen at load ~16), so that counts
	// as refused too.
	var out string
	var err error
	for end := time.Now().Add(15 * time.Second); ; {
		time.Sleep(300 * time.Millisecond)
		out, err = nsExec(t, ns, "iperf3", "-c", dst, "-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000")
		refused := err != nil || strings.Contains(out, "unable to connect")
		if !refused || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Error != "" {
		t.Fatalf("iperf3: %v %s\n%s", err, res.Error, out)
	}
	// The one-off server ends by itself; if it does not, it is killed on return.
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return iperfResult{res.End.SumReceived.BitsPerSecond, res.End.SumSent.Retransmits}
}

func TestDatapathNamespaces(t *testing.T) {
	cases := []pairOpts{
		{enc: "aes-128-gcm", mode: ModeTunnel},
		{enc: "aes-128-gcm", mode: ModeTunnel, udp: true},
		{enc: "aes-256-cbc", auth: "sha256", mode: ModeTransport},
		{enc: "aes-128-gcm", mode: ModeTransport, udp: true},
		{enc: "chacha20poly1305", mode: ModeTunnel, v6inner: true},
		{enc: "aes-128-ctr", auth: "sha1", mode: ModeTunnel, udp: true},
		{enc: "3des", auth: "md5", mode: ModeTunnel},
		{enc: "null", auth: "sha512", mode: ModeTunnel},
		{enc: "aes-128-gcm", mode: ModeTunnel, v6outer: true},
		{enc: "aes-256-gcm", mode: ModeTunnel, v6outer: true, v6inner: true, udp: true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s-%s-%s-udp=%v-v6=%v-v6outer=%v", c.enc, c.auth, c.mode, c.udp, c.v6inner, c.v6outer)
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			a, b := startNode(t, r.a), startNode(t, r.b)
			install(t, a, b, c)
			dst := "198.19.2.1"
			switch {
			case c.mode == ModeTransport:
				dst = "198.18.0.2"
			case c.v6inner:
				dst = "2001:db8:2::1"
			}
			pingOK(t, r.a, dst)
			bps := iperf(t, r.a, r.b, dst, 2).bps
			t.Logf("iperf3 TCP %s: %.0f Mbit/s", name, bps/1e6)
			if bps <= 0 {
				t.Fatal("iperf3 moved nothing")
			}
			k := Key{SPI: 0x1000, Dst: netip.MustParseAddr("198.18.0.2")}
			if c.v6outer {
				k.Dst = netip.MustParseAddr("2001:db8:ff::2")
			}
			ca, err := a.dp.Counters(k)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := b.dp.Counters(k)
			if err != nil {
				t.Fatal(err)
			}
			if ca.Packets == 0 || cb.Packets == 0 || cb.Packets > ca.Packets {
				t.Fatalf("counters: sent %d packets, received %d", ca.Packets, cb.Packets)
			}
			t.Logf("a stats %+v", a.dp.Statistics())
			t.Logf("b stats %+v", b.dp.Statistics())
			t.Logf("a: %s", &a.dp.(*userspace).perf)
			t.Logf("b: %s", &b.dp.(*userspace).perf)
		})
	}
}

// TestRekeyUnderTraffic: a new SA pair with the same reqid takes over while pings flow (the
// outbound side picks the newest SA), the old pair goes, and no ping is lost.
func TestRekeyUnderTraffic(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	o := pairOpts{enc: "aes-256-gcm", mode: ModeTunnel, udp: true}
	install(t, a, b, o)
	pingOK(t, r.a, "198.19.2.1")
	ping := exec.Command("ip", "netns", "exec", r.a, "ping", "-q", "-i", "0.002", "-c", "1500", "-W", "1", "198.19.2.1")
	var out strings.Builder
	ping.Stdout, ping.Stderr = &out, &out
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	ctx := context.Background()
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	k1e, _ := keyFor(t, o.enc, "", 51)
	k2e, _ := keyFor(t, o.enc, "", 52)
	mk := func(spi uint32, dir Direction, src, dst netip.Addr, ek []byte) SA {
		return SA{SPI: spi, Dir: dir, Src: src, Dst: dst, Encap: &Encap{4500, 4500}, Mode: o.mode, EncAlg: o.enc, EncKey: ek,
			ReplayWindow: DefaultReplayWindow, ReqID: 7}
	}
	// Inbound first on both ends, then outbound (RFC 7296 2.8's order), then the old ones go.
	for _, step := range []struct {
		n  *node
		sa SA
	}{
		{b, mk(0x1001, DirIn, ipa, ipb, k1e)}, {a, mk(0x2001, DirIn, ipb, ipa, k2e)},
		{a, mk(0x1001, DirOut, ipa, ipb, k1e)}, {b, mk(0x2001, DirOut, ipb, ipa, k2e)},
	} {
		if err := step.n.dp.AddSA(ctx, step.sa); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, d := range []struct {
		n *node
		k Key
	}{{a, Key{0x1000, ipb}}, {b, Key{0x1000, ipb}}, {a, Key{0x2000, ipa}}, {b, Key{0x2000, ipa}}} {
		if err := d.n.dp.DeleteSA(ctx, d.k); err != nil {
			t.Fatal(err)
		}
	}
	err := ping.Wait()
	if err != nil || !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("ping across the rekey: %v\n%s", err, out.String())
	}
	c, err := b.dp.Counters(Key{0x1001, ipb})
	if err != nil || c.Packets < 100 {
		t.Fatalf("new SA carried %d packets (%v)", c.Packets, err)
	}
	t.Logf("%s; new inbound SA: %d packets", strings.TrimSpace(out.String()), c.Packets)
}

// TestConcurrentSetPolicies: SetPolicies, AddSA and Counters from several goroutines (run
// with -race).
func TestConcurrentSetPolicies(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	ctx := context.Background()
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 20; i++ {
				dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(10 + g), byte(i)}), 32)
				a.dp.SetPolicies(ctx, []Policy{{ID: uint32(i), Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: dst,
					Dir: DirOut, Action: ActionEncrypt, ReqID: uint32(g)}})
				ek, _ := keyFor(t, "aes-128-gcm", "", byte(i))
				a.dp.AddSA(ctx, SA{SPI: uint32(g<<8 | i + 1), Dir: DirIn, Src: netip.MustParseAddr("198.18.0.2"),
					Dst: netip.MustParseAddr("198.18.0.1"), EncAlg: "aes-128-gcm", EncKey: ek})
				a.dp.Counters(Key{SPI: uint32(g<<8 | i + 1), Dst: netip.MustParseAddr("198.18.0.1")})
			}
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// TestThroughNAT: ESP-in-UDP across nftables masquerade in a middle namespace. In transport
// mode the receiver sees the NAT's address, so it must rebuild the inner header with the
// outer addresses and recompute the TCP/UDP checksum (RFC 3948 3.1.2); the kernel drops the
// segment otherwise, so ping and iperf3 only pass if that is right.
func TestThroughNAT(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	for _, mode := range []Mode{ModeTransport, ModeTunnel} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newNATPair(t, "esn", false, mode, func(a, b string) {
				run(t, "ip", "-n", a, "addr", "add", "198.19.1.1/32", "dev", "lo")
				run(t, "ip", "-n", b, "addr", "add", "198.19.2.1/32", "dev", "lo")
			})
			a, b, na, nb, aIn, aPub, bAddr := p.a, p.b, p.na, p.nb, p.aIn, p.aPub, p.bAddr
			ctx := context.Background()
			pol := func(l, r netip.Prefix, ls, rs netip.Addr) []Policy {
				return []Policy{
					{ID: 1, Src: l, Dst: r, Dir: DirOut, Action: ActionEncrypt, Mode: mode, TunnelSrc: ls, TunnelDst: rs, ReqID: 1},
					{ID: 2, Src: r, Dst: l, Dir: DirIn, Action: ActionEncrypt, Mode: mode, TunnelSrc: rs, TunnelDst: ls, ReqID: 1},
				}
			}
			dst := "198.19.2.1"
			if mode == ModeTransport {
				dst = "198.18.1.2"
				na.dp.SetPolicies(ctx, pol(netip.PrefixFrom(aIn, 32), netip.PrefixFrom(bAddr, 32), aIn, bAddr))
				nb.dp.SetPolicies(ctx, pol(netip.PrefixFrom(bAddr, 32), netip.PrefixFrom(aPub, 32), bAddr, aPub))
			} else {
				na.dp.SetPolicies(ctx, pol(netip.MustParsePrefix("198.19.1.0/24"), netip.MustParsePrefix("198.19.2.0/24"), aIn, bAddr))
				nb.dp.SetPolicies(ctx, pol(netip.MustParsePrefix("198.19.2.0/24"), netip.MustParsePrefix("198.19.1.0/24"), bAddr, aPub))
			}
			pingOK(t, a, dst)
			bps := iperf(t, a, b, dst, 2).bps
			t.Logf("iperf3 through NAT, %s mode: %.0f Mbit/s", mode, bps/1e6)
			if bps <= 0 {
				t.Fatal("nothing carried")
			}
			if st := nb.dp.Statistics(); st.InStateProtocolErrors != 0 || st.InNoStates != 0 {
				t.Fatalf("b: %+v", st)
			}
		})
	}
}

// natPair is two nodes with a masquerading NAT namespace between them (a, nat, b) and a
// pair of ESP-in-UDP SAs of one mode installed: a knows its own address (aIn), b sees a
// as the NAT's (aPub; masquerade keeps port 4500).
type natPair struct {
	a, nat, b        string
	na, nb           *node
	aIn, aPub, bAddr netip.Addr
}

// newNATPair builds it over IPv4 (198.18.0.0/24, 198.18.1.0/24) or IPv6 (2001:db8:a::/64,
// 2001:db8:b::/64), names prefixed by prefix; before the nodes start, addrs may add
// addresses to a and b.
func newNATPair(t *testing.T, prefix string, v6 bool, mode Mode, addrs func(a, b string)) *natPair {
	t.Helper()
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	p := &natPair{a: prefix + "a" + id, nat: prefix + "n" + id, b: prefix + "b" + id}
	for _, n := range []string{p.a, p.nat, p.b} {
		run(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run(t, "ip", "-n", n, "link", "set", "lo", "up")
	}
	// Interface names: a's, the NAT's towards a, the NAT's towards b, b's.
	la, ln, lm, lb := prefix+"a"+id, prefix+"n"+id, prefix+"m"+id, prefix+"b"+id
	run(t, "ip", "link", "add", la, "netns", p.a, "type", "veth", "peer", "name", ln, "netns", p.nat)
	run(t, "ip", "link", "add", lb, "netns", p.b, "type", "veth", "peer", "name", lm, "netns", p.nat)
	addr := [4]string{"198.18.0.1/24", "198.18.0.254/24", "198.18.1.1/24", "198.18.1.2/24"}
	fam, fwd, nftFam, gw := "-4", "net.ipv4.ip_forward=1", "ip", "198.18.0.254"
	if v6 {
		addr = [4]string{"2001:db8:a::1/64", "2001:db8:a::fe/64", "2001:db8:b::1/64", "2001:db8:b::2/64"}
		fam, fwd, nftFam, gw = "-6", "net.ipv6.conf.all.forwarding=1", "ip6", "2001:db8:a::fe"
	}
	for i, x := range [][2]string{{p.a, la}, {p.nat, ln}, {p.nat, lm}, {p.b, lb}} {
		args := []string{"ip", "-n", x[0], fam, "addr", "add", addr[i], "dev", x[1]}
		if v6 {
			args = append(args, "nodad")
		}
		run(t, args...)
	}
	if addrs != nil {
		addrs(p.a, p.b)
	}
	for _, x := range [][2]string{{p.a, la}, {p.nat, ln}, {p.nat, lm}, {p.b, lb}} {
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
	run(t, "ip", "-n", p.a, fam, "route", "add", "default", "via", gw)
	run(t, "ip", "netns", "exec", p.nat, "sysctl", "-qw", fwd)
	run(t, "ip", "netns", "exec", p.nat, "nft", "add table "+nftFam+" nat; add chain "+nftFam+
		" nat post { type nat hook postrouting priority 100; }; add rule "+nftFam+" nat post oifname "+lm+" masquerade")
	p.na, p.nb = startNode(t, p.a), startNode(t, p.b)
	ek1, _ := keyFor(t, "aes-128-gcm", "", 1)
	ek2, _ := keyFor(t, "aes-128-gcm", "", 2)
	p.aIn = netip.MustParsePrefix(addr[0]).Addr()
	p.aPub = netip.MustParsePrefix(addr[2]).Addr()
	p.bAddr = netip.MustParsePrefix(addr[3]).Addr()
	enc := &Encap{SrcPort: 4500, DstPort: 4500}
	sa := func(spi uint32, dir Direction, src, dst netip.Addr, k []byte) SA {
		return SA{SPI: spi, Dir: dir, Src: src, Dst: dst, Encap: enc, Mode: mode, EncAlg: "aes-128-gcm", EncKey: k,
			ReplayWindow: 64, ReqID: 1}
	}
	for _, x := range []struct {
		n *node
		s SA
	}{
		{p.na, sa(0x11, DirOut, p.aIn, p.bAddr, ek1)}, {p.nb, sa(0x11, DirIn, p.aPub, p.bAddr, ek1)},
		{p.nb, sa(0x22, DirOut, p.bAddr, p.aPub, ek2)}, {p.na, sa(0x22, DirIn, p.bAddr, p.aIn, ek2)},
	} {
		if err := x.n.dp.AddSA(context.Background(), x.s); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestRequireDropsCleartext: with an inbound require policy, cleartext from the protected
// network that did not come through the tunnel is dropped and counted
// (in-template-mismatches); with the policies gone, the same packets pass.
func TestRequireDropsCleartext(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	pingOK(t, r.a, "198.19.2.1") // the tunnel itself still works
	// b sends around its tunnel: marked so its steering table is skipped, via a's veth address.
	run(t, "ip", "-n", r.b, "route", "add", "198.19.1.0/24", "via", "198.18.0.1")
	run(t, "ip", "-n", r.a, "route", "add", "198.19.2.0/24", "via", "198.18.0.2")
	mark := fmt.Sprint(DefaultConfig().BypassMark)
	out, err := nsExec(t, r.b, "ping", "-c", "2", "-W", "1", "-m", mark, "-I", "198.19.2.1", "198.19.1.1")
	if err == nil {
		t.Fatalf("cleartext reached a protected address:\n%s", out)
	}
	if st := a.dp.Statistics(); st.InTemplateMismatches < 2 {
		t.Fatalf("in-template-mismatches %d, want >= 2", st.InTemplateMismatches)
	}
	for _, n := range []*node{a, b} {
		if err := n.dp.SetPolicies(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Both answer in the clear now (their steering routes are gone too).
	if out, err := nsExec(t, r.b, "ping", "-c", "2", "-W", "1", "-m", mark, "-I", "198.19.2.1", "198.19.1.1"); err != nil {
		t.Fatalf("without policies the cleartext ping should pass: %v\n%s", err, out)
	}
}

// TestRequireDropsForwardedFragments: a cleartext later fragment of a UDP datagram (no
// ports, so in_require lets the first decide) is accepted only when it is addressed to
// the router itself. Forwarded towards the protected network, it would complete, on the
// host behind, a datagram whose first fragment came decrypted through the tunnel: it is
// dropped and counted like any cleartext of the policy.
func TestRequireDropsForwardedFragments(t *testing.T) {
	r := newRigNamed(t, "esf")
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	pingOK(t, r.a, "198.19.2.1")
	run(t, "ip", "-n", r.b, "route", "add", "198.19.1.0/24", "via", "198.18.0.1")
	// A host of a's protected network that is not a itself.
	run(t, "ip", "-n", r.a, "route", "add", "blackhole", "198.19.1.200/32")
	send := func(dst netip.Addr) {
		t.Helper()
		pkt := make([]byte, 20+64)
		pkt[0], pkt[9] = 0x45, unix.IPPROTO_UDP
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		binary.BigEndian.PutUint16(pkt[4:], 0x4242)
		binary.BigEndian.PutUint16(pkt[6:], 185) // offset 1480, last fragment
		pkt[8] = 64
		copy(pkt[12:], netip.MustParseAddr("198.19.2.1").AsSlice())
		copy(pkt[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(pkt[10:], ipChecksum(pkt[:20]))
		var err error
		inNS(t, r.b, func() {
			var fd int
			if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
				return
			}
			defer unix.Close(fd)
			// b's own steering would encrypt it; the bypass mark sends it around.
			if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(DefaultConfig().BypassMark)); err != nil {
				return
			}
			err = unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	counted := func(want uint64) bool {
		for i := 0; i < 20; i++ {
			if a.dp.Statistics().InTemplateMismatches >= want {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	base := a.dp.Statistics().InTemplateMismatches
	send(netip.MustParseAddr("198.19.1.200"))
	if !counted(base + 1) {
		t.Fatalf("a forwarded cleartext fragment passed in_require (in-template-mismatches %d, want %d)",
			a.dp.Statistics().InTemplateMismatches, base+1)
	}
	// Addressed to a itself, it is left to the first fragment (which the policy drops).
	base = a.dp.Statistics().InTemplateMismatches
	send(netip.MustParseAddr("198.19.1.1"))
	if counted(base + 1) {
		t.Fatal("a later fragment addressed to the router was dropped: large ESP-in-UDP could not arrive")
	}
}

// TestDeviceMTUFromUnderlay: the ESP device's MTU is sized from the outbound SA's
// underlay, less the outer header, UDP encapsulation and the ESP overhead of its
// algorithms, not a fixed 1400: on an underlay of MTU 1400, aes-128-gcm over UDP 4500
// carries 1338-byte packets (20 + 8 + 8 + 8 + 1340 + 16 = 1400) and aes-128-cbc/sha1 on
// raw ESP 1342 (20 + 8 + 16 + 1344 + 12 = 1400). A DF ping of that size crosses, one a
// byte larger is refused with the MTU (path MTU discovery, as XFRM's tunnel mode gives),
// and without DF it crosses fragmented. When the underlay's MTU falls with the SA up,
// the device follows, but not below IPv6's 1280 (IPv6 would leave the device): the ESP
// packets of the largest inner packets are then fragmented after encryption, and a
// full-size DF ping still crosses.
func TestDeviceMTUFromUnderlay(t *testing.T) {
	for _, c := range []struct {
		name string
		o    pairOpts
		want int
	}{
		{"gcm-udp", pairOpts{enc: "aes-128-gcm", auth: "", udp: true}, 1338},
		{"cbc-sha1-raw", pairOpts{enc: "aes-128-cbc", auth: "sha1"}, 1342},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			for _, n := range []string{r.a, r.b} {
				run(t, "ip", "-n", n, "link", "set", "eth0", "mtu", "1400")
			}
			a, b := startNode(t, r.a), startNode(t, r.b)
			install(t, a, b, c.o)
			deviceMTU(t, r, c.want, 0)
			ping := func(size int, df bool) (string, error) {
				args := []string{"ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", fmt.Sprint(size), "-I", "198.19.1.1", "198.19.2.1"}
				if df {
					args = append(args, "-M", "do")
				}
				return nsExec(t, r.a, args...)
			}
			// The largest packet the device takes crosses with DF set.
			if out, err := ping(c.want-28, true); err != nil {
				t.Fatalf("full-size ping: %v\n%s", err, out)
			}
			if out, err := ping(c.want-27, true); err == nil || !strings.Contains(out, fmt.Sprintf("mtu=%d", c.want)) {
				t.Fatalf("a DF ping a byte above the device's MTU should be refused with mtu=%d: %v\n%s", c.want, err, out)
			}
			if out, err := ping(c.want+200, false); err != nil {
				t.Fatalf("ping above the MTU without DF: %v\n%s", err, out)
			}
			// The underlay shrinks with the SA up: the device follows (sized every 2 s).
			for _, n := range []string{r.a, r.b} {
				run(t, "ip", "-n", n, "link", "set", "eth0", "mtu", "1300")
			}
			deviceMTU(t, r, 1280, 10*time.Second)
			if out, err := ping(1280-28, true); err != nil {
				t.Fatalf("full-size ping over a 1300 underlay: %v\n%s", err, out)
			}
			for _, n := range []*node{a, b} {
				if st := n.dp.Statistics(); st.OutErrors != 0 {
					t.Errorf("out-errors %d: %+v", st.OutErrors, st)
				}
			}
		})
	}
}

// deviceMTU waits up to wait for ipsec0 in both of r's namespaces to have MTU want.
func deviceMTU(t *testing.T, r *rig, want int, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for _, n := range []string{r.a, r.b} {
		for {
			out := run(t, "ip", "-n", n, "link", "show", "ipsec0")
			if strings.Contains(out, fmt.Sprintf("mtu %d ", want)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: want mtu %d: %s", n, want, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestDeviceDropsCounted: packets the ESP device drops because routerd did not read them
// in time (its transmit queue to userspace full, as under GRE-over-IPsec load) show in
// out-errors; before, only `ip -s link` showed them (TX dropped) and /ip ipsec
// statistics said nothing. The out loop is held while a burst is sent, so the queue
// overflows.
func TestDeviceDropsCounted(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm"})
	pingOK(t, r.a, "198.19.2.1")
	u := a.dp.(*userspace)
	before := u.Statistics().OutErrors
	release := holdOut(t, u)
	sendBurst(t, r.a, 3000)
	release()
	var dropped uint64
	for _, l := range strings.Split(run(t, "ip", "-n", r.a, "-s", "-j", "link", "show", "ipsec0"), "\n") {
		var links []struct {
			Stats64 struct {
				TX struct{ Dropped uint64 }
			}
		}
		if json.Unmarshal([]byte(l), &links) == nil && len(links) == 1 {
			dropped = links[0].Stats64.TX.Dropped
		}
	}
	if dropped == 0 {
		t.Fatal("the device dropped nothing: the test did not overflow its queue")
	}
	if got := u.Statistics().OutErrors - before; got < dropped {
		t.Fatalf("out-errors grew by %d, the device dropped %d", got, dropped)
	}
	pingOK(t, r.a, "198.19.2.1")
}

// holdOut holds u's out loop, so that nothing is read from the ESP device, until the
// returned release is called (again at the test's end, which is harmless).
func holdOut(t testing.TB, u *userspace) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	hold := func(where string) {
		if where == "out" {
			<-ch
		}
	}
	u.hook.Store(&hold)
	release = func() {
		once.Do(func() { close(ch) })
		u.hook.Store(nil)
	}
	t.Cleanup(release)
	return release
}

// sendBurst sends n 100-byte UDP datagrams from 198.19.1.1 to 198.19.2.1 (the rig's
// LAN addresses) in namespace ns, as fast as the socket takes them.
func sendBurst(t testing.TB, ns string, n int) {
	inNS(t, ns, func() {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("198.19.1.1")}, &net.UDPAddr{IP: net.ParseIP("198.19.2.1"), Port: 9})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for range n {
			c.Write(make([]byte, 100))
		}
	})
}
