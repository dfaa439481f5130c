package nftables

import (
	"bytes"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// newRuleV030 is v0.3.0's newRule (its marshalling), the reference routerd's newRule
// must match byte for byte.
func (cc *Conn) newRuleV030(r *Rule, op ruleOperation) netlink.Message {
	exprAttrs := make([]netlink.Attribute, len(r.Exprs))
	for idx, expr := range r.Exprs {
		exprAttrs[idx] = netlink.Attribute{
			Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM,
			Data: cc.marshalExpr(byte(r.Table.Family), expr),
		}
	}
	data := cc.marshalAttr([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(r.Table.Name + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(r.Chain.Name + "\x00")},
	})
	if r.Handle != 0 {
		data = append(data, cc.marshalAttr([]netlink.Attribute{
			{Type: unix.NFTA_RULE_HANDLE, Data: binaryutil.BigEndian.PutUint64(r.Handle)},
		})...)
	}
	data = append(data, cc.marshalAttr([]netlink.Attribute{
		{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: cc.marshalAttr(exprAttrs)},
	})...)
	if compatPolicy, err := getCompatPolicy(r.Exprs); err != nil {
		cc.setErr(err)
	} else if compatPolicy != nil {
		data = append(data, cc.marshalAttr([]netlink.Attribute{
			{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_COMPAT, Data: cc.marshalAttr([]netlink.Attribute{
				{Type: unix.NFTA_RULE_COMPAT_PROTO, Data: binaryutil.BigEndian.PutUint32(compatPolicy.Proto)},
				{Type: unix.NFTA_RULE_COMPAT_FLAGS, Data: binaryutil.BigEndian.PutUint32(compatPolicy.Flag & nft_RULE_COMPAT_F_MASK)},
			})},
		})...)
	}
	msgData := []byte{}
	msgData = append(msgData, data...)
	var flags netlink.HeaderFlags
	if r.UserData != nil {
		msgData = append(msgData, cc.marshalAttr([]netlink.Attribute{
			{Type: unix.NFTA_RULE_USERDATA, Data: r.UserData},
		})...)
	}
	switch op {
	case operationAdd:
		flags = netlink.Request | netlink.Acknowledge | netlink.Create | unix.NLM_F_ECHO | unix.NLM_F_APPEND
	case operationInsert:
		flags = netlink.Request | netlink.Acknowledge | netlink.Create | unix.NLM_F_ECHO
	case operationReplace:
		flags = netlink.Request | netlink.Acknowledge | netlink.Replace | unix.NLM_F_ECHO | unix.NLM_F_REPLACE
	}
	if r.Position != 0 || (r.Flags&(1<<unix.NFTA_RULE_POSITION)) != 0 {
		msgData = append(msgData, cc.marshalAttr([]netlink.Attribute{
			{Type: unix.NFTA_RULE_POSITION, Data: binaryutil.BigEndian.PutUint64(r.Position)},
		})...)
	}
	return netlink.Message{
		Header: netlink.Header{Type: newRuleHeaderType, Flags: flags},
		Data:   append(extraHeader(uint8(r.Table.Family), 0), msgData...),
	}
}

// TestNewRuleBytes: routerd's newRule marshals every kind of rule as v0.3.0 did.
func TestNewRuleBytes(t *testing.T) {
	t4 := &Table{Name: "routerd", Family: TableFamilyIPv4}
	t6 := &Table{Name: "r6", Family: TableFamilyIPv6}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 0, 1, 0}},
		&expr.Objref{Type: 1, Name: "filter/12345"},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: "filter/custom-chain"},
	}
	match := &expr.Match{Name: "physdev", Rev: 0, Info: &xt.Unknown{1, 2, 3}}
	rules := []struct {
		r  *Rule
		op ruleOperation
	}{
		{&Rule{Table: t4, Chain: &Chain{Name: "filter/forward"}, Exprs: exprs}, operationAdd},
		{&Rule{Table: t4, Chain: &Chain{Name: "x"}, Exprs: exprs[:1]}, operationInsert},
		{&Rule{Table: t6, Chain: &Chain{Name: "abc"}, Exprs: nil}, operationAdd},
		{&Rule{Table: t4, Chain: &Chain{Name: "ab"}, Handle: 77, Exprs: exprs}, operationReplace},
		{&Rule{Table: t4, Chain: &Chain{Name: "abcd"}, Position: 9, UserData: []byte("hello"), Exprs: exprs}, operationAdd},
		{&Rule{Table: t4, Chain: &Chain{Name: "abcde"}, Flags: 1 << unix.NFTA_RULE_POSITION, UserData: []byte{}, Exprs: exprs}, operationInsert},
		{&Rule{Table: t4, Chain: &Chain{Name: "filter/forward"}, Exprs: append([]expr.Any{match}, exprs...)}, operationAdd},
	}
	for i, c := range rules {
		cc := &Conn{}
		cc.newRule(c.r, c.op)
		want := (&Conn{}).newRuleV030(c.r, c.op)
		if cc.err != nil {
			t.Fatalf("rule %d: %v", i, cc.err)
		}
		got := cc.messages[0]
		if got.Header != want.Header || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("rule %d:\n got %v %x\nwant %v %x", i, got.Header, got.Data, want.Header, want.Data)
		}
		if cap(got.Data) != len(got.Data) {
			t.Errorf("rule %d: buffer of %d bytes for %d", i, cap(got.Data), len(got.Data))
		}
	}
}
