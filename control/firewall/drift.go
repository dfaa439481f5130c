package firewall

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A table changed behind routerd's back (a table, a chain or a single rule deleted with
// nft) is found by the periodic pass without reading the ruleset every time: the kernel
// counts committed nftables transactions in a generation number, whoever sends them.
// After each of its own commits routerd notes the generation; a pass that finds it
// unchanged knows the table is as routerd left it. When it moved (another program's
// transaction, or routerd's other family or IPsec table), the pass compares the chains
// and the number of rules in each with what routerd applied (one dump of the table's
// rules, of which only the chain is read) and rebuilds the table when they differ.
// Reads only: a pass with nothing changed sends nftables no change.

func nfgenmsg(family byte) []byte { return []byte{family, unix.NFNETLINK_V0, 0, 0} }

// generation reads the namespace's nftables ruleset generation.
func (k *Kernel) generation() (uint32, error) {
	c, err := k.conn()
	if err != nil {
		return 0, err
	}
	return c.Generation()
}

// Generation reads the namespace's nftables ruleset generation (NFT_MSG_GETGEN).
func (c nftConn) Generation() (uint32, error) {
	nc, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: c.ns})
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	msgs, err := nc.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC),
	})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID && len(ad.Bytes()) == 4 {
				return binary.BigEndian.Uint32(ad.Bytes()), nil
			}
		}
	}
	return 0, fmt.Errorf("nftables: no generation in the answer")
}

// ruleCounts dumps the rules of the family's routerd table and counts them by chain.
func (k *Kernel) ruleCounts(v6 bool) (map[string]int, error) {
	c, err := k.conn()
	if err != nil {
		return nil, err
	}
	return c.RuleCounts(table(v6).Family)
}

// RuleCounts dumps the rules of the family's routerd table (NFT_MSG_GETRULE) and counts
// them by chain, reading only each rule's chain.
func (c nftConn) RuleCounts(f nftables.TableFamily) (map[string]int, error) {
	nc, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: c.ns})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	msgs, err := nc.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump},
		Data: append(nfgenmsg(byte(f)), attrs...),
	})
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_RULE_CHAIN {
				counts[ad.String()]++
			}
		}
	}
	return counts, nil
}

// drifted reports why the family's table is no longer what prev says routerd left
// ("" when it is, or when it cannot tell: the apply that follows finds out). lists are
// the address lists wanted now; those unchanged since prev are checked too. k.mu held.
func (k *Kernel) drifted(v6 bool, prev *tableState, lists map[string][]Entry) string {
	gen, err := k.generation()
	if err == nil && k.seen[v6] && gen == k.gen[v6] {
		return "" // no transaction since routerd last saw the table as it left it
	}
	if gone := k.missingChains(v6, prev); len(gone) > 0 {
		return fmt.Sprintf("chains missing: %v", gone)
	}
	counts, cerr := k.ruleCounts(v6)
	if cerr != nil {
		return ""
	}
	for _, name := range slices.Sorted(maps.Keys(prev.chains)) {
		if want := len(prev.chains[name].sums); counts[name] != want {
			return fmt.Sprintf("chain %s has %d rules, routerd applied %d", name, counts[name], want)
		}
	}
	if why := k.listsDrifted(v6, prev, lists); why != "" {
		return why
	}
	if err == nil {
		k.noteGen(v6, gen)
	}
	return ""
}

// noteGen records that the family's table was as routerd left it at generation gen.
func (k *Kernel) noteGen(v6 bool, gen uint32) {
	if k.gen == nil {
		k.gen, k.seen = map[bool]uint32{}, map[bool]bool{}
	}
	k.gen[v6], k.seen[v6] = gen, true
}

// generationBefore reads the generation just before one of routerd's own commits, for
// committed; -1 when it cannot be read.
func (k *Kernel) generationBefore() int64 {
	gen, err := k.generation()
	if err != nil {
		return -1
	}
	return int64(gen)
}

// committed notes the generation right after routerd's own transaction of a family, so
// that the next pass need not read the table back. It does so only when the generation
// moved by exactly that one commit since before (generationBefore): another program's
// transaction landing between routerd's commit and this read (an nft delete just after a
// pass) would otherwise be taken for routerd's own and never looked at. Otherwise the next
// pass reads the table back. k.mu held.
func (k *Kernel) committed(v6 bool, before int64) {
	if gen, err := k.generation(); err == nil && before >= 0 && uint32(before)+1 == gen {
		k.noteGen(v6, gen)
	} else if k.seen != nil {
		k.seen[v6] = false
	}
}

// listsDrifted compares the permanent entries (those without a timeout, which the kernel
// never ends by itself) of each address list's static set with what routerd applied: an
// entry added with `nft add element` (a WAN host let into allowed_to_router) or one
// deleted would otherwise stay until the list changed. Lists that changed since prev are
// left out: the apply sends them whole anyway.
func (k *Kernel) listsDrifted(v6 bool, prev *tableState, lists map[string][]Entry) string {
	if len(prev.lists) == 0 {
		return ""
	}
	c, err := k.conn()
	if err != nil {
		return ""
	}
	for _, l := range slices.Sorted(maps.Keys(prev.lists)) {
		if listSum(lists[l]) != prev.lists[l] {
			continue
		}
		els, err := c.GetSetElements(&nftables.Set{Table: table(v6), Name: staticSet(l)})
		if err != nil {
			continue // gone with its table or chain: found above, or by the apply
		}
		if !maps.Equal(permanent(els), permanent(intervalElements(lists[l]))) {
			return fmt.Sprintf("address list %s's entries differ from what routerd applied", l)
		}
	}
	return ""
}

// permanent is the set of a set's interval starts without a timeout (an end's timeout is
// the kernel's business: it goes with its start).
func permanent(els []nftables.SetElement) map[string]bool {
	out := map[string]bool{}
	for _, e := range els {
		if !e.IntervalEnd && e.Timeout == 0 {
			out[string(e.Key)] = true
		}
	}
	return out
}
