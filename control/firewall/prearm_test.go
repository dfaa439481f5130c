package firewall

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestPrearm: before the engine runs, Prearm loads the stored rules into a namespace
// whose kernel has no routerd table (a cold start); leaves a table the kernel kept (a
// restart) as it is, counters and all; and when the transaction cannot be made (here:
// the interface lists cannot be resolved), installs the lockdown, which drops what is
// forwarded and received but over loopback, until the engine's pass replaces it.
func TestPrearm(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/interface list add name=LAN
/ip firewall filter add chain=forward dst-address=198.19.2.2 action=drop comment=fwd
/ip firewall filter add chain=input in-interface-list=LAN protocol=tcp dst-port=8728 action=drop comment=api
/ipv6 firewall filter add chain=forward dst-address=fd00:19:2::2/128 action=drop`)
	r.stop()
	reboot := func() {
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip6", TableName)
		if !tp.ping(tp.c, "198.19.2.2") {
			t.Fatal("no forwarding without routerd's table")
		}
	}
	reboot()
	ctx := context.Background()
	noLists := func(string) ([]string, error) { return nil, nil }
	opts := Options{NetNS: int(tp.rfd.Fd()), KernelName: func(n string) string { return n }, IfLists: noLists}
	if err := Prearm(ctx, r.ex, opts); err != nil {
		t.Fatal(err)
	}
	rs := ruleset(t, tp)
	if tp.ping(tp.c, "198.19.2.2") || !strings.Contains(rs, `ip6 daddr fd00:19:2::2 counter name "filter/1" drop`) {
		t.Fatalf("the stored rules are not in force after Prearm:\n%s", rs)
	}
	// A restart: the table and its counters stay as the kernel kept them.
	rs = ruleset(t, tp)
	if !strings.Contains(rs, "packets 1 ") {
		t.Fatalf("the dropped ping is not counted:\n%s", rs)
	}
	if err := Prearm(ctx, r.ex, opts); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, tp); got != rs {
		t.Fatalf("Prearm changed a table the kernel kept:\n%s\nwas\n%s", got, rs)
	}

	reboot()
	opts.IfLists = func(string) ([]string, error) { return nil, errors.New("no links") }
	err := Prearm(ctx, r.ex, opts)
	if err == nil || !strings.Contains(err.Error(), "lockdown installed") {
		t.Fatalf("Prearm without the interface lists: %v", err)
	}
	rs = ruleset(t, tp)
	if tp.ping(tp.c, "198.19.2.2") || tp.ping(tp.c, "198.18.1.1") || !strings.Contains(rs, "boot/forward") {
		t.Fatalf("the lockdown is not in force:\n%s", rs)
	}
	if out := sh(t, "ip", "netns", "exec", tp.r, "ping", "-c1", "-W1", "127.0.0.1"); !strings.Contains(out, "1 received") {
		t.Fatalf("the lockdown drops loopback: %s", out)
	}
	// The engine's first pass replaces the lockdown with the stored rules.
	r.restart(t, tp)
	rs = ruleset(t, tp)
	if strings.Contains(rs, "boot/") || tp.ping(tp.c, "198.19.2.2") || !tp.ping(tp.c, "198.18.1.1") {
		t.Fatalf("the engine's pass did not replace the lockdown:\n%s", rs)
	}
}
