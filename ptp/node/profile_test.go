package node

import (
	"testing"

	"github.com/routerd/routerd/ptp/ts"
)

// TestAutoValues checks the auto values against the RouterOS reference, one by one.
func TestAutoValues(t *testing.T) {
	cases := []struct {
		profile   string
		p1, p2    uint8
		domain    uint8
		transport ts.Mode
		delay     DelayMode
	}{
		{"802.1as", 246, 248, 0, ts.L2NonForwarding, P2P},
		{"aes67", 128, 128, 0, ts.UDPv4, E2E},
		{"g8275.1", 128, 128, 24, ts.L2NonForwarding, E2E},
		{"smpte", 128, 128, 127, ts.UDPv4, E2E},
		{"default", 128, 128, 0, ts.UDPv4, E2E},
	}
	for _, c := range cases {
		p, err := Resolve(Settings{Profile: c.profile})
		if err != nil {
			t.Fatal(err)
		}
		if p.Priority1 != c.p1 || p.Priority2 != c.p2 || p.Domain != c.domain || p.Transport != c.transport || p.Delay != c.delay {
			t.Errorf("%s: got %d/%d domain %d %s %s", c.profile, p.Priority1, p.Priority2, p.Domain, p.Transport, p.Delay)
		}
	}
	one, mode, e2e := uint8(1), ts.UDPv4, E2E
	p, _ := Resolve(Settings{Profile: "802.1as", Priority1: &one, Transport: &mode, Delay: &e2e})
	if p.Priority1 != 1 || p.Priority2 != 248 || p.Transport != ts.UDPv4 || p.Delay != E2E {
		t.Errorf("explicit values must override auto: %+v", p)
	}
	if _, err := Resolve(Settings{Profile: "nope"}); err == nil {
		t.Error("unknown profile accepted")
	}
}
