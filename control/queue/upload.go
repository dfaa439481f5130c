package queue

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/firewall"
)

// The upload of an interface with a queue with packet-marks is classified by netfilter,
// not by tc: a chain of routerd's own table in postrouting, after mangle (its marks are
// set) and before src-nat (the source is still the target's address), gives the packet
// the class of the first queue, in queue order, whose target, dst and packet-marks it
// matches, as its skb priority. The packet then leaves through the egress feed to the
// interface's rq-uN, whose HTB takes a priority naming one of its classes as the class
// (no filter is asked). Classified at the feed (after src-nat, issue 15), a marked
// upload behind masquerade matched no target and ran free; classified at the ingress
// (before mangle), a later queue without packet-marks took what an earlier marked
// queue should have.
const (
	uploadTable = "routerd_queue"
	uploadChain = "upload"
)

// uploadPrio is the chain's priority: after mangle postrouting (-150), before srcnat (100).
const uploadPrio = 99

// uploadRule is one rule of the upload chain: a packet that came in through iface, whose
// addresses match m and (marked) whose packet mark is mark, is given class.
type uploadRule struct {
	iface  string
	m      match
	marked bool
	mark   uint32
	class  uint32
}

// String is the rule as its user data in the kernel keeps it: "ether1 198.18.1.2/32>any
// mark 3 class 1:101" (no mark: "mark any").
func (r uploadRule) String() string {
	pf := func(p netip.Prefix) string {
		if !p.IsValid() {
			return "any"
		}
		return p.String()
	}
	mark := "any"
	if r.marked {
		mark = fmt.Sprint(r.mark)
	}
	major, minor := netlink.MajorMinor(r.class)
	return fmt.Sprintf("%s %s>%s mark %s class %x:%x", r.iface, pf(r.m.src), pf(r.m.dst), mark, major, minor)
}

// uploadRules are the rules of the leaf classes of the "up:<iface>" trees of want, each
// tree's in queue order.
func (e *Engine) uploadRules(want map[string][]class, devs []string) []uploadRule {
	var out []uploadRule
	for _, dev := range devs {
		ifn, ok := strings.CutPrefix(dev, "up:")
		if !ok {
			continue
		}
		for _, c := range want[dev] {
			if c.match == nil {
				continue // an inner class: its leaves are classified
			}
			for _, m := range c.match {
				r := uploadRule{iface: ifn, m: m, class: netlink.MakeHandle(rootMajor, c.minor)}
				if len(c.marks) == 0 {
					out = append(out, r)
					continue
				}
				for _, name := range c.marks {
					r.marked, r.mark = true, markNumber(e.marks, name)
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// applyUpload puts rules in the kernel when the chain has others (one read: each rule
// carries its text as user data), also when they were changed behind routerd's back.
// The table stays when routerd stops, as the trees do; a start whose rules are the
// same adopts it, and one whose rules differ replaces them in one transaction, so a
// packet never sees an empty chain.
func (e *Engine) applyUpload(rules []uploadRule) error {
	want := make([]string, len(rules))
	for i, r := range rules {
		want[i] = r.String()
	}
	got, there, err := e.k.UploadRules()
	if err != nil {
		return fmt.Errorf("reading the upload classifier: %w", err)
	}
	if !there && len(want) == 0 || there && len(want) > 0 && slices.Equal(got, want) {
		return nil
	}
	if err := e.k.UploadSet(rules); err != nil {
		return fmt.Errorf("upload classifier (nftables %s): %w", uploadTable, err)
	}
	return nil
}

func uploadTableRef() *nftables.Table {
	return &nftables.Table{Name: uploadTable, Family: nftables.TableFamilyIPv4}
}

// UploadRules reads the upload chain's rules (their user data, uploadRule.String);
// there is false when its table is not there.
func (k netlinkKernel) UploadRules() (rules []string, there bool, err error) {
	c, err := nftables.New()
	if err != nil {
		return nil, false, err
	}
	t := uploadTableRef()
	if _, err := c.ListTableOfFamily(uploadTable, t.Family); err != nil {
		return nil, false, nil
	}
	rs, err := c.GetRules(t, &nftables.Chain{Name: uploadChain, Table: t})
	if err != nil {
		return nil, true, nil // a table without the chain: replaced
	}
	for _, r := range rs {
		rules = append(rules, string(r.UserData))
	}
	return rules, true, nil
}

// UploadSet replaces the upload chain's rules in one transaction; no rules remove the
// table.
func (k netlinkKernel) UploadSet(rules []uploadRule) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := uploadTableRef()
	if len(rules) == 0 {
		c.DelTable(t)
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	}
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: uploadChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityRef(uploadPrio), Policy: &accept})
	c.FlushChain(ch)
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: uploadExprs(r), UserData: []byte(r.String())})
	}
	return c.Flush()
}

// uploadExprs is one rule: iifname, source and destination prefixes, the packet mark
// under firewall.PacketMarkMask, then meta priority set and accept (the chain ends; the
// hook's later chains, src-nat among them, still run).
func uploadExprs(r uploadRule) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, r.iface)
	e := []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name}}
	for _, p := range []struct {
		pf  netip.Prefix
		off uint32
	}{{r.m.src, 12}, {r.m.dst, 16}} {
		if !p.pf.IsValid() || p.pf.Bits() == 0 {
			continue
		}
		a := p.pf.Masked().Addr().As4()
		mask := make([]byte, 4)
		for b := 0; b < p.pf.Bits(); b++ {
			mask[b/8] |= 0x80 >> (b % 8)
		}
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: p.off, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
	}
	if r.marked {
		e = append(e, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(firewall.PacketMarkMask), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.mark)})
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.class)},
		&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1},
		&expr.Verdict{Kind: expr.VerdictAccept})
}
