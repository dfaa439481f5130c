package hostname

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/engine"
)

// dnsServer answers A queries for names with the address given, NXDOMAIN otherwise, on a
// loopback port of its own; it counts the queries.
func dnsServer(t *testing.T, ip string, names ...string) (port string, queries *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	known := map[string]bool{}
	for _, h := range names {
		known[mdns.Fqdn(h)] = true
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		n.Add(1)
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if !known[q.Name] {
			m.Rcode = mdns.RcodeNameError
		} else if q.Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR(q.Name + " 60 IN A 198.18.77.7")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	_, port, _ = net.SplitHostPort(pc.LocalAddr().String())
	return port, &n
}

// Host names resolve through /ip dns only: with no servers (and no dynamic-servers) a
// name the machine's /etc/hosts knows does not resolve and the error says why; with
// servers they are asked; dynamic-servers (learned by IPsec mode config) are asked when
// the configured servers are none, and no longer once they are gone.
func TestLookupHostOwnResolver(t *testing.T) {
	ex := controltest.New(t)
	h := engine.New(ex, nil)
	d := dns.New(dns.Options{Addr: "127.0.0.1:0"})
	h.Register(d)
	ctx, cancel := context.WithCancel(context.Background())
	h.Start(ctx)
	defer func() { cancel(); h.Stop() }()

	r := New(ex)
	if _, err := r.Lookup(ctx, "ip", "localhost"); !errors.Is(err, ErrNoServers) {
		t.Fatalf("localhost with no DNS servers: %v, want ErrNoServers (never /etc/hosts)", err)
	}
	port, queries := dnsServer(t, "127.0.0.1", "vpn.example.net")
	old := dnsPort
	dnsPort = port
	defer func() { dnsPort = old }()

	controltest.Exec(t, ex, "/ip/dns set servers=127.0.0.1")
	got, err := r.Lookup(ctx, "ip4", "vpn.example.net")
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("198.18.77.7") {
		t.Fatalf("vpn.example.net through servers: %v %v", got, err)
	}
	if _, err := r.Lookup(ctx, "ip4", "nothere.example.net"); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "server 127.0.0.1: nothere.example.net does not exist") {
		t.Errorf("an unknown name: %v, want ErrNotFound saying it does not exist", err)
	}
	// A name with only A records asked for AAAA (an IPv6 use of an IPv4-only name):
	// the answer says which record it lacks, not that the name is unknown.
	if _, err := r.Lookup(ctx, "ip6", "vpn.example.net"); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "server 127.0.0.1 has no AAAA (IPv6) record for vpn.example.net") {
		t.Errorf("AAAA of an A-only name: %v", err)
	}

	controltest.Exec(t, ex, "/ip/dns set servers=")
	d.Dyn.Set("ipsec", []netip.Addr{netip.MustParseAddr("127.0.0.1")})
	before := queries.Load()
	got, err = r.Lookup(ctx, "ip4", "vpn.example.net")
	if err != nil || len(got) != 1 || queries.Load() == before {
		t.Fatalf("vpn.example.net through dynamic-servers: %v %v (queries %d)", got, err, queries.Load()-before)
	}
	// The dynamic servers change with no configuration change: Run's tick sees it and
	// flushes, or the cached answer of a server that is gone would outlive it.
	r.serversChanged(ctx) // the tick while the server was there
	d.Dyn.Set("ipsec", nil)
	if _, err := r.Lookup(ctx, "ip4", "vpn.example.net"); err != nil {
		t.Fatalf("before the tick the cache answers: %v", err)
	}
	if !r.serversChanged(ctx) {
		t.Fatal("the dynamic server's going is not seen as a change")
	}
	r.Flush() // what Run does then
	if r.serversChanged(ctx) {
		t.Error("no change seen again")
	}
	if _, err := r.Lookup(ctx, "ip4", "vpn.example.net"); !errors.Is(err, ErrNoServers) {
		t.Errorf("after the dynamic servers went: %v, want ErrNoServers", err)
	}
}
