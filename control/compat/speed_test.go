package compat

import (
	"context"
	"testing"

	"github.com/routerd/routerd/control"
)

// TestV6Speed: RouterOS 6's speed words become v7's, half duplex where the same line
// says full-duplex=no (v7 names the duplex in the speed); advertise words likewise.
func TestV6Speed(t *testing.T) {
	for _, c := range []struct {
		args []control.Arg
		want map[string]string
	}{
		{[]control.Arg{{Name: "speed", Value: "100Mbps"}}, map[string]string{"speed": "100M-baseT-full"}},
		{[]control.Arg{{Name: "auto-negotiation", Value: "no"}, {Name: "full-duplex", Value: "no"}, {Name: "speed", Value: "10Mbps"}},
			map[string]string{"speed": "10M-baseT-half", "full-duplex": "no"}},
		{[]control.Arg{{Name: "full-duplex", Value: "yes"}, {Name: "speed", Value: "1Gbps"}}, map[string]string{"speed": "1G-baseT-full"}},
		{[]control.Arg{{Name: "full-duplex", Value: "no"}, {Name: "speed", Value: "10Gbps"}}, map[string]string{"speed": "10G-baseT"}},
		{[]control.Arg{{Name: "advertise", Value: "10M-half,100M-full,1000M-full"}},
			map[string]string{"advertise": "10M-baseT-half,100M-baseT-full,1G-baseT-full"}},
	} {
		s := &control.Sentence{Path: "/interface/ethernet", Cmd: "set", Args: append([]control.Arg{{Name: "numbers", Value: "ether1"}}, c.args...)}
		out, _, err := ethernet(context.Background(), nil, nil, s)
		if err != nil || out == nil {
			t.Fatalf("%v: %v %v", c.args, out, err)
		}
		for k, want := range c.want {
			if got, _ := out.Get(k); got != want {
				t.Errorf("%v: %s = %q, want %q", c.args, k, got, want)
			}
		}
	}
}
