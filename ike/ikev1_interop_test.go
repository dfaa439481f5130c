package ike_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// swanV1Conf is charon's side of an IKEv1 tunnel with address identities (main mode
// finds the pre-shared key by address).
func swanV1Conf(ikeProp, espProp string, aggressive bool, extra string) string {
	aggr := "no"
	if aggressive {
		aggr = "yes"
	}
	return fmt.Sprintf(`connections {
  r {
    version = 1
    aggressive = %s
    local_addrs = 198.18.30.2
    remote_addrs = 198.18.30.1
    proposals = %s
    dpd_delay = 0
    rand_time = 0s
%s
    local { auth = psk
            id = 198.18.30.2 }
    remote { auth = psk
             id = 198.18.30.1 }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = %s
        mode = tunnel
        rand_time = 0s
      }
    }
  }
}
secrets {
  ike-1 { id-a = 198.18.30.1
          id-b = 198.18.30.2
          secret = "a-long-test-psk" }
}
`, aggr, ikeProp, extra, espProp)
}

// aggressivePSK lets charon answer aggressive mode with a pre-shared key.
const aggressivePSK = "  i_dont_care_about_security_and_use_aggressive_mode_psk = yes"

func v1Peer(t *testing.T, mode ike.ExchangeMode, ikeProp, espProp, psk string, passive bool) *ike.PeerConfig {
	p := peerConfig(t, ikeProp, espProp, "tunnel", psk, passive)
	p.Exchange = mode
	p.Identities[0].MyID = ike.IDSpec{Auto: true}
	p.Identities[0].RemoteID = ike.IDSpec{Auto: true}
	return p
}

var v1Matrix = []struct{ ike, esp string }{
	{"aes128-sha1-modp2048", "aes128-sha1-modp2048"},
	{"aes256-sha256-modp2048", "aes256-sha256"},
	{"3des-sha1-modp1024", "3des-sha1-modp1024"},
	{"aes128-sha256-ecp256", "aes128gcm16-ecp256"},
}

// TestIKEv1WithCharon: IKEv1 main and aggressive mode with a pre-shared key against
// charon, each side initiating, through routerd's ESP data path (ESP-in-UDP, since
// charon's kernel-libipsec claims a NAT): ping crosses both ways.
func TestIKEv1WithCharon(t *testing.T) {
	type tc struct {
		mode          ike.ExchangeMode
		ike, esp      string
		routerdInit   bool
		name          string
		iperf         bool
		charonAggress bool
	}
	var cases []tc
	for i, m := range v1Matrix {
		cases = append(cases, tc{ike.ExchangeMain, m.ike, m.esp, true, "main/" + m.ike + "/routerd-initiates", i == 0, false})
	}
	cases = append(cases,
		tc{ike.ExchangeMain, v1Matrix[0].ike, v1Matrix[0].esp, false, "main/charon-initiates", false, false},
		tc{ike.ExchangeAggressive, v1Matrix[1].ike, v1Matrix[1].esp, true, "aggressive/routerd-initiates", false, true},
		tc{ike.ExchangeAggressive, v1Matrix[0].ike, v1Matrix[0].esp, false, "aggressive/charon-initiates", false, true})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rg := newRig(t)
			iketest.Sh(t, "ip", "-n", rg.nsR, "addr", "add", "198.19.101.1/24", "dev", "lo")
			d, dp := withESP(t, rg)
			ch := iketest.StartCharon(t, rg.nsS, swanV1Conf(c.ike, c.esp, c.charonAggress, ""), aggressivePSK)
			d.SetPeers([]*ike.PeerConfig{v1Peer(t, c.mode, c.ike, c.esp, "a-long-test-psk", !c.routerdInit)})
			if !c.routerdInit {
				if out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
			}
			if !iketest.WaitFor(20*time.Second, func() bool { return established(t, ch) && childCount(d) == 1 }) {
				out, _ := ch.Swanctl("--list-sas")
				t.Fatalf("no IPsec SA: routerd %d, charon:\n%s\n%s", childCount(d), out, charonIKE(ch))
			}
			pingFrom(t, rg.nsR, "198.19.101.1", "198.19.102.1")
			pingFrom(t, rg.nsS, "198.19.102.1", "198.19.101.1")
			if c.iperf {
				bps := iperfAcross(t, rg.nsS, rg.nsR, "198.19.101.1")
				t.Logf("iperf3 charon -> routerd over IKEv1 SAs: %.0f Mbit/s", bps/1e6)
				if bps <= 0 {
					t.Fatal("iperf3 moved nothing")
				}
			}
			st := dp.Statistics()
			if st.InStateProtocolErrors != 0 || st.InNoStates != 0 {
				t.Fatalf("ESP errors: %+v", st)
			}
			if s := d.Snapshot(); len(s) != 1 || !s[0].NATT {
				t.Fatalf("want one SA with NAT-T (charon's libipsec claims a NAT): %+v", s)
			}
		})
	}
}

func childCount(d *ike.Daemon) int {
	n := 0
	for _, s := range d.Snapshot() {
		if s.State == "established" {
			n += len(s.Children)
		}
	}
	return n
}

// charonIKE is charon's log without the vici chatter.
func charonIKE(c *iketest.Charon) string {
	var b strings.Builder
	for _, l := range strings.Split(c.Log(), "\n") {
		if !strings.Contains(l, "[CFG] vici") {
			b.WriteString(l + "\n")
		}
	}
	s := b.String()
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

var _ = esp.DefaultReplayWindow
var _ = netip.Addr{}
