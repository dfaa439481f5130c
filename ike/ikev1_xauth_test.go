package ike_test

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/iketest"
)

const xauthClientConf = `connections {
  r {
    version = 1
    local_addrs = 198.18.30.2
    remote_addrs = 198.18.30.1
    proposals = aes128-sha1-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local-1 { auth = psk
              id = 198.18.30.2 }
    local-2 { auth = xauth
              xauth_id = user1 }
    remote { auth = psk
             id = 198.18.30.1 }
    children {
      net {
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128-sha1
      }
    }
  }
}
secrets {
  ike-1 { id-a = 198.18.30.1
          id-b = 198.18.30.2
          secret = "a-long-test-psk" }
  xauth-1 { id = user1
            secret = "%s" }
}
`

// xauthServer is routerd's responder side: /ip ipsec user, a pool, a split network
// and a template the client's Quick Mode is generated from.
func xauthServer(t *testing.T) *ike.PeerConfig {
	p := v1Peer(t, ike.ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "a-long-test-psk", true)
	ic := p.Identities[0]
	ic.Method = ike.AuthMethodPSKXAuth
	ic.XAuthUsers = func(name string) (string, netip.Addr, bool) {
		if name == "user1" {
			return "user1-pass", netip.Addr{}, true
		}
		return "", netip.Addr{}, false
	}
	var mu sync.Mutex
	next := netip.MustParseAddr("198.19.102.10")
	ic.ModeConfig = &ike.ModeConfig{Name: "rw", Responder: true, PrefixLen: 32,
		Split: []netip.Prefix{netip.MustParsePrefix("198.19.101.0/24")},
		Allocate: func(string) (netip.Addr, func(), error) {
			mu.Lock()
			defer mu.Unlock()
			a := next
			next = next.Next()
			return a, func() {}, nil
		}}
	ic.GeneratePolicy = "port-strict"
	ic.Templates = p.Children
	p.Children = nil
	return p
}

// TestIKEv1XAuthWithCharon: charon is the XAuth client and asks for a mode config
// address; routerd checks the user against its user list, hands out a pool address
// and the split network, generates the policy from a template, and pings cross from
// the given address. A wrong XAuth password gets no SA and is logged.
func TestIKEv1XAuthWithCharon(t *testing.T) {
	for _, good := range []bool{true, false} {
		name := "right-password"
		pass := "user1-pass"
		if !good {
			name, pass = "wrong-password", "not-it"
		}
		t.Run(name, func(t *testing.T) {
			rg := newRig(t)
			iketest.Sh(t, "ip", "-n", rg.nsR, "addr", "add", "198.19.101.1/24", "dev", "lo")
			d, _ := withESP(t, rg)
			ch := iketest.StartCharon(t, rg.nsS, fmt.Sprintf(xauthClientConf, pass), "+xauth-generic")
			d.SetPeers([]*ike.PeerConfig{xauthServer(t)})
			done := make(chan error, 1)
			go func() {
				out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "20")
				if err != nil {
					err = fmt.Errorf("%v: %s", err, out)
				}
				done <- err
			}()
			if !good {
				if !iketest.WaitFor(20*time.Second, func() bool { return d.Stats.AuthFailed.Load() > 0 }) {
					t.Fatal("wrong XAuth password not counted")
				}
				<-done
				if childCount(d) != 0 {
					t.Fatal("an IPsec SA came up with a wrong XAuth password")
				}
				return
			}
			if err := <-done; err != nil {
				t.Fatalf("swanctl --initiate: %v\n%s", err, charonIKE(ch))
			}
			if !iketest.WaitFor(10*time.Second, func() bool { return childCount(d) == 1 }) {
				t.Fatalf("no IPsec SA on routerd")
			}
			s := d.Snapshot()[0]
			if s.VirtualIP != netip.MustParseAddr("198.19.102.10") || s.Received {
				t.Fatalf("mode config address %v (received %v)", s.VirtualIP, s.Received)
			}
			if got := s.Children[0].RemoteTS[0].String(); !strings.Contains(got, "198.19.102.10") {
				t.Fatalf("generated policy's remote side %s", got)
			}
			sas, _ := ch.Swanctl("--list-sas")
			if !strings.Contains(sas, "198.19.102.10") {
				t.Fatalf("charon did not take the address:\n%s", sas)
			}
			pingFrom(t, rg.nsS, "198.19.102.10", "198.19.101.1")
		})
	}
}

const xauthServerConf = `connections {
  r {
    version = 1
    local_addrs = 198.18.30.2
    remote_addrs = 198.18.30.1
    proposals = aes128-sha1-modp2048
    pools = p
    dpd_delay = 0
    local { auth = psk
            id = 198.18.30.2 }
    remote-1 { auth = psk
               id = 198.18.30.1 }
    remote-2 { auth = xauth }
    children {
      net {
        local_ts = 198.19.102.0/24
        esp_proposals = aes128-sha1
      }
    }
  }
}
pools {
  p { addrs = 198.19.50.0/24 }
}
secrets {
  ike-1 { id-a = 198.18.30.1
          id-b = 198.18.30.2
          secret = "a-long-test-psk" }
  xauth-1 { id = user1
            secret = "user1-pass" }
}
`

// TestIKEv1XAuthClientWithCharon: routerd is the XAuth client with a request-only mode
// config; charon, the XAuth server, hands out an address and its network through the
// Cisco Unity split-include; routerd's policy from that address to the split network is
// dynamic.
func TestIKEv1XAuthClientWithCharon(t *testing.T) {
	rg := newRig(t)
	ch := iketest.StartCharon(t, rg.nsS, xauthServerConf, "+xauth-generic unity")
	rec := &recorder{}
	d := startDaemon(t, rg.nsR, rec)
	p := v1Peer(t, ike.ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "a-long-test-psk", false)
	ic := p.Identities[0]
	ic.Method, ic.EAPUser, ic.EAPPassword = ike.AuthMethodPSKXAuth, "user1", "user1-pass"
	ic.ModeConfig = &ike.ModeConfig{Name: "request-only"}
	p.Children[0].Local = ike.SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0"), 0, 0)
	p.Children[0].Remote = ike.SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0"), 0, 0)
	d.SetPeers([]*ike.PeerConfig{p})
	if !iketest.WaitFor(20*time.Second, func() bool { return rec.count() == 1 && established(t, ch) }) {
		out, _ := ch.Swanctl("--list-sas")
		t.Fatalf("no IPsec SA: routerd %d, charon:\n%s\n%s", rec.count(), out, charonIKE(ch))
	}
	s := d.Snapshot()[0]
	if !s.Received || !netip.MustParsePrefix("198.19.50.0/24").Contains(s.VirtualIP) {
		t.Fatalf("mode config address %v (received %v)", s.VirtualIP, s.Received)
	}
	c := s.Children[0]
	if !c.Policy.Dynamic || c.LocalTS[0].Start != s.VirtualIP || c.RemoteTS[0].String() != "198.19.102.0/24" {
		t.Fatalf("dynamic policy %v: %s <=> %s", c.Policy.Dynamic, c.LocalTS[0], c.RemoteTS[0])
	}
}
