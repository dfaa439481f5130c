package esp

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDiscardNoneInKernel: a broad discard policy (0.0.0.0/0, below the encrypt
// policies, as the reference's generic policy example has it) and a none policy are
// decided in the kernel: nothing they match, and nothing the discard catches, reaches the
// userspace engine (its TUN reads do not move), the discards are counted as
// out-policy-block, the none traffic leaves in the clear by the main table even under a
// wider encrypt policy's route, and the tunnel still carries what it should.
func TestDiscardNoneInKernel(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	pfx := netip.MustParsePrefix
	any4 := pfx("0.0.0.0/0")
	ps := []Policy{
		{ID: 1, Src: pfx("198.19.1.0/24"), Dst: pfx("198.19.2.0/24"), Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
		{ID: 2, Src: pfx("198.19.2.0/24"), Dst: pfx("198.19.1.0/24"), Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
		{ID: 3, Src: any4, Dst: pfx("198.18.0.0/24"), Dir: DirOut, Action: ActionNone},
		// A wider encrypt policy (no SA) whose route covers the none policy's network.
		{ID: 4, Src: pfx("198.19.1.0/24"), Dst: any4, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 8},
		{ID: 5, Src: any4, Dst: any4, Dir: DirOut, Action: ActionDiscard},
	}
	if err := a.dp.SetPolicies(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	routes := run(t, "ip", "-n", r.a, "route", "show", "table", "220")
	t.Logf("table 220:\n%s", routes)
	if !strings.Contains(routes, "throw 198.18.0.0/24") {
		t.Errorf("no throw route for the none policy")
	}
	u := a.dp.(*userspace)
	reads := func() uint64 { return u.perf.tunReadPkts.Load() }

	pingOK(t, r.a, "198.19.2.1") // encrypt still wins over the discard below it

	before := reads()
	// none: from a's veth address to b's, in the clear by the main table.
	if out, err := nsExec(t, r.a, "ping", "-c", "3", "-i", "0.05", "-W", "1", "198.18.0.2"); err != nil {
		t.Fatalf("none policy traffic did not pass: %v\n%s", err, out)
	}
	// discard: anything else.
	run(t, "ip", "-n", r.a, "route", "add", "198.19.9.0/24", "via", "198.18.0.2")
	blocked := a.dp.Statistics().OutPolicyBlocked
	// From the veth address: from 198.19.1.1 the wider encrypt policy would match first.
	if out, err := nsExec(t, r.a, "ping", "-c", "3", "-i", "0.05", "-W", "1", "-I", "198.18.0.1", "198.19.9.9"); err == nil {
		t.Fatalf("discarded traffic passed:\n%s", out)
	}
	if got := a.dp.Statistics().OutPolicyBlocked; got < blocked+3 {
		t.Errorf("out-policy-block %d, want >= %d", got, blocked+3)
	}
	if got := reads(); got != before {
		t.Errorf("%d packets of none/discard policies went through the userspace engine", got-before)
	}
	// Replacing the policies keeps the counted discards.
	blocked = a.dp.Statistics().OutPolicyBlocked
	if err := a.dp.SetPolicies(context.Background(), ps[:2]); err != nil {
		t.Fatal(err)
	}
	if got := a.dp.Statistics().OutPolicyBlocked; got < blocked {
		t.Errorf("out-policy-block went back from %d to %d", blocked, got)
	}
	if routes := run(t, "ip", "-n", r.a, "route", "show", "table", "220"); strings.Contains(routes, "throw") {
		t.Errorf("throw route stayed:\n%s", routes)
	}
}

// TestBenchUnmatchedUnderDiscard measures iperf3 TCP from a to b's veth address on the
// same namespaces in three set-ups, one after the other, twice each: no policies (the
// kernel alone); the reference's generic discard policy (src-address=198.18.0.1
// protocol=udp src-port=1701 dst-address=0.0.0.0/0 action=discard) as routerd now applies
// it (nftables, no route); and the same with the route 0.0.0.0/0 into the ESP device that
// the previous steering installed for it, so that all unmatched traffic crossed the
// userspace engine and left in the clear through its raw socket. It asserts only that
// each carries traffic; the figures go to docs/perf.md.
//
//	ESP_BENCH=1 go test -count=1 -run TestBenchUnmatchedUnderDiscard -v ./ike/esp/
func TestBenchUnmatchedUnderDiscard(t *testing.T) {
	if os.Getenv("ESP_BENCH") == "" {
		t.Skip("benchmark rig: set ESP_BENCH=1")
	}
	r := newRig(t)
	a := startNode(t, r.a)
	generic := []Policy{{ID: 1, Src: netip.MustParsePrefix("198.18.0.1/32"), Dst: netip.MustParsePrefix("0.0.0.0/0"),
		Protocol: 17, SrcPort: 1701, Dir: DirOut, Action: ActionDiscard}}
	ctx := context.Background()
	setup := map[string]func(){
		"kernel": func() { a.dp.SetPolicies(ctx, nil) },
		"now":    func() { a.dp.SetPolicies(ctx, generic) },
		"before": func() {
			a.dp.SetPolicies(ctx, generic)
			run(t, "ip", "-n", r.a, "route", "replace", "default", "dev", "ipsec0", "src", "198.18.0.1", "table", "220")
		},
	}
	res := map[string]float64{}
	for i := 0; i < 2; i++ {
		for _, name := range []string{"kernel", "now", "before"} {
			exec.Command("ip", "-n", r.a, "route", "del", "default", "table", "220").Run()
			setup[name]()
			if out, err := nsExec(t, r.a, "ping", "-c", "1", "-W", "2", "198.18.0.2"); err != nil {
				t.Fatalf("%s: ping: %v\n%s", name, err, out)
			}
			bps := iperf(t, r.a, r.b, "198.18.0.2", 3).bps
			if bps <= 0 {
				t.Fatalf("%s: nothing carried", name)
			}
			res[name] += bps / 2
		}
	}
	t.Logf("unmatched TCP under a discard policy: kernel %.0f Mbit/s, now %.0f Mbit/s, before %.0f Mbit/s; now/before %.1fx, now/kernel %.2f",
		res["kernel"]/1e6, res["now"]/1e6, res["before"]/1e6, res["now"]/res["before"], res["now"]/res["kernel"])
}
