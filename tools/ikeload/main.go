// Command ikeload measures IKE responders (IKEv2, or IKEv1 with -exchange main): as initiator (built on routerd's ike
// package) it sets up IKE_SA+CHILD_SA pairs with PSK against a responder as fast as a
// window of concurrent negotiations allows, deleting each once it is up, and prints
// setups per second; with -respond it is routerd's responder (the ike daemon with the
// userspace ESP data path), so that its CPU can be measured beside charon's with the same
// initiator. docs/perf.md has the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
)

func main() {
	respond := flag.Bool("respond", false, "run as responder until SIGTERM")
	remote := flag.String("remote", "", "responder address (initiator)")
	ikeProp := flag.String("ike", "aes128-sha256-ecp256", "IKE proposal (strongSwan notation)")
	espProp := flag.String("esp", "aes128gcm16", "ESP proposal")
	psk := flag.String("psk", "a-long-test-psk", "pre-shared key")
	myID := flag.String("id", "fqdn:r.example", "own identity")
	peerID := flag.String("peer-id", "fqdn:s.example", "peer identity")
	localTS := flag.String("local-ts", "198.19.101.0/24", "own traffic selector")
	remoteTS := flag.String("remote-ts", "198.19.102.0/24", "peer traffic selector")
	n := flag.Int("n", 200, "IKE SAs to set up")
	c := flag.Int("c", 16, "concurrent negotiations")
	datapath := flag.Bool("datapath", true, "responder: install CHILD SAs into the userspace ESP path")
	certFile := flag.String("cert", "", "digital-signature: PEM certificate (then its chain) to authenticate with, instead of -psk")
	keyFile := flag.String("key", "", "digital-signature: PEM private key of -cert")
	caFile := flag.String("ca", "", "digital-signature: PEM trust anchors for the peer's certificate")
	exchange := flag.String("exchange", "ike2", "exchange mode: ike2, or IKEv1 main, aggressive or base")
	flag.Parse()
	mode, ok := map[string]ike.ExchangeMode{"ike2": ike.ExchangeIKEv2, "main": ike.ExchangeMain,
		"aggressive": ike.ExchangeAggressive, "base": ike.ExchangeBase}[*exchange]
	if !ok {
		fmt.Fprintln(os.Stderr, "ikeload: -exchange must be ike2, main, aggressive or base")
		os.Exit(2)
	}
	exchangeMode = mode
	if *certFile != "" {
		ic, err := sigIdentity(*certFile, *keyFile, *caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ikeload:", err)
			os.Exit(1)
		}
		sigIdent = ic
	}
	if err := run(*respond, *remote, *ikeProp, *espProp, *psk, *myID, *peerID, *localTS, *remoteTS, *n, *c, *datapath); err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(1)
	}
}

// exchangeMode is -exchange: IKEv2 or an IKEv1 Phase 1 exchange (Quick Mode follows).
var exchangeMode ike.ExchangeMode

func run(respond bool, remote, ikeProp, espProp, psk, myID, peerID, localTS, remoteTS string, n, c int, datapath bool) error {
	ip, err := ike.ParseProposal(ikeProp, ike.ProtoIKE)
	if err != nil {
		return err
	}
	ep, err := ike.ParseProposal(espProp, ike.ProtoESP)
	if err != nil {
		return err
	}
	my, ok1 := ike.ParseIdentity(myID)
	pid, ok2 := ike.ParseIdentity(peerID)
	lts, err1 := netip.ParsePrefix(localTS)
	rts, err2 := netip.ParsePrefix(remoteTS)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return fmt.Errorf("bad identity or traffic selector")
	}
	p := ike.DefaultPeer()
	p.Name = "load"
	p.DPDInterval = 0
	p.SendInitialContact = false
	p.Proposals = []ike.Proposal{ip}
	p.Exchange = exchangeMode
	p.Identities = []*ike.IdentityConfig{{Method: ike.AuthMethodPSK, PSK: []byte(psk),
		MyID: ike.IDSpec{ID: my}, RemoteID: ike.IDSpec{ID: pid}}}
	if sigIdent != nil {
		p.Identities = []*ike.IdentityConfig{sigIdent}
	}
	p.Children = []*ike.ChildConfig{{ID: 1, Local: ike.SelectorFromPrefix(lts, 0, 0),
		Remote: ike.SelectorFromPrefix(rts, 0, 0), Tunnel: true, Proposals: []ike.Proposal{ep}, Lifetime: time.Hour}}
	opts := ike.DefaultOptions()
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.CookieThreshold = 1 << 20
	d, err := ike.New(opts, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	if respond {
		p.Passive = true
		p.Remote = netip.MustParsePrefix("0.0.0.0/0")
		if datapath {
			cfg := esp.DefaultConfig()
			cfg.UDP4500 = d.NATSocket(false)
			dp, err := esp.Open(context.Background(), cfg)
			if err != nil {
				return err
			}
			defer dp.Close()
			d.SetDatapath(ipsec.Adapter(dp))
		}
		d.SetPeers([]*ike.PeerConfig{p})
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("responding")
		<-sig
		return nil
	}
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return fmt.Errorf("-remote: %w", err)
	}
	p.Remote = netip.PrefixFrom(a, a.BitLen())
	p.Passive = true // only Establish starts SAs
	d.SetPeers([]*ike.PeerConfig{p})
	var ok, failed atomic.Int64
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if err := d.Establish(ctx, "load", true); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
				cancel()
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("setups=%d failed=%d elapsed=%.2fs rate=%.1f/s\n", ok.Load(), failed.Load(), el.Seconds(), float64(ok.Load())/el.Seconds())
	return nil
}
