package ipcfg

import (
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// unreachableV4 builds the ICMP host-unreachable a router sends for our echo id/seq.
func unreachableV4(id, seq int) []byte {
	orig := make([]byte, 28)
	orig[0] = 0x45
	orig[20] = 8 // echo request
	orig[24], orig[25], orig[26], orig[27] = byte(id>>8), byte(id), byte(seq>>8), byte(seq)
	b, _ := (&icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &icmp.DstUnreach{Data: orig}}).Marshal(nil)
	return b
}

func TestUnreachable(t *testing.T) {
	for _, c := range []struct {
		id, seq int
		want    string
	}{{0x1234, 7, "host unreachable"}, {0x1235, 7, ""}, {0x1234, 8, ""}} {
		m, err := icmp.ParseMessage(1, unreachableV4(0x1234, 7))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := unreachable(m, c.id, c.seq); got != c.want {
			t.Errorf("id %x seq %d: %q, want %q", c.id, c.seq, got, c.want)
		}
	}
}

func TestRTTString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		563 * time.Microsecond: "563us", 9*time.Millisecond + 525*time.Microsecond: "9ms525us",
		12 * time.Millisecond: "12ms", 0: "0us",
	} {
		if got := rttString(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if got := pingSummary(3, 0, nil); got != "    sent=3 received=0 packet-loss=100%" {
		t.Errorf("summary without replies: %q", got)
	}
}

// FuzzUnreachable: ICMP errors come from the network; reading the echo they quote must
// never panic, whatever the quoted header claims.
func FuzzUnreachable(f *testing.F) {
	f.Add(unreachableV4(1, 2), true)
	f.Add([]byte{3, 1, 0, 0, 0, 0, 0, 0, 0x4f}, true)
	f.Add([]byte{1, 3, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		proto := 58
		if v4 {
			proto = 1
		}
		if m, err := icmp.ParseMessage(proto, b); err == nil {
			unreachable(m, 1, 2)
		}
	})
}
