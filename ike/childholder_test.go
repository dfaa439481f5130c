package ike

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestChildDeleteOnRekeyedIKESA: an IKE SA rekey moved the CHILD SA to the new IKE SA,
// and the peer sends a delete of that CHILD SA on the old IKE SA before the old one is
// deleted (RFC 7296 2.8 leaves the old SA usable until then). A must find the CHILD SA
// on the new IKE SA, remove it and answer with its own SPI of the pair, whichever side
// rekeyed: A (its old SA is being deleted, the delete held back) or B (A's old SA waits
// for B's delete, which B sends after the CHILD delete). Fails without the change: the
// delete found no CHILD SA on the old IKE SA, was answered empty and A kept the SA.
func TestChildDeleteOnRekeyedIKESA(t *testing.T) {
	for _, aRekeys := range []bool{true, false} {
		name := "B-rekeys"
		if aRekeys {
			name = "A-rekeys"
		}
		t.Run(name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			pr.start(v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24"),
				v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24"))
			pr.established(t)
			ca, cb := pr.ka.all()[0], pr.kb.all()[0]
			oldIKE := func(d *Daemon) *IKESA {
				d.mu.Lock()
				defer d.mu.Unlock()
				for _, sa := range d.sas {
					if sa.state == stateEstablished {
						return sa
					}
				}
				return nil
			}
			oldA, oldB := oldIKE(pr.a), oldIKE(pr.b)
			if oldA == nil || oldB == nil {
				t.Fatal("no established IKE SA")
			}
			// The rekeying side's requests on INFORMATIONAL (its delete of the old IKE
			// SA) are held back; answers pass.
			var hold atomic.Bool
			hold.Store(true)
			drop := func(pkt []byte, toA bool) [][]byte {
				if hold.Load() && toA != aRekeys && len(pkt) >= HeaderLen && ExchangeType(pkt[18]) == Informational && pkt[19]&FlagResponse == 0 {
					return nil
				}
				return [][]byte{pkt}
			}
			pr.r.filter.Store(&drop)
			rekeyer, other, oldR, oldO := pr.a, pr.b, oldA, oldB
			if !aRekeys {
				rekeyer, other, oldR, oldO = pr.b, pr.a, oldB, oldA
			}
			peerName := map[*Daemon]string{pr.a: "b", pr.b: "a"}
			rekeyer.RekeyIKE(peerName[rekeyer])
			moved := func(d *Daemon, old *IKESA) bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				if len(old.children) != 0 || old.state == stateDead {
					return false
				}
				for _, sa := range d.sas {
					if sa != old && sa.state == stateEstablished && len(sa.children) == 1 {
						return true
					}
				}
				return false
			}
			if !iketest.WaitFor(20*time.Second, func() bool {
				return moved(rekeyer, oldR) && moved(other, oldO) && func() bool {
					rekeyer.mu.Lock()
					defer rekeyer.mu.Unlock()
					return oldR.state == stateDeleting && oldR.pending != nil && oldR.pending.exch == Informational
				}()
			}) {
				t.Fatal("the IKE SA rekey did not move the CHILD SA on both sides")
			}
			// B deletes the CHILD SA on its old IKE SA.
			answer := make(chan []Payload, 1)
			del := []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{spiBytes(cb.InSPI)}}}
			pr.b.mu.Lock()
			if aRekeys {
				oldB.request(Informational, del, func(ps []Payload) { answer <- ps }, nil)
			} else {
				// B's delete of its old IKE SA was held back: it sends the CHILD
				// delete under that message ID instead, and the IKE delete after it.
				r := oldB.pending
				r.payloads, r.onFail = del, nil
				r.pkts = oldB.encrypt(Informational, false, r.msgID, del)
				r.onResp = func(ps []Payload) {
					answer <- ps
					oldB.request(Informational, []Payload{&Delete{Protocol: ProtoIKE}}, func([]Payload) { oldB.destroy("rekeyed") },
						func() { oldB.destroy("rekeyed") })
				}
				hold.Store(false)
				oldB.sendPkts(r.pkts)
			}
			pr.b.mu.Unlock()
			var got []Payload
			select {
			case got = <-answer:
			case <-time.After(20 * time.Second):
				t.Fatal("no answer to the CHILD SA delete on the old IKE SA")
			}
			var spis []uint32
			for _, p := range got {
				if d, ok := p.(*Delete); ok && d.Protocol == ProtoESP {
					for _, s := range d.SPIs {
						spis = append(spis, binary.BigEndian.Uint32(s))
					}
				}
			}
			if len(spis) != 1 || spis[0] != ca.InSPI {
				t.Errorf("A answered the delete of 0x%08x with ESP SPIs %x, want its own 0x%08x", cb.InSPI, spis, ca.InSPI)
			}
			if !iketest.WaitFor(10*time.Second, func() bool { return len(pr.ka.all()) == 0 }) {
				t.Errorf("A still has the CHILD SA: %+v", pr.ka.all())
			}
			if !strings.Contains(pr.la.String(), fmt.Sprintf(`in-spi=0x%08x reason="deleted by the peer"`, ca.InSPI)) {
				t.Errorf("A did not log the CHILD SA's removal")
			}
			hold.Store(false)
			// The old IKE SAs go and the new one stays, with no CHILD SA on A.
			if !iketest.WaitFor(20*time.Second, func() bool {
				pr.a.mu.Lock()
				defer pr.a.mu.Unlock()
				if oldA.state != stateDead {
					return false
				}
				for _, sa := range pr.a.sas {
					if sa.state == stateEstablished && len(sa.children) == 0 {
						return true
					}
				}
				return false
			}) {
				t.Errorf("A's old IKE SA did not go or its new one is not left without CHILD SAs")
			}
		})
	}
}
