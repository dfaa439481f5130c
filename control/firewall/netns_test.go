package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/value"
)

// topo is client — router — server in three namespaces:
// client 198.18.1.2/24 (gw 198.18.1.1), server 198.19.2.2/24 (gw 198.19.2.1).
type topo struct {
	c, r, s string
	rfd     *os.File
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and nftables")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (package nftables) to inspect the ruleset")
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	tp := &topo{c: "fwc" + id, r: "fwr" + id, s: "fws" + id}
	for _, n := range []string{tp.c, tp.r, tp.s} {
		sh(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	sh(t, "ip", "link", "add", "c0", "netns", tp.c, "type", "veth", "peer", "name", "lan", "netns", tp.r)
	sh(t, "ip", "link", "add", "s0", "netns", tp.s, "type", "veth", "peer", "name", "wan", "netns", tp.r)
	for _, c := range [][]string{
		{tp.c, "addr", "add", "198.18.1.2/24", "dev", "c0"}, {tp.c, "link", "set", "c0", "up"},
		{tp.c, "link", "set", "lo", "up"}, {tp.c, "route", "add", "default", "via", "198.18.1.1"},
		{tp.s, "addr", "add", "198.19.2.2/24", "dev", "s0"}, {tp.s, "link", "set", "s0", "up"},
		{tp.s, "link", "set", "lo", "up"}, {tp.s, "route", "add", "default", "via", "198.19.2.1"},
		{tp.r, "addr", "add", "198.18.1.1/24", "dev", "lan"}, {tp.r, "link", "set", "lan", "up"},
		{tp.r, "addr", "add", "198.19.2.1/24", "dev", "wan"}, {tp.r, "link", "set", "wan", "up"},
		{tp.r, "link", "set", "lo", "up"},
	} {
		sh(t, append([]string{"ip", "-n"}, c...)...)
	}
	sh(t, "ip", "netns", "exec", tp.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// Wait for the links to carry traffic.
	for i := 0; i < 30 && !(tp.ping(tp.c, "198.18.1.1") && tp.ping(tp.s, "198.19.2.1")); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	f, err := os.Open("/run/netns/" + tp.r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tp.rfd = f
	return tp
}

// udp sends one datagram from the client namespace to dst:port and returns the source
// address:port the server saw, or "" when nothing arrived.
func (tp *topo) udp(t *testing.T, from, to, dst string, port int) string {
	return tp.udpTo(t, from, to, dst, port, port)
}

func (tp *topo) ping(ns, dst string) bool {
	return exec.Command("ip", "netns", "exec", ns, "ping", "-c1", "-W1", dst).Run() == nil
}

type rig struct {
	e   *Engine
	ex  *control.Executor
	in  *script.Interp
	con *script.Console
	reg *prometheus.Registry
	// stop stops the engine (cleanup does it too).
	stop func()
}

func newRig(t *testing.T, tp *topo) *rig {
	t.Helper()
	return newRigIn(t, tp, t.TempDir())
}

// newRigIn starts an engine over a store in data dir dir.
func newRigIn(t *testing.T, tp *topo, dir string) *rig {
	t.Helper()
	return newRigEx(t, tp, controltest.NewIn(t, dir))
}

// newRigEx starts an engine over executor ex.
func newRigEx(t *testing.T, tp *topo, ex *control.Executor) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	e, err := Start(ctx, ex, reg, Options{NetNS: int(tp.rfd.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	stop := func() { cancel(); <-e.exited }
	t.Cleanup(stop)
	return &rig{e: e, ex: ex, stop: stop, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}, reg: reg}
}

// restart stops r's engine (if it still runs) and starts another over the same store and
// console, as a restart of routerd does.
func (r *rig) restart(t *testing.T, tp *topo) *rig {
	t.Helper()
	r.stop()
	r2 := newRigEx(t, tp, r.ex)
	r2.in, r2.con = r.in, r.con
	return r2
}

// run runs console source and applies it.
func (r *rig) run(t *testing.T, src string) string {
	t.Helper()
	out, err := r.try(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return out
}

func (r *rig) try(src string) (string, error) {
	var b strings.Builder
	err := r.in.Run(context.Background(), r.con, src, &b)
	if aerr := r.e.Reconcile(context.Background()); aerr != nil && err == nil {
		return b.String(), aerr
	}
	return b.String(), err
}

func ruleset(t *testing.T, tp *topo) string {
	return sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "ruleset")
}

func TestNATAndFilter(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	// No NAT: the server sees the client's address.
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5000); !strings.HasPrefix(got, "198.18.1.2:") {
		t.Fatalf("without NAT the server saw %q", got)
	}
	r.run(t, `/ip firewall nat add chain=srcnat action=masquerade out-interface=wan`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5001); !strings.HasPrefix(got, "198.19.2.1:") {
		t.Fatalf("masquerade: server saw %q\n%s", got, ruleset(t, tp))
	}
	// src-nat with to-addresses and to-ports, placed before the masquerade.
	sh(t, "ip", "-n", tp.r, "addr", "add", "198.19.2.9/24", "dev", "wan")
	r.run(t, `/ip firewall nat add chain=srcnat action=src-nat to-addresses=198.19.2.9 protocol=udp dst-port=5002 to-ports=7000 place-before=0`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5002); got != "198.19.2.9:7000" {
		t.Fatalf("src-nat: server saw %q\n%s", got, ruleset(t, tp))
	}
	// dst-nat: the client talks to the router's LAN address, the server answers.
	r.run(t, `/ip firewall nat add chain=dstnat action=dst-nat dst-address=198.18.1.1 protocol=udp dst-port=6000 to-addresses=198.19.2.2 to-ports=6001`)
	if got := tp.udpTo(t, tp.c, tp.s, "198.18.1.1", 6000, 6001); !strings.HasPrefix(got, "198.19.2.1:") {
		t.Fatalf("dst-nat: nothing reached the server\n%s", ruleset(t, tp))
	}
	// Filter: drop forwarded traffic to the server from an address list, then remove
	// the entry and traffic passes again.
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("ping before filter failed")
	}
	r.run(t, `/ip firewall address-list add list=blocked address=198.18.1.0/28`)
	r.run(t, `/ip firewall filter add chain=forward action=accept connection-state=established,related`)
	r.run(t, `/ip firewall filter add chain=forward action=drop src-address-list=blocked protocol=icmp comment=blocked`)
	if tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("ping passed the drop rule\n%s", ruleset(t, tp))
	}
	r.run(t, `/ip firewall address-list remove [find list=blocked]`)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("ping still dropped after the entry was removed\n%s", ruleset(t, tp))
	}
	// Only routerd's table exists.
	rs := ruleset(t, tp)
	for _, line := range strings.Split(rs, "\n") {
		if strings.HasPrefix(line, "table ") && line != "table ip routerd {" && line != "table ip6 routerd {" {
			t.Errorf("unexpected table: %s", line)
		}
	}
	// Counters: the drop rule counted the dropped ping, in print stats and in the metrics
	// by chain and comment.
	out := r.run(t, `:put [/ip firewall filter get [find comment=blocked] packets]`)
	if strings.TrimSpace(out) == "0" || strings.TrimSpace(out) == "" {
		t.Errorf("drop rule packets=%q", out)
	}
	if !r.metric(t, "filter", "forward", "blocked") {
		t.Errorf("no routerd_firewall_rule_packets_total{chain=forward,comment=blocked} >= 1")
	}
	// Connection tracking totals: the router's namespace tracks the traffic above, and
	// the gauge says what /ip firewall connection tracking print says.
	if n, max := r.gauge(t, "routerd_conntrack_entries"), r.gauge(t, "routerd_conntrack_max_entries"); n < 1 || max < n {
		t.Errorf("routerd_conntrack_entries %v, routerd_conntrack_max_entries %v; want at least one entry, max above it\n%s", n, max,
			r.run(t, `/ip firewall connection tracking print`))
	}
	r.run(t, `/ip firewall filter reset-counters [find comment=blocked]`)
	if out := strings.TrimSpace(r.run(t, `:put [/ip firewall filter get [find comment=blocked] packets]`)); out != "0" {
		t.Errorf("after reset-counters packets=%q", out)
	}
}

// udpTo is udp with the server listening on a different port than the client sends to
// (dst-nat with to-ports). The client sends from port 40000 when fixed is set.
func (tp *topo) udpTo(t *testing.T, from, to, dst string, port, listen int) string {
	t.Helper()
	srv := udpListen(t, to, listen)
	defer srv.Close()
	c := udpDial(t, from, "", dst, port)
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		return ""
	}
	return received(srv)
}

// TestLargeAddressList: a list of 20,000 entries spans many netlink messages; every
// entry is in the kernel's set (the last one too) and nothing else is.
func TestLargeAddressList(t *testing.T) {
	tp := newTopo(t)
	k := &Kernel{NetNS: int(tp.rfd.Fd())}
	var ents []Entry
	for i := 0; i < 20000; i++ {
		j := 2 * i
		a := netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		ents = append(ents, Entry{From: a, To: a})
	}
	apply := func(ents []Entry) {
		pl := Compile(Config{Rules: []*Rule{rule(1, "filter", "chain", "forward", "action", "drop", "src-address-list", "big")},
			Lists: map[string][]Entry{"big": ents}})
		if err := k.Apply(pl, map[string][]Entry{"big": ents}); err != nil {
			t.Fatal(err)
		}
	}
	apply(ents)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("client not in the list was dropped")
	}
	client := netip.MustParseAddr("198.18.1.2")
	apply(append(ents, Entry{From: client, To: client}))
	if tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("client at the end of the list passed")
	}
}

// ipv6 gives the client, router and server IPv6 addresses (2001:db8:1::/64 on the
// client's side, 2001:db8:2::/64 on the server's), turns forwarding on and waits a
// little for the path; ping6 pings the server from the client once.
func (tp *topo) ipv6(t *testing.T) (ping6 func() bool) {
	t.Helper()
	for _, c := range [][]string{
		{tp.c, "addr", "add", "2001:db8:1::2/64", "dev", "c0", "nodad"}, {tp.c, "-6", "route", "add", "default", "via", "2001:db8:1::1"},
		{tp.s, "addr", "add", "2001:db8:2::2/64", "dev", "s0", "nodad"}, {tp.s, "-6", "route", "add", "default", "via", "2001:db8:2::1"},
		{tp.r, "addr", "add", "2001:db8:1::1/64", "dev", "lan", "nodad"}, {tp.r, "addr", "add", "2001:db8:2::1/64", "dev", "wan", "nodad"},
	} {
		sh(t, append([]string{"ip", "-n"}, c...)...)
	}
	sh(t, "ip", "netns", "exec", tp.r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	ping6 = func() bool {
		return exec.Command("ip", "netns", "exec", tp.c, "ping", "-6", "-c1", "-W1", "2001:db8:2::2").Run() == nil
	}
	for i := 0; i < 30 && !ping6(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return ping6
}

// TestIPv6Filter: /ipv6 firewall filter in the ip6 routerd table, with an address list
// and connection-state, carrying ICMPv6 and UDP.
func TestIPv6Filter(t *testing.T) {
	tp := newTopo(t)
	ping6 := tp.ipv6(t)
	if !ping6() {
		t.Fatal("no IPv6 path through the router")
	}
	r := newRig(t, tp)
	r.run(t, `/ipv6 firewall address-list add list=v6bad address=2001:db8:1::/64
/ipv6 firewall filter add chain=forward action=accept connection-state=established,related
/ipv6 firewall filter add chain=forward action=drop src-address-list=v6bad protocol=icmpv6 icmp-options=128 comment=v6drop`)
	if ping6() {
		t.Fatalf("echo request passed the drop rule\n%s", ruleset(t, tp))
	}
	if out := strings.TrimSpace(r.run(t, `:put [/ipv6 firewall filter get [find comment=v6drop] packets]`)); out == "0" {
		t.Errorf("v6drop packets=%s", out)
	}
	rs := ruleset(t, tp)
	if !strings.Contains(rs, "table ip6 routerd {") || !strings.Contains(rs, "icmpv6") {
		t.Errorf("ruleset:\n%s", rs)
	}
	r.run(t, `/ipv6 firewall filter disable [find comment=v6drop]`)
	if !ping6() {
		t.Fatalf("ping blocked with the rule disabled\n%s", ruleset(t, tp))
	}
}

// TestDynamicRules: rules another engine adds (IPsec mode-config's src-nat) apply before
// the configured ones, print with flag D and their counters, and go when withdrawn.
func TestDynamicRules(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	sh(t, "ip", "-n", tp.r, "addr", "add", "198.19.2.9/24", "dev", "wan")
	r.run(t, `/ip firewall nat add chain=srcnat action=masquerade out-interface=wan`)
	dr := r.e.Dynamic()
	if err := dr.Set("ipsec", []DynamicRule{{Table: "nat", Props: map[string]string{"chain": "srcnat", "action": "src-nat",
		"to-addresses": "198.19.2.9", "src-address": "198.18.1.0/24", "comment": "ipsec mode-config"}}}); err != nil {
		t.Fatal(err)
	}
	// A rule that cannot apply is refused and changes nothing of the owner's rules.
	if err := dr.Set("ipsec", []DynamicRule{{Table: "nat", Props: map[string]string{"chain": "srcnat", "action": "src-nat"}}}); err == nil ||
		!strings.Contains(err.Error(), "to-addresses must be specified") {
		t.Fatalf("bad dynamic rule: %v", err)
	}
	if got := dr.Rules("ipsec"); len(got) != 1 {
		t.Fatalf("refused Set changed the rules: %v", got)
	}
	r.e.Reconcile(context.Background())
	if src := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5100); !strings.HasPrefix(src, "198.19.2.9:") {
		t.Fatalf("dynamic src-nat not first: server saw %q\n%s", src, ruleset(t, tp))
	}
	if !dr.RulesApplied(false) || dr.RulesApplied(true) {
		t.Errorf("RulesApplied: v4 %v v6 %v", dr.RulesApplied(false), dr.RulesApplied(true))
	}
	if !r.metric(t, "nat", "srcnat", "ipsec mode-config") {
		t.Errorf("no metric of the dynamic rule")
	}
	out := r.run(t, `/ip firewall nat print`)
	if !strings.Contains(out, " D ") || !strings.Contains(out, "ipsec mode-config") || !strings.Contains(out, "to-addresses=198.19.2.9") {
		t.Errorf("print:\n%s", out)
	}
	// Print lists rules in the kernel's order: the dynamic src-nat first, as row 0.
	if d, m := strings.Index(out, "ipsec mode-config"), strings.Index(out, "masquerade"); d < 0 || m < d ||
		!regexp.MustCompile(`(?m)^\s*0\s+D\s`).MatchString(out) {
		t.Errorf("print not in evaluation order:\n%s", out)
	}
	// A dynamic rule's counters reset like a configured rule's, named by find or by
	// print number.
	dynPackets := func() string {
		return strings.TrimSpace(r.run(t, `:put [/ip firewall nat get [find comment="ipsec mode-config"] packets]`))
	}
	if p := dynPackets(); p == "0" || p == "" {
		t.Errorf("dynamic rule counted no packets: %q", p)
	}
	r.run(t, `/ip firewall nat reset-counters [find dynamic]`)
	if p := dynPackets(); p != "0" {
		t.Errorf("after reset-counters [find dynamic] packets=%q", p)
	}
	tp.udp(t, tp.c, tp.s, "198.19.2.2", 5102)
	r.run(t, `:foreach i in=[/ip firewall nat find] do={/ip firewall nat reset-counters $i}`)
	if p := dynPackets(); p != "0" {
		t.Errorf("after reset-counters of every rule packets=%q", p)
	}
	tp.udp(t, tp.c, tp.s, "198.19.2.2", 5103)
	r.run(t, `/ip firewall nat reset-counters-all`)
	if p := dynPackets(); p != "0" {
		t.Errorf("after reset-counters-all packets=%q", p)
	}
	// place-before=0 after that print means before every configured rule.
	r.run(t, `/ip firewall nat add chain=srcnat action=accept dst-address=198.19.3.0/24 comment=bypass place-before=0`)
	out = r.run(t, `/ip firewall nat print`)
	if b, m := strings.Index(out, "bypass"), strings.Index(out, "masquerade"); b < 0 || m < b {
		t.Errorf("place-before=0 did not put the rule first among the configured:\n%s", out)
	}
	r.run(t, `/ip firewall nat print
/ip firewall nat move [find comment=bypass] destination=0
/ip firewall nat remove [find comment=bypass]`)
	dr.Withdraw("ipsec")
	r.e.Reconcile(context.Background())
	if src := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5101); !strings.HasPrefix(src, "198.19.2.1:") {
		t.Fatalf("after withdrawal: server saw %q", src)
	}
}

// TestFastTrack: fasttrack-connection puts FastTrackMark on the connection (what the XDP
// fast path looks for) while its connection mark stays; the filter table shows the dummy
// counter rule with the fast path's counters while a fasttrack rule is enabled.
func TestFastTrack(t *testing.T) {
	tp := newTopo(t)
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Start(ctx, ex, nil, Options{NetNS: int(tp.rfd.Fd()), FastTrack: func(v6 bool) Counter {
		if v6 {
			return Counter{}
		}
		return Counter{Packets: 7, Bytes: 700}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-e.exited })
	r := &rig{e: e, ex: ex, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}}
	r.run(t, `/ip firewall mangle add chain=forward action=mark-connection new-connection-mark=web connection-state=new
/ip firewall filter add chain=forward action=fasttrack-connection connection-state=established,related comment=ft
/ip firewall filter add chain=forward action=accept connection-state=established,related
/ip firewall filter add chain=forward action=accept connection-mark=web comment=marked`)
	out := r.run(t, `/ip firewall filter print`)
	if !strings.Contains(out, FastTrackComment) || !strings.Contains(out, " D ") {
		t.Fatalf("no dummy rule:\n%s", out)
	}
	out = r.run(t, `/ip firewall filter print stats`)
	if !regexp.MustCompile(`#\s+CHAIN\s+ACTION\s+BYTES\s+PACKETS`).MatchString(out) || !strings.Contains(out, "fasttrack-connection") {
		t.Errorf("print stats columns:\n%s", out)
	}
	if !strings.Contains(out, "700") {
		t.Errorf("dummy rule without the fast path's counters:\n%s", out)
	}
	// The echo reply makes the connection established; the next request is fasttracked.
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c3", "-i0.2", "-W2", "198.19.2.2")
	ct := sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "icmp")
	want := fmt.Sprintf("mark=%d ", FastTrackMark|ConnMark("web"))
	if !strings.Contains(ct, want) {
		t.Fatalf("conntrack without %s (fasttrack bit and connection mark):\n%s\n%s", want, ct, ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "marked"); n == 0 {
		t.Errorf("connection-mark=web no longer matches a fasttracked connection")
	}
	out = r.run(t, `/ip firewall connection print detail where protocol=icmp`)
	if !regexp.MustCompile(`(?m)^ *\d+ +[A-Za-z]*F[A-Za-z]* +protocol=icmp `).MatchString(out) || !strings.Contains(out, `connection-mark=web `) {
		t.Errorf("connection without flag F:\n%s", out)
	}
	r.run(t, `/ip firewall filter disable [find comment=ft]`)
	if out := r.run(t, `/ip firewall filter print`); strings.Contains(out, FastTrackComment) {
		t.Errorf("dummy rule without a fasttrack rule:\n%s", out)
	}
	r.run(t, `/ip firewall filter enable [find comment=ft]`)
	// The dummy row is in [find] but not the operator's to remove: alone it is refused
	// with RouterOS's words, by number or id; among configured rules it is left out.
	count := func() string {
		return strings.TrimSpace(r.run(t, `:put [/ip firewall filter print count-only]`))
	}
	before := count()
	out = r.run(t, `/ip firewall filter print`)
	m := regexp.MustCompile(`(?m)^\s*(\d+)\s+D\s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no D row number in:\n%s", out)
	}
	for _, src := range []string{`/ip firewall filter remove ` + m[1], `/ip firewall filter remove [find dynamic=yes]`} {
		if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), "can not remove dynamic item") {
			t.Errorf("%s: err %v, want can not remove dynamic item", src, err)
		}
	}
	if n := count(); n != before {
		t.Errorf("rows %s after refused removes, want %s", n, before)
	}
	// The operator's bulk edits over [find] change their rules and leave the dummy row;
	// naming only it fails with RouterOS's words and changes nothing.
	for _, src := range []string{`/ip firewall filter disable ` + m[1], `/ip firewall filter set [find dynamic=yes] comment=x`} {
		if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), "can not change dynamic item") {
			t.Errorf("%s: err %v, want can not change dynamic item", src, err)
		}
	}
	r.run(t, `/ip firewall filter set [find] comment=bulk`)
	r.run(t, `/ip firewall filter disable [find]`)
	if n := strings.TrimSpace(r.run(t, `:put [/ip firewall filter print count-only where disabled and comment=bulk]`)); n != "3" {
		t.Errorf("disable [find] and set [find] comment=bulk over 3 rules and the dummy row: %s disabled with the comment\n%s",
			n, r.run(t, `/ip firewall filter print`))
	}
	r.run(t, `/ip firewall filter enable [find]`)
	if n := strings.TrimSpace(r.run(t, `:put [/ip firewall filter print count-only where disabled]`)); n != "0" {
		t.Errorf("enable [find] left %s disabled", n)
	}
	r.run(t, `/ip firewall filter remove [find]`)
	if out := r.run(t, `/ip firewall filter print`); count() != "0" || strings.Contains(out, FastTrackComment) {
		t.Errorf("remove [find] left rules:\n%s", out)
	}
}

// counter reads the packets counter of the rule with comment in menu.
func (r *rig) counter(t *testing.T, menu, comment string) int {
	t.Helper()
	out := strings.TrimSpace(r.run(t, `:put [`+menu+` get [find comment=`+comment+`] packets]`))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("packets of %s: %q", comment, out)
	}
	return n
}

// tcpConnect opens a TCP connection from one namespace to a listener in another and
// closes it, so conntrack has an entry for it.
func (tp *topo) tcpConnect(t *testing.T, from, to, dst string, port int) {
	t.Helper()
	l := tcpListen(t, to, port)
	defer l.Close()
	done := make(chan error, 1)
	go func() { // the server side of an FTP greeting
		l.SetDeadline(time.Now().Add(peerWait))
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(peerWait))
		if _, err := c.Write([]byte("220 hello\r\n")); err != nil {
			done <- err
			return
		}
		_, err = c.Read(make([]byte, 100))
		done <- err
	}()
	c, err := tcpDial(t, from, dst, port)
	if err != nil {
		t.Fatalf("tcp client: %v", err)
	}
	c.SetDeadline(time.Now().Add(peerWait))
	if _, err := c.Read(make([]byte, 100)); err != nil {
		t.Fatalf("tcp client: %v", err)
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatalf("tcp client: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("tcp server: %v", err)
	}
	c.Close()
}

// TestServicePorts: RouterOS's default service ports assign the kernel's helpers (an FTP
// control connection gets helper=ftp and connection-type=ftp matches it); disabling one
// stops it; rtsp, which the kernel lacks, is refused with the reason.
func TestServicePorts(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward connection-type=ftp action=accept comment=ftp`)
	if rs := ruleset(t, tp); !strings.Contains(rs, `ct helper set "helper/ftp/tcp"`) || !strings.Contains(rs, `ct helper set "helper/sip/udp"`) {
		t.Fatalf("no helper objects:\n%s", rs)
	}
	tp.tcpConnect(t, tp.c, tp.s, "198.19.2.2", 21)
	ct := sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "tcp", "--dport", "21")
	if !strings.Contains(ct, "helper=ftp") {
		t.Fatalf("ftp connection without the helper:\n%s\n%s", ct, ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "ftp"); n == 0 {
		t.Errorf("connection-type=ftp matched nothing\n%s", ruleset(t, tp))
	}
	sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-F")
	if _, err := r.try(`/ip firewall service-port disable ftp`); err != nil {
		t.Fatalf("%v\n%s", err, ruleset(t, tp))
	}
	if rs := ruleset(t, tp); strings.Contains(rs, `"helper/ftp/tcp"`) {
		t.Fatalf("ftp helper still there:\n%s", rs)
	}
	tp.tcpConnect(t, tp.c, tp.s, "198.19.2.2", 21)
	if ct := sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "tcp", "--dport", "21"); strings.Contains(ct, "helper=ftp") {
		t.Fatalf("helper assigned while disabled:\n%s", ct)
	}
	r.run(t, `/ip firewall service-port enable rtsp`)
	out := r.run(t, `/ip firewall service-port print detail where name=rtsp`)
	if !strings.Contains(out, "no RTSP") {
		t.Errorf("rtsp not refused:\n%s", out)
	}
	r.run(t, `/ip firewall service-port disable sctp`)
	if out := r.run(t, `/ip firewall service-port print detail where name=sctp`); !strings.Contains(out, "tracks sctp always") {
		t.Errorf("sctp without status:\n%s", out)
	}
}

// TestMatchersTraffic: dst-limit, connection-limit, per-connection-classifier, time and
// change-mss with real packets through the router.
func TestMatchersTraffic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	sh(t, "ip", "-n", tp.s, "addr", "add", "198.19.2.3/24", "dev", "s0")
	now := time.Now()
	sec := now.Hour()*3600 + now.Minute()*60 + now.Second()
	// A window of two hours around now (in routerd's zone), and one that excludes now.
	// The days name the day a window starts on: near midnight that is yesterday.
	in := fmt.Sprintf("%ds-%ds,%s", (sec+86400-3600)%86400, (sec+3600)%86400, weekdays[now.Add(-time.Hour).Weekday()])
	out := fmt.Sprintf("%ds-%ds", (sec+2*3600)%86400, (sec+3*3600)%86400)
	echo := `protocol=icmp icmp-options=8:0`
	r.run(t, `/ip firewall filter
add chain=forward `+echo+` action=passthrough packet-size=1000-1500 comment=big
add chain=forward `+echo+` action=passthrough time=`+in+` comment=now
add chain=forward `+echo+` action=passthrough time=`+out+` comment=later
add chain=forward `+echo+` action=passthrough per-connection-classifier=both-addresses:2/0 comment=pcc0
add chain=forward `+echo+` action=passthrough per-connection-classifier=both-addresses:2/1 comment=pcc1
add chain=forward `+echo+` dst-address=198.19.2.3 action=passthrough per-connection-classifier=both-addresses-and-ports:2/0 comment=pccp0
add chain=forward `+echo+` dst-address=198.19.2.3 action=passthrough per-connection-classifier=both-addresses-and-ports:2/1 comment=pccp1
add chain=forward `+echo+` action=passthrough connection-limit=1,32 comment=over
add chain=forward `+echo+` action=accept dst-limit=2,2,dst-address comment=limited
add chain=forward `+echo+` action=accept comment=rest
/ip firewall mangle add chain=forward protocol=tcp tcp-flags=syn action=change-mss new-mss=1000 passthrough=yes comment=mss`)
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c3", "-i0.2", "-W2", "198.19.2.2")
	if n := r.counter(t, "/ip firewall filter", "over"); n != 0 {
		t.Errorf("connection-limit=1,32 matched with one connection: %d", n)
	}
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c1", "-W2", "198.19.2.3")
	if n := r.counter(t, "/ip firewall filter", "over"); n != 1 {
		t.Errorf("connection-limit=1,32 with a second connection: %d, want 1", n)
	}
	if n := r.counter(t, "/ip firewall filter", "now"); n != 4 {
		t.Errorf("time=%s matched %d of 4", in, n)
	}
	if n := r.counter(t, "/ip firewall filter", "later"); n != 0 {
		t.Errorf("time=%s matched %d", out, n)
	}
	// One flow's packets all fall in one class.
	a, b := r.counter(t, "/ip firewall filter", "pcc0"), r.counter(t, "/ip firewall filter", "pcc1")
	if a+b != 4 || a == 2 { // the flows have 3 and 1 packets
		t.Errorf("per-connection-classifier classes %d+%d, want 4 packets", a, b)
	}
	// With ports, ICMP (no ports) hashes its addresses only, as RouterOS does: both pings
	// to .3 (1 and 10 echoes) fall in one class. Read from the header, the "ports" were
	// the echo's type, code and checksum, and spread one ping over the classes.
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c10", "-i0.1", "-W2", "198.19.2.3")
	a, b = r.counter(t, "/ip firewall filter", "pccp0"), r.counter(t, "/ip firewall filter", "pccp1")
	if a+b != 11 || (a != 0 && b != 0) {
		t.Errorf("per-connection-classifier with ports spread ICMP over the classes: %d+%d, want 11 in one", a, b)
	}
	// A burst of 20 to one destination: dst-limit lets the burst of 2 and about 2/s through.
	lim0, rest0 := r.counter(t, "/ip firewall filter", "limited"), r.counter(t, "/ip firewall filter", "rest")
	exec.Command("ip", "netns", "exec", tp.c, "ping", "-c20", "-i0.01", "-W1", "198.19.2.2").Run()
	lim := r.counter(t, "/ip firewall filter", "limited") - lim0
	rest := r.counter(t, "/ip firewall filter", "rest") - rest0
	if lim < 1 || rest < 1 || lim+rest != 20 {
		t.Errorf("dst-limit=2,2,dst-address: %d limited, %d over the limit", lim, rest)
	}
	// The server sees the MSS change-mss wrote into the client's SYN.
	l := tcpListen(t, tp.s, 5300)
	mssc := make(chan int, 1)
	go func() {
		l.SetDeadline(time.Now().Add(peerWait))
		c, err := l.AcceptTCP()
		if err != nil {
			mssc <- -1
			return
		}
		defer c.Close()
		raw, _ := c.SyscallConn()
		mss := -1
		raw.Control(func(fd uintptr) { mss, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
		mssc <- mss
	}()
	if c, err := tcpDial(t, tp.c, "198.19.2.2", 5300); err != nil {
		t.Errorf("connect through change-mss: %v", err)
	} else {
		c.Close()
	}
	if mss := <-mssc; mss <= 0 || mss > 1000 {
		t.Errorf("server's MSS %d, want at most 1000", mss)
	}
	if n := r.counter(t, "/ip firewall mangle", "mss"); n == 0 {
		t.Errorf("change-mss rule counted nothing")
	}
	// packet-size: only the 1228-byte echo is in 1000-1500.
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c1", "-s1200", "-W2", "198.19.2.2")
	if n := r.counter(t, "/ip firewall filter", "big"); n != 1 {
		t.Errorf("packet-size=1000-1500 matched %d, want 1", n)
	}
}

func TestTimeWindows(t *testing.T) {
	h := time.Hour
	// 8h-17h Monday in UTC+2: 6h-15h Monday UTC.
	if w := timeWindows(8*h, 17*h, []int{1}, 7200, 0); len(w) != 1 || w[0].from != 6*3600 || w[0].to != 15*3600 || w[0].days[0] != 1 {
		t.Errorf("%+v", w)
	}
	// 1h-3h Monday in UTC+2: 23h-24h Sunday and 0h-1h Monday.
	w := timeWindows(1*h, 3*h, []int{1}, 7200, 0)
	if len(w) != 2 || w[0].from != 23*3600 || w[0].days[0] != 0 || w[1].to != 3600 || w[1].days[0] != 1 {
		t.Errorf("%+v", w)
	}
	// 22h-2h Saturday in UTC: 22h-24h Saturday, 0h-2h Sunday.
	w = timeWindows(22*h, 2*h, []int{6}, 0, 0)
	if len(w) != 2 || w[0].days[0] != 6 || w[1].days[0] != 0 || w[1].to != 7200 {
		t.Errorf("%+v", w)
	}
	// The kernel's meta day in UTC+1 (sys_tz), the rule in UTC: 23h-24h Monday UTC is
	// already Tuesday for meta day.
	w = timeWindows(22*h, 24*h, []int{1}, 0, 3600)
	if len(w) != 2 || w[0].from != 22*3600 || w[0].to != 23*3600 || w[0].days[0] != 1 || w[1].from != 23*3600 || w[1].to != 24*3600 || w[1].days[0] != 2 {
		t.Errorf("sys_tz +1h: %+v", w)
	}
	// Every day 8h-17h in UTC+5:45: one window of hours, on every day.
	w = timeWindows(8*h, 17*h, []int{0, 1, 2, 3, 4, 5, 6}, 5*3600+45*60, 0)
	if len(w) != 1 || w[0].from != 2*3600+15*60 || w[0].to != 11*3600+15*60 || len(w[0].days) != 7 {
		t.Errorf("every day: %+v", w)
	}
	for _, bad := range []string{"8h", "8h-25h", "8h-9h,funday"} {
		if _, _, _, err := parseTime(bad); err == nil {
			t.Errorf("time=%s accepted", bad)
		}
	}
}

// TestNetmapRedirectSame: netmap both ways (a client's /24 mapped one to one onto another
// /24; a virtual /24 mapped onto the server's), redirect to the router itself, and same
// (one address of a range per client, the same each time), seen by the receivers.
func TestNetmapRedirectSame(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	// srcnat netmap: 198.18.1.2 leaves as 198.19.5.2 (the server routes it back via the router).
	r.run(t, `/ip firewall nat add chain=srcnat action=netmap src-address=198.18.1.0/24 to-addresses=198.19.5.0/24 protocol=udp dst-port=5500`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5500); !strings.HasPrefix(got, "198.19.5.2:") {
		t.Fatalf("netmap srcnat: server saw %q\n%s", got, ruleset(t, tp))
	}
	// dstnat netmap: 198.19.6.2 reaches 198.19.2.2.
	r.run(t, `/ip firewall nat add chain=dstnat action=netmap dst-address=198.19.6.0/24 to-addresses=198.19.2.0/24`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.6.2", 5501); !strings.HasPrefix(got, "198.18.1.2:") {
		t.Fatalf("netmap dstnat: server saw %q\n%s", got, ruleset(t, tp))
	}
	// redirect: a datagram for the server's port 5502 goes to the router's port 5503.
	r.run(t, `/ip firewall nat add chain=dstnat action=redirect protocol=udp dst-port=5502 to-ports=5503`)
	if got := tp.udpTo(t, tp.c, tp.r, "198.19.2.2", 5502, 5503); !strings.HasPrefix(got, "198.18.1.2:") {
		t.Fatalf("redirect: the router's listener saw %q\n%s", got, ruleset(t, tp))
	}
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5502); got != "" {
		t.Fatalf("redirect: the server still got the datagram from %q", got)
	}
	// same: every connection of a client leaves from the same address of the range.
	r.run(t, `/ip firewall nat add chain=srcnat action=same to-addresses=198.19.2.20-198.19.2.23 protocol=udp dst-port=5504-5505`)
	a := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5504)
	b := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5505)
	ha, _, _ := strings.Cut(a, ":")
	hb, _, _ := strings.Cut(b, ":")
	if ip, err := netip.ParseAddr(ha); err != nil || ip.Compare(netip.MustParseAddr("198.19.2.20")) < 0 || ip.Compare(netip.MustParseAddr("198.19.2.23")) > 0 || ha != hb {
		t.Fatalf("same: server saw %q and %q\n%s", a, b, ruleset(t, tp))
	}
	onlyRouterdTables(t, tp)
}

func onlyRouterdTables(t *testing.T, tp *topo) {
	t.Helper()
	for _, line := range strings.Split(ruleset(t, tp), "\n") {
		if strings.HasPrefix(line, "table ") && line != "table ip routerd {" && line != "table ip6 routerd {" {
			t.Errorf("unexpected table: %s", line)
		}
	}
}

// TestAddressListTimers: a configured entry with timeout= leaves the configuration (and
// the kernel) when it expires; an entry given by DNS name follows the name's answers.
func TestAddressListTimers(t *testing.T) {
	tp := newTopo(t)
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Start(ctx, ex, nil, Options{NetNS: int(tp.rfd.Fd()), DNSRefresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-e.exited })
	r := &rig{e: e, ex: ex, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}}
	r.run(t, `/ip firewall address-list add list=timed address=198.19.7.7 timeout=6s
/ip firewall address-list add list=timed address=198.19.7.8
/ip firewall filter add chain=forward src-address-list=timed action=drop`)
	// A second entry with the same list and address is refused, timeout or not, and
	// nothing is added (RouterOS: "failure: already have such entry").
	for _, dup := range []string{
		`/ip firewall address-list add list=timed address=198.19.7.8`,
		`/ip firewall address-list add list=timed address=198.19.7.8/32 timeout=1h`,
		`/ip firewall address-list add list=timed address=198.19.7.7`,
		`/ip firewall address-list set [find address=198.19.7.7] address=198.19.7.8`,
	} {
		if _, err := r.try(dup); err == nil || !strings.Contains(err.Error(), "already have such entry") {
			t.Errorf("%s: err %v, want already have such entry", dup, err)
		}
	}
	if n := strings.TrimSpace(r.run(t, `:put [/ip firewall address-list print count-only]`)); n != "2" {
		t.Fatalf("duplicates added: %s entries\n%s", n, r.run(t, `/ip firewall address-list print`))
	}
	r.run(t, `/ip firewall address-list add list=other address=198.19.7.8
/ip firewall address-list remove [find list=other]`)
	// A timed entry is dynamic (D) and print shows its time left counting down; every
	// entry shows when it was added.
	r.run(t, `/ip firewall address-list add list=countdown address=198.19.7.9 timeout=1h`)
	time.Sleep(1500 * time.Millisecond)
	out := r.run(t, `/ip firewall address-list print detail where list=countdown or address=198.19.7.8`)
	if !regexp.MustCompile(`(?m)^\s*\d+\s+D\s+list=countdown address=198\.19\.7\.9 timeout=59m5\ds\s+creation-time="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"`).MatchString(out) {
		t.Errorf("timed entry without D, creation-time or countdown:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\s*\d+\s+list=timed address=198\.19\.7\.8 creation-time="\d{4}-`).MatchString(out) {
		t.Errorf("static entry without creation-time, or flagged:\n%s", out)
	}
	// Print computes those (listRowProps): an applied entry holds no State, where
	// 100,000 entries held 40 MB of maps (issue 15).
	its, _ := r.ex.Items(listPath(false))
	for _, it := range its {
		if st, ok := r.ex.State.Get(listPath(false), it.ID); ok {
			t.Errorf("entry %v holds a State: %+v", it.Props, st)
		}
	}
	// Dynamic in RouterOS: not exported (an import would give it its whole timeout again).
	if exp := r.run(t, `/ip firewall address-list export`); strings.Contains(exp, "198.19.7.9") || !strings.Contains(exp, "198.19.7.8") {
		t.Errorf("export writes the timed entry, or not the static one:\n%s", exp)
	}
	r.run(t, `/ip firewall address-list remove [find list=countdown]`)
	set := func(name string) string {
		out, _ := exec.Command("ip", "netns", "exec", tp.r, "nft", "list", "set", "ip", TableName, name).CombinedOutput()
		return string(out)
	}
	// .7 (6 s) and .8 (permanent) are adjacent: each keeps its own timeout in the kernel,
	// which expires .7 even while routerd is stopped (they were one permanent .7-.8).
	if s := set("list/timed"); !regexp.MustCompile(`198\.19\.7\.7 timeout [0-6]s\S* expires`).MatchString(s) ||
		regexp.MustCompile(`198\.19\.7\.8 timeout`).MatchString(s) {
		t.Fatalf("timed entry not in the kernel with its own timeout, or the permanent one timed:\n%s", s)
	}
	deadline := time.Now().Add(20 * time.Second)
	for strings.TrimSpace(r.run(t, `:put [/ip firewall address-list print count-only where list=timed]`)) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("timed entry still configured:\n%s", r.run(t, `/ip firewall address-list print`))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := set("list/timed"); strings.Contains(s, "198.19.7.7") || !strings.Contains(s, "198.19.7.8") {
		t.Fatalf("kernel set after expiry:\n%s", s)
	}

	// A DNS server on a loopback address of its own, as /ip dns servers.
	var answer atomic.Value
	answer.Store("198.19.8.1")
	srvAddr := fmt.Sprintf("127.77.%d.%d", os.Getpid()%250+1, time.Now().UnixNano()%250+1)
	pc, err := net.ListenPacket("udp", srvAddr+":53")
	if err != nil {
		t.Skipf("no DNS server for the test: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA && q.Question[0].Name == "web.fw.test." {
			rr, _ := dns.NewRR("web.fw.test. 1 IN A " + answer.Load().(string))
			m.Answer = append(m.Answer, rr)
		}
		// A name with several addresses of each family (a round-robin host).
		for _, rec := range []string{"A 198.19.8.5", "A 198.19.8.9", "AAAA 2001:db8:8::5", "AAAA 2001:db8:8::9"} {
			if q.Question[0].Name == "pool.fw.test." && dns.StringToType[strings.Fields(rec)[0]] == q.Question[0].Qtype {
				rr, _ := dns.NewRR("pool.fw.test. 60 IN " + rec)
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	r.run(t, `/ip dns set servers=`+srvAddr+`
/ip firewall address-list add list=named address=web.fw.test
/ip firewall filter add chain=forward dst-address-list=named action=drop`)
	if s := set("list/named"); !strings.Contains(s, "198.19.8.1") {
		t.Fatalf("named entry not resolved:\n%s\n%s", s, r.run(t, `/ip firewall address-list print detail`))
	}
	answer.Store("198.19.8.2")
	deadline = time.Now().Add(20 * time.Second)
	for s := set("list/named"); !strings.Contains(s, "198.19.8.2") || strings.Contains(s, "198.19.8.1"); s = set("list/named") {
		if time.Now().After(deadline) {
			t.Fatalf("named entry not refreshed:\n%s", s)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// print shows what the name resolved to: a dynamic child entry per address.
	if out := r.run(t, `/ip firewall address-list print where list=named`); !regexp.MustCompile(`(?m);;; web\.fw\.test\s*\n\s*D\s+named\s+198\.19\.8\.2\b`).MatchString(out) ||
		strings.Contains(out, "198.19.8.1") {
		t.Errorf("no dynamic entry for the resolved address:\n%s", out)
	}
	// A name /ip dns static answers resolves from there, as RouterOS resolves it.
	r.run(t, `/ip dns static add name=host.fw.test address=198.19.9.9
/ip firewall address-list add list=st address=host.fw.test`)
	if s := set("list/st"); !strings.Contains(s, "198.19.9.9") {
		t.Fatalf("a name of /ip dns static not resolved:\n%s\n%s", s, r.run(t, `/ip firewall address-list print detail`))
	}

	// A name with several addresses puts every one in the list, each a dynamic child
	// entry (RouterOS), whether the servers or /ip dns static answer it, for /ip and
	// /ipv6 alike (QA: only the first address was added).
	r.run(t, `/ip dns static add name=multi.fw.test address=198.19.9.10
/ip dns static add name=multi.fw.test address=198.19.9.20
/ip firewall address-list add list=multi address=multi.fw.test
/ip firewall address-list add list=pool address=pool.fw.test
/ipv6 firewall address-list add list=pool6 address=pool.fw.test
/ip firewall filter add chain=forward src-address-list=multi action=drop
/ip firewall filter add chain=forward src-address-list=pool action=drop
/ipv6 firewall filter add chain=forward src-address-list=pool6 action=drop`)
	for _, c := range []struct{ family, list, menu string }{
		{"ip", "multi", "/ip"}, {"ip", "pool", "/ip"}, {"ip6", "pool6", "/ipv6"},
	} {
		want := map[string][]string{"multi": {"198.19.9.10", "198.19.9.20"}, "pool": {"198.19.8.5", "198.19.8.9"},
			"pool6": {"2001:db8:8::5", "2001:db8:8::9"}}[c.list]
		out, _ := exec.Command("ip", "netns", "exec", tp.r, "nft", "list", "set", c.family, TableName, "list/"+c.list).CombinedOutput()
		printed := r.run(t, c.menu+` firewall address-list print where list=`+c.list+` and dynamic`)
		for _, a := range want {
			if !strings.Contains(string(out), a) {
				t.Errorf("list %s: %s not in the kernel set:\n%s", c.list, a, out)
			}
			if !regexp.MustCompile(`(?m)^\s*D\s+` + c.list + `\s+` + regexp.QuoteMeta(a) + `\b`).MatchString(printed) {
				t.Errorf("list %s: no dynamic entry for %s:\n%s", c.list, a, printed)
			}
		}
	}
}

// gauge is the value of an unlabelled gauge of the rig's registry (-1 when absent).
func (r *rig) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// metric reports whether routerd_firewall_rule_packets_total has the rule of table,
// chain and comment with at least one packet.
func (r *rig) metric(t *testing.T, table, chain, comment string) bool {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "routerd_firewall_rule_packets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["comment"] == comment && labels["chain"] == chain && labels["table"] == table && m.GetCounter().GetValue() >= 1 {
				return true
			}
		}
	}
	return false
}

// TestApplyDifference: after a first Apply, the next ones send only the difference
// (appended rules, a changed chain refilled, chains, lists and counters added or
// removed); after each the table is what a rebuild from the same plan makes, and a
// rule's counter survives the changes around it. The difference compiles through a
// CompileCache as the engine's passes do.
func TestApplyDifference(t *testing.T) {
	tp := newTopo(t)
	k := &Kernel{NetNS: int(tp.rfd.Fd())}
	table := func() string {
		out := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "table", "ip", TableName)
		// Counter values and handles differ between the two ways of getting there.
		out = regexp.MustCompile(`packets \d+ bytes \d+`).ReplaceAllString(out, "")
		lines := strings.Split(out, "\n")
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	a := func(id uint64, props ...string) *Rule { return rule(id, "filter", props...) }
	lists := map[string][]Entry{"l1": {{From: netip.MustParseAddr("198.18.9.1"), To: netip.MustParseAddr("198.18.9.1")}}}
	steps := []struct {
		name  string
		rules []*Rule
		lists map[string][]Entry
	}{
		{"first", []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(2, "chain", "input", "protocol", "udp")}, nil},
		{"append", []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(2, "chain", "input", "protocol", "udp"),
			a(3, "chain", "forward", "protocol", "icmp", "action", "drop")}, nil},
		{"custom chain and list", []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(2, "chain", "input", "protocol", "udp"),
			a(3, "chain", "forward", "protocol", "icmp", "action", "drop"), a(4, "chain", "forward", "action", "jump", "jump-target", "mine"),
			a(5, "chain", "mine", "src-address-list", "l1", "action", "drop")}, lists},
		{"middle changed", []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(2, "chain", "input", "protocol", "udp"),
			a(3, "chain", "forward", "protocol", "icmp", "action", "accept"), a(4, "chain", "forward", "action", "jump", "jump-target", "mine"),
			a(5, "chain", "mine", "src-address-list", "l1", "action", "drop")}, lists},
		{"chain and list gone", []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(3, "chain", "forward", "protocol", "icmp")}, nil},
	}
	cc := &CompileCache{} // as the engine keeps one; the rebuild compiles without
	for _, s := range steps {
		if err := k.Apply(Compile(Config{Rules: s.rules, Lists: s.lists, Cache: cc}), s.lists); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := table()
		if err := (&Kernel{NetNS: k.NetNS}).Apply(Compile(Config{Rules: s.rules, Lists: s.lists}), s.lists); err != nil {
			t.Fatalf("%s: rebuild: %v", s.name, err)
		}
		if want := table(); got != want {
			t.Fatalf("%s: the difference left\n%s\nthe rebuild makes\n%s", s.name, got, want)
		}
	}
	// Traffic counted by rule 3 stays counted while the rules around it come and go.
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c1", "-W2", "198.19.2.2")
	r3 := func() Counter {
		cs, err := k.Counters(false, false)
		if err != nil {
			t.Fatal(err)
		}
		return cs[CounterName(RuleKey{"filter", 3})]
	}
	before := r3()
	if before.Packets == 0 {
		t.Fatalf("rule 3 counted nothing\n%s", ruleset(t, tp))
	}
	if err := k.Apply(Compile(Config{Rules: []*Rule{a(6, "chain", "forward", "protocol", "udp"), a(3, "chain", "forward", "protocol", "icmp")}}), nil); err != nil {
		t.Fatal(err)
	}
	if after := r3(); after.Packets < before.Packets {
		t.Fatalf("rule 3's counter went from %d to %d", before.Packets, after.Packets)
	}
	// A table changed behind routerd's back: the next Apply rebuilds it.
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)
	rules := []*Rule{a(1, "chain", "forward", "protocol", "tcp"), a(6, "chain", "forward", "protocol", "udp"), a(7, "chain", "forward", "protocol", "icmp")}
	if err := k.Apply(Compile(Config{Rules: rules}), nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ruleset(t, tp), "counter name"); n != 3 {
		t.Fatalf("after the table was deleted behind routerd, %d rules:\n%s", n, ruleset(t, tp))
	}
}

// TestInBridgePort: a bridge with two ports in the router, a host behind each; a rule
// dropping by in-bridge-port drops the pings that enter through that port only, its
// negation the others, and out-bridge-port is refused with the reason.
func TestInBridgePort(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	id := strings.TrimPrefix(tp.r, "fwr")
	h1, h2 := "fwh1"+id, "fwh2"+id
	for _, n := range []string{h1, h2} {
		sh(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	sh(t, "ip", "-n", tp.r, "link", "add", "br0", "type", "bridge")
	for i, h := range []string{h1, h2} {
		port := fmt.Sprintf("p%d", i+1)
		sh(t, "ip", "link", "add", "h0", "netns", h, "type", "veth", "peer", "name", port, "netns", tp.r)
		sh(t, "ip", "-n", tp.r, "link", "set", port, "master", "br0", "up")
		sh(t, "ip", "-n", h, "addr", "add", fmt.Sprintf("198.18.50.%d/24", i+2), "dev", "h0")
		sh(t, "ip", "-n", h, "link", "set", "h0", "up")
	}
	sh(t, "ip", "-n", tp.r, "addr", "add", "198.18.50.1/24", "dev", "br0")
	sh(t, "ip", "-n", tp.r, "link", "set", "br0", "up")
	for i := 0; i < 50 && !(tp.ping(h1, "198.18.50.1") && tp.ping(h2, "198.18.50.1")); i++ {
		time.Sleep(200 * time.Millisecond)
	}
	if !tp.ping(h1, "198.18.50.1") || !tp.ping(h2, "198.18.50.1") {
		t.Fatal("the bridge does not carry pings before any rule")
	}
	r.run(t, `/ip firewall filter add chain=input in-bridge-port=p1 protocol=icmp action=drop comment=p1`)
	if tp.ping(h1, "198.18.50.1") {
		t.Fatalf("a ping entering through p1 passed\n%s", ruleset(t, tp))
	}
	if !tp.ping(h2, "198.18.50.1") {
		t.Fatalf("a ping entering through p2 was dropped\n%s", ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "p1"); n == 0 {
		t.Error("the in-bridge-port rule counted nothing")
	}
	r.run(t, `/ip firewall filter set [find comment=p1] in-bridge-port=!p1`)
	if !tp.ping(h1, "198.18.50.1") || tp.ping(h2, "198.18.50.1") {
		t.Fatalf("in-bridge-port=!p1: p1 should pass and p2 not\n%s", ruleset(t, tp))
	}
	// routerd's own packets enter through no port: refused where only they pass.
	for _, chain := range []string{"output"} {
		if _, err := r.try(`/ip firewall filter add chain=` + chain + ` in-bridge-port=p2 action=drop`); err == nil ||
			!strings.Contains(err.Error(), "incoming bridge port matching not possible in "+chain+" chain") {
			t.Fatalf("in-bridge-port in %s: %v", chain, err)
		}
	}
	// mangle prerouting sees the port of a packet that is then routed.
	sh(t, "ip", "-n", h1, "route", "add", "default", "via", "198.18.50.1")
	sh(t, "ip", "-n", h2, "route", "add", "default", "via", "198.18.50.1")
	sh(t, "ip", "-n", tp.s, "route", "add", "198.18.50.0/24", "via", "198.19.2.1")
	r.run(t, `/ip firewall filter remove [find comment=p1]
/ip firewall raw add chain=prerouting in-bridge-port=p2 protocol=icmp dst-address=198.19.2.2 action=drop`)
	for i := 0; i < 20 && !tp.ping(h1, "198.19.2.2"); i++ {
		time.Sleep(200 * time.Millisecond)
	}
	if !tp.ping(h1, "198.19.2.2") {
		t.Fatalf("raw prerouting in-bridge-port=p2: h1 did not reach the server\n%s", ruleset(t, tp))
	}
	if tp.ping(h2, "198.19.2.2") {
		t.Fatalf("raw prerouting in-bridge-port=p2: h2 reached the server\n%s", ruleset(t, tp))
	}
	if out := ruleset(t, tp); !strings.Contains(out, "table bridge routerd-ip") {
		t.Fatalf("no bridge table:\n%s", out)
	}
	// Forwarded packets: the port rides on the packet mark through routing, beside a
	// packet mark mangle set, to filter forward (and a custom chain reached from it).
	r.run(t, `/ip firewall raw remove [find]
/ip firewall mangle add chain=prerouting protocol=icmp action=mark-packet new-packet-mark=pm passthrough=yes
/ip firewall filter add chain=forward action=jump jump-target=fromports
/ip firewall filter add chain=fromports in-bridge-port=p2 packet-mark=pm protocol=icmp action=drop comment=fwd-p2`)
	if !tp.ping(h1, "198.19.2.2") {
		t.Fatalf("forward in-bridge-port=p2: h1 did not reach the server\n%s", ruleset(t, tp))
	}
	if tp.ping(h2, "198.19.2.2") {
		t.Fatalf("forward in-bridge-port=p2: h2 reached the server\n%s", ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "fwd-p2"); n == 0 {
		t.Error("the forward in-bridge-port rule counted nothing")
	}
	// A list of ports: p1 and p2 are one class, so both are dropped; !list lets both pass
	// and the server (which entered no bridge) is matched by the negation.
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) ([]string, error) { // the link engine's part
		if name == "ports" {
			return []string{"p1", "p2"}, nil
		}
		return nil, nil
	}
	r.e.passMu.Unlock()
	r.run(t, `/interface list add name=ports`)
	// A rule naming p1 alone splits the list into two classes: the list is one kernel
	// rule looking the packet's class up in a set of both (issue 15: a rule per class).
	r.run(t, `/ip firewall mangle add chain=prerouting in-bridge-port=p1 action=passthrough comment=split`)
	r.run(t, `/ip firewall filter set [find comment=fwd-p2] in-bridge-port-list=ports !in-bridge-port`)
	if tp.ping(h1, "198.19.2.2") || tp.ping(h2, "198.19.2.2") {
		t.Fatalf("forward in-bridge-port-list=ports: a ping passed\n%s", ruleset(t, tp))
	}
	// (nft shows the host-order marks of an anonymous set byte-swapped: { 0x00000100, ... }.)
	if out := ruleset(t, tp); !regexp.MustCompile(`meta mark & 0x000f0000 == \{ 0x[0-9a-f]+, 0x[0-9a-f]+ \}`).MatchString(out) {
		t.Fatalf("in-bridge-port-list=ports of two classes: no set lookup of both classes\n%s", out)
	}
	if n, m := r.counter(t, "/ip firewall filter", "fwd-p2"), r.counter(t, "/ip firewall mangle", "split"); n < 2 || m == 0 {
		t.Fatalf("in-bridge-port-list=ports counted %d, the p1 rule %d", n, m)
	}
	r.run(t, `/ip firewall mangle remove [find comment=split]`)
	// !ports: the requests entering through the ports pass; the server's replies, which
	// entered through no bridge port, are what it drops.
	r.run(t, `/ip firewall filter set [find comment=fwd-p2] in-bridge-port-list=!ports dst-address=198.19.2.2`)
	if !tp.ping(h1, "198.19.2.2") {
		t.Fatalf("forward in-bridge-port-list=!ports dst-address=server: h1 did not reach the server\n%s", ruleset(t, tp))
	}
	r.run(t, `/ip firewall filter set [find comment=fwd-p2] !dst-address src-address=198.19.2.2`)
	if tp.ping(h1, "198.19.2.2") {
		t.Fatalf("forward in-bridge-port-list=!ports src-address=server: the reply passed\n%s", ruleset(t, tp))
	}
	// Without in-bridge-port rules the bridge table goes.
	r.run(t, `/ip firewall filter remove [find]
/ip firewall raw remove [find]`)
	if out := ruleset(t, tp); strings.Contains(out, "bridge") {
		t.Fatalf("the bridge table stayed:\n%s", out)
	}
}

// TestRuleAddedEntries: an entry a rule added (add-src-to-address-list) is an entry of
// the list as RouterOS has it: adding the same list and address by hand is refused, and
// a rule adding an address the list already holds shows it once, as configured.
func TestRuleAddedEntries(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall address-list add list=pingers address=198.19.2.2 comment=static
/ip firewall filter add chain=input protocol=icmp action=add-src-to-address-list address-list=pingers address-list-timeout=1h`)
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c1", "-W2", "198.18.1.1")
	sh(t, "ip", "netns", "exec", tp.s, "ping", "-c1", "-W2", "198.19.2.1")
	out := r.run(t, `/ip firewall address-list print where list=pingers`)
	if !regexp.MustCompile(`(?m)^\s*\d+\s+D\s+pingers\s+198\.18\.1\.2\b`).MatchString(out) {
		t.Fatalf("the rule's entry is not listed as dynamic:\n%s", out)
	}
	if n := strings.Count(out, "198.19.2.2"); n != 1 {
		t.Fatalf("the configured address is listed %d times:\n%s", n, out)
	}
	if d := r.run(t, `/ip firewall address-list print detail where address=198.18.1.2`); !regexp.MustCompile(`creation-time="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"`).MatchString(d) {
		t.Errorf("the rule's entry has no creation-time:\n%s", d)
	}
	for _, dup := range []string{
		`/ip firewall address-list add list=pingers address=198.18.1.2`,
		`/ip firewall address-list add list=pingers address=198.18.1.2/32 timeout=5m`,
	} {
		if _, err := r.try(dup); err == nil || !strings.Contains(err.Error(), "already have such entry") {
			t.Errorf("%s: err %v, want already have such entry", dup, err)
		}
	}
	if n := strings.TrimSpace(r.run(t, `:put [/ip firewall address-list print count-only where address=198.18.1.2 and !dynamic]`)); n != "0" {
		t.Fatalf("a configured duplicate was added: %s", n)
	}
	// Another list is another entry.
	r.run(t, `/ip firewall address-list add list=others address=198.18.1.2`)
}

// TestTimedEntriesRestart: a restarted engine finds the kernel's table and keeps each
// timed entry's time left and creation-time; without the table (a machine that started
// anew) timed entries are gone, as RouterOS's dynamic entries after a reboot.
func TestTimedEntriesRestart(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall address-list add list=timed address=198.19.7.7 timeout=1h
/ip firewall address-list add list=timed address=198.19.7.20`)
	line := func(rr *rig) (string, string) {
		out := rr.run(t, `/ip firewall address-list print detail where address=198.19.7.7`)
		m := regexp.MustCompile(`timeout=(\S+)\s+creation-time="([^"]+)"`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no timed entry:\n%s", out)
		}
		return m[1], m[2]
	}
	_, created := line(r)
	// An entry without a timeout keeps its creation-time too, from the store: across a
	// restart and a start without the table (a reboot).
	untimed := func(rr *rig) string {
		out := rr.run(t, `/ip firewall address-list print detail where address=198.19.7.20`)
		m := regexp.MustCompile(`creation-time="([^"]+)"`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no untimed entry:\n%s", out)
		}
		return m[1]
	}
	createdUntimed := untimed(r)
	time.Sleep(2500 * time.Millisecond)
	r2 := r.restart(t, tp)
	left, created2 := line(r2)
	d, err := value.ParseDuration(left)
	if err != nil || d > time.Hour-2*time.Second || d < time.Hour-time.Minute {
		t.Errorf("after a restart the entry has %s left, want under 59m58s", left)
	}
	c1, _ := time.ParseInLocation("2006-01-02 15:04:05", created, time.Local)
	c2, _ := time.ParseInLocation("2006-01-02 15:04:05", created2, time.Local)
	if diff := c2.Sub(c1); diff < -2*time.Second || diff > 2*time.Second {
		t.Errorf("creation-time %s became %s after a restart", created, created2)
	}
	if got := untimed(r2); got != createdUntimed {
		t.Errorf("untimed entry's creation-time %s became %s after a restart", createdUntimed, got)
	}
	// A start without routerd's table: the timed entry goes, the other stays.
	r2.stop()
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)
	r3 := r2.restart(t, tp)
	out := r3.run(t, `/ip firewall address-list print where list=timed`)
	if strings.Contains(out, "198.19.7.7") || !strings.Contains(out, "198.19.7.20") {
		t.Fatalf("after a start without the table:\n%s", out)
	}
	if got := untimed(r3); got != createdUntimed {
		t.Errorf("untimed entry's creation-time %s became %s after a start without the table", createdUntimed, got)
	}
}

// TestOtherTablesUntouched: a table someone else keeps on the box (here inet other, with
// a rule and a counter) stays as it was through routerd's applies, the difference passes,
// the bridge table and the removal of every rule; the ruleset holds only routerd's own
// tables besides it.
func TestOtherTablesUntouched(t *testing.T) {
	tp := newTopo(t)
	f := filepath.Join(t.TempDir(), "other.nft")
	if err := os.WriteFile(f, []byte("table inet other {\n counter seen { }\n chain c {\n  type filter hook input priority 10; policy accept;\n  tcp dport 4242 counter name seen\n }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, "ip", "netns", "exec", tp.r, "nft", "-f", f)
	other := func() string {
		return sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "table", "inet", "other")
	}
	want := other()
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=input protocol=icmp action=accept
/ip firewall filter add chain=forward in-interface=lan action=accept
/ip firewall nat add chain=srcnat out-interface=wan action=masquerade
/ip firewall address-list add list=l address=198.18.9.9
/ipv6 firewall filter add chain=input protocol=icmpv6 action=accept
/ip firewall raw add chain=prerouting in-bridge-port=p9 action=notrack`)
	r.run(t, `/ip firewall filter add chain=forward action=drop place-before=0`)
	tables := regexp.MustCompile(`(?m)^table (\S+ \S+)`).FindAllStringSubmatch(ruleset(t, tp), -1)
	for _, m := range tables {
		switch m[1] {
		case "inet other", "ip routerd", "ip6 routerd", "bridge routerd-ip":
		default:
			t.Errorf("table %s in the ruleset", m[1])
		}
	}
	if got := other(); got != want {
		t.Fatalf("the other table changed:\n%s\nwas\n%s", got, want)
	}
	r.run(t, `/ip firewall filter remove [find]
/ip firewall nat remove [find]
/ip firewall raw remove [find]
/ip firewall address-list remove [find]
/ipv6 firewall filter remove [find]`)
	if got := other(); got != want {
		t.Fatalf("the other table changed after every rule went:\n%s\nwas\n%s", got, want)
	}
}

// TestICMPOptionsCodeRange: icmp-options=TYPE:A-B matches every code of the range (the
// common 'allow ICMP' sets write 3:0-255); the port unreachable (3:3) a closed UDP port
// answers is dropped in forward by 3:0-255 and 3:2-4, not by 3:0-2, and by !3:0-2.
func TestICMPOptionsCodeRange(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	// refused: the client's connected UDP socket got the port unreachable.
	refused := func() bool {
		c := udpDial(t, tp.c, "", "198.19.2.2", 9)
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatalf("udp probe: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		_, err := c.Read(make([]byte, 10))
		switch {
		case refusedErr(err):
			return true
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false
		}
		t.Fatalf("udp probe: %v", err)
		return false
	}
	if !refused() {
		t.Fatal("no port unreachable before any rule")
	}
	r.run(t, `/ip firewall filter add chain=forward protocol=icmp icmp-options=3:0-255 action=drop comment=unreach`)
	for _, c := range []struct {
		opt  string
		drop bool
	}{{"3:0-255", true}, {"3:0-2", false}, {"3:2-4", true}, {"3:3", true}, {"!3:0-2", true}, {"!3:2-4", false}, {"3", true}, {"11:0-1", false}} {
		r.run(t, `/ip firewall filter set [find comment=unreach] icmp-options=`+c.opt)
		if got := !refused(); got != c.drop {
			t.Errorf("icmp-options=%s: port unreachable dropped %v, want %v\n%s", c.opt, got, c.drop, ruleset(t, tp))
		}
		// Echo (type 0 and 8) is another type: only a negation matches it.
		if got := tp.ping(tp.c, "198.19.2.2"); got == strings.HasPrefix(c.opt, "!") {
			t.Errorf("icmp-options=%s: ping passed %v", c.opt, got)
		}
	}
	if n := r.counter(t, "/ip firewall filter", "unreach"); n == 0 {
		t.Error("the icmp-options rule counted nothing")
	}
}

// TestIPv4Options: ipv4-options= with real packets: a ping with the record-route option
// (ping -R) against a plain one, in forward.
func TestIPv4Options(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	rrPing := func() bool {
		return exec.Command("ip", "netns", "exec", tp.c, "ping", "-R", "-c1", "-W1", "198.19.2.2").Run() == nil
	}
	if !rrPing() || !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("pings do not pass before any rule")
	}
	r.run(t, `/ip firewall filter add chain=forward protocol=icmp ipv4-options=record-route action=drop comment=opt`)
	for _, c := range []struct {
		opt       string
		rr, plain bool // pass
	}{{"record-route", false, true}, {"any", false, true}, {"none", true, false}, {"no-record-route", true, false},
		{"router-alert", true, true}, {"no-source-routing", false, false}} {
		r.run(t, `/ip firewall filter set [find comment=opt] ipv4-options=`+c.opt)
		if got := rrPing(); got != c.rr {
			t.Errorf("ipv4-options=%s: record-route ping passed %v, want %v", c.opt, got, c.rr)
		}
		if got := tp.ping(tp.c, "198.19.2.2"); got != c.plain {
			t.Errorf("ipv4-options=%s: plain ping passed %v, want %v", c.opt, got, c.plain)
		}
	}
	// The kernel's option match knows no timestamp option: the rule is kept and invalid.
	r.run(t, `/ip firewall filter set [find comment=opt] ipv4-options=timestamp`)
	if out := r.run(t, `/ip firewall filter print detail where invalid`); !strings.Contains(out, "comment=opt") && !strings.Contains(out, ";;; opt") ||
		!strings.Contains(out, "timestamp") {
		t.Errorf("ipv4-options=timestamp not invalid with the reason:\n%s", out)
	}
}

// TestExportVerboseLines: what RouterOS 6.49 `export verbose` and 7.x terse exports write
// on firewall rules and connection tracking loads: unset matchers (!ingress-priority ...),
// src-port="" and the two TCP timeouts (applied to the kernel), RouterOS 7.24's !tos,
// !headers and liberal-tcp-tracking; a value for a matcher the
// kernel cannot express is kept and its rule shows invalid with the reason.
func TestExportVerboseLines(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add action=accept chain=input comment=v6export !connection-bytes !connection-limit !connection-mark !connection-nat-state !connection-rate !connection-type !content disabled=no !dscp !dst-address !dst-address-list !dst-address-type !dst-limit !dst-port !fragment !hotspot !icmp-options !in-bridge-port !in-bridge-port-list !in-interface !in-interface-list !ingress-priority !ipsec-policy !ipv4-options !layer7-protocol !limit log=no log-prefix="" !nth !out-bridge-port !out-bridge-port-list !out-interface !out-interface-list !packet-mark !packet-size !per-connection-classifier !port !priority !protocol !psd !random !routing-mark !routing-table !src-address !src-address-list !src-address-type !src-mac-address !src-port !tcp-mss !time !tls-host !ttl !tos
/ip firewall filter add action=drop chain=forward tos=40 protocol=icmp comment=tosdrop
/ipv6 firewall filter add action=accept chain=input !headers !tos comment=v6verbose
/ip firewall connection tracking set liberal-tcp-tracking=no
/ip firewall filter add action=log chain=forward dst-port=22,5022 log=yes log-prefix=--SSH-5022 protocol=tcp src-port="" comment=terse
/ip firewall connection tracking set tcp-max-retrans-timeout=7m tcp-unacked-timeout=6m`)
	if out := r.run(t, `/ip firewall filter print count-only where comment=v6export || comment=terse || comment=tosdrop`); strings.TrimSpace(out) != "3" {
		t.Fatalf("rules loaded: %s", out)
	}
	// The engine writes /proc/sys of its own namespace only (test/firewall checks that);
	// here it writes the same files into a directory.
	dir := t.TempDir()
	if err := r.e.applyTracking(dir); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"nf_conntrack_tcp_timeout_max_retrans": "420", "nf_conntrack_tcp_timeout_unacknowledged": "360",
		"nf_conntrack_acct": "1", "nf_conntrack_tcp_be_liberal": "0"} {
		b, _ := os.ReadFile(filepath.Join(dir, k))
		if got := string(b); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	// liberal-tcp-tracking=yes, or a fasttrack-connection rule, turn the window checks off.
	for _, src := range []string{`/ip firewall connection tracking set liberal-tcp-tracking=yes`,
		`/ip firewall connection tracking set liberal-tcp-tracking=no
/ip firewall filter add chain=forward action=fasttrack-connection connection-state=established comment=ft`} {
		r.run(t, src)
		if err := r.e.applyTracking(dir); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "nf_conntrack_tcp_be_liberal")); string(b) != "1" {
			t.Errorf("%s: nf_conntrack_tcp_be_liberal = %s, want 1", src, b)
		}
	}
	r.run(t, `/ip firewall filter remove [find comment=ft]`)
	// tos= (RouterOS 7.24) matches the TOS byte: a ping with TOS 0x28 is dropped.
	if exec.Command("ip", "netns", "exec", tp.c, "ping", "-c1", "-W1", "-Q", "0x28", "198.19.2.2").Run() == nil || !tp.ping(tp.c, "198.19.2.2") {
		t.Errorf("tos=40 did not drop the ping with TOS 0x28 alone\n%s", ruleset(t, tp))
	}
	// RouterOS's IPv6 defconf: the IPv4-mapped bogon prefix, and hop-limit (IPv6's ttl).
	r.run(t, `/ipv6 firewall address-list add address=::ffff:0.0.0.0/96 comment="defconf: ipv4-mapped" list=bad_ipv6
/ipv6 firewall filter add action=drop chain=forward src-address-list=bad_ipv6 comment=bogon`)
	if out := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "set", "ip6", TableName, "list/bad_ipv6"); !strings.Contains(out, "::ffff:0.0.0.0/96") {
		t.Errorf("::ffff:0.0.0.0/96 not in the kernel:\n%s", out)
	}
	r.run(t, `/ipv6 firewall filter add action=drop chain=forward comment="defconf: rfc4890 drop hop-limit=1" hop-limit=equal:1 protocol=icmpv6`)
	if out := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "chain", "ip6", TableName, "filter/forward"); !strings.Contains(out, "ip6 hoplimit 1") {
		t.Errorf("hop-limit=equal:1 not in the kernel:\n%s", out)
	}
	// limit's bit mode (RouterOS: count and burst in bits) is nftables' byte limit.
	r.run(t, `/ip firewall filter add chain=forward action=accept comment=bitrate limit=1000000/1s,64000:bit`)
	if out := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "chain", "ip", TableName, "filter/forward"); !strings.Contains(out, "limit rate 125000 bytes/second burst 8000 bytes") {
		t.Errorf("limit=1000000/1s,64000:bit not 125000 bytes/second burst 8000 bytes in the kernel:\n%s", out)
	}
	r.run(t, `/ip firewall filter remove [find comment=bitrate]`)
	// A matcher the kernel cannot express is kept (an export loads whole) and its rule
	// shows invalid with the reason, never applied without it.
	for _, arg := range []string{"ingress-priority=5", "routing-table=main", "tls-host=*.example.com"} {
		name, _, _ := strings.Cut(arg, "=")
		r.run(t, `/ip firewall filter add chain=forward action=accept comment=unsup `+arg)
		out := r.run(t, `/ip firewall filter print detail where invalid`)
		if !strings.Contains(out, name+": no kernel support") {
			t.Errorf("%s: no invalid rule with the reason:\n%s", arg, out)
		}
		r.run(t, `/ip firewall filter remove [find comment=unsup]`)
	}
	if rs := ruleset(t, tp); strings.Contains(rs, `"unsup"`) {
		t.Errorf("a rule with a matcher the kernel cannot express reached it:\n%s", rs)
	}
}
