package firewall

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NFT_TABLE_F_OWNER: the table belongs to the netlink socket that created it; the
// kernel refuses every other socket's change to it and removes it when the socket goes.
const tableFlagOwner = 0x2

// TestRulesInvalidWhenKernelRefuses: when the kernel refuses routerd's ruleset (another
// process owns a table of the same name), every enabled rule prints invalid (I, print
// where invalid) with the kernel's reason, not only a status (qa15); once the owner is
// gone the ruleset is rebuilt and the mark goes.
//
// The test itself owns the table, through a netlink socket it keeps open: routerd's
// table is replaced by the owned one in one transaction, so no pass of the engine can
// rebuild its own in between (an `nft -i` holding the table raced with that).
func TestRulesInvalidWhenKernelRefuses(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward action=accept comment=a
/ip firewall filter add chain=forward action=drop disabled=yes comment=b
/ip firewall nat add chain=srcnat out-interface=wan action=masquerade comment=n`)
	owner, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(tp.rfd.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if err := owner.Close(); err != nil {
				t.Errorf("closing the owner's socket: %v", err)
			}
		}
	}
	defer release()
	takeOwnedTable(t, owner)
	if _, err := r.try(`/ip firewall filter add chain=forward action=accept comment=c`); err == nil || !strings.Contains(err.Error(), "kernel refused the ruleset") {
		t.Fatalf("pass over an owned table: %v, want the kernel's refusal", err)
	}
	// Console only from here: a pass would fail again.
	console := func(src string) string {
		var b strings.Builder
		if err := r.in.Run(context.Background(), r.con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return b.String()
	}
	for _, m := range []struct {
		menu string
		want string
	}{{"filter", "2"}, {"nat", "1"}} {
		if n := strings.TrimSpace(console(`:put [/ip firewall ` + m.menu + ` print count-only where invalid]`)); n != m.want {
			t.Errorf("%s %s rules invalid, want %s (the enabled ones):\n%s", n, m.menu, m.want, console(`/ip firewall `+m.menu+` print detail`))
		}
	}
	for _, q := range []string{`/ip firewall filter print detail where comment=a`, `/ip firewall nat print detail where comment=n`} {
		if out := console(q); !strings.Contains(out, "kernel refused the ruleset") {
			t.Errorf("no reason on the rule (%s):\n%s", q, out)
		}
	}
	if out := console(`/ip firewall filter print detail where comment=b`); strings.Contains(out, "refused") {
		t.Errorf("a disabled rule got the kernel's reason:\n%s", out)
	}
	release() // the kernel removes the owned table with its socket
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := r.try(`:put ok`)
		n := strings.TrimSpace(console(`:put [/ip firewall filter print count-only where invalid]`))
		if err == nil && n == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s invalid after the owner left (err %v)", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rs := ruleset(t, tp); !strings.Contains(rs, "comment \"c\"") && !strings.Contains(rs, "accept") {
		t.Errorf("ruleset not rebuilt:\n%s", rs)
	}
}

// takeOwnedTable replaces routerd's ip table by an empty one that c's socket owns, in
// one transaction. google/nftables sends a table's flags as 0, so the batch is built here.
func takeOwnedTable(t *testing.T, c *netlink.Conn) {
	t.Helper()
	nfgen := func(family uint8, resID uint16) []byte {
		return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
	}
	attrs := func(flags bool) []byte {
		ae := netlink.NewAttributeEncoder()
		ae.ByteOrder = binary.BigEndian
		ae.String(unix.NFTA_TABLE_NAME, TableName)
		if flags {
			ae.Uint32(unix.NFTA_TABLE_FLAGS, tableFlagOwner)
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg := func(typ int, flags netlink.HeaderFlags, data []byte) netlink.Message {
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags}, Data: data}
	}
	batch := []netlink.Message{
		msg(unix.NFNL_MSG_BATCH_BEGIN, 0, nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)),
		msg(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_DELTABLE, netlink.Acknowledge, append(nfgen(unix.NFPROTO_IPV4, 0), attrs(false)...)),
		msg(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWTABLE, netlink.Acknowledge|netlink.Create, append(nfgen(unix.NFPROTO_IPV4, 0), attrs(true)...)),
		msg(unix.NFNL_MSG_BATCH_END, 0, nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)),
	}
	if _, err := c.SendMessages(batch); err != nil {
		t.Fatalf("taking routerd's table over: %v", err)
	}
	for acks := 0; acks < 2; {
		ms, err := c.Receive()
		if err != nil {
			t.Fatalf("taking routerd's table over: %v", err)
		}
		acks += len(ms)
	}
}
