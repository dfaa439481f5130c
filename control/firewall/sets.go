package firewall

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// setLookup is a rule's lookup in an anonymous constant set it carries: a value list of
// the rule (port=80,443,8000-8100, an interface list's members, address types) is one
// set and one lookup, not a cross product of exclusive alternatives, so a RouterOS rule
// stays one kernel rule (issue 15). The apply creates the set in the transaction that
// adds the rule (queueRule); the kernel binds it to the rule and deletes it with the
// rule, so kept rules keep theirs and a changed rule (an interface list whose members
// changed: the rule's fingerprint includes them) comes with a new one.
//
// The plan keeps setLookup (compiled rules are cached between passes); each apply fills
// a fresh expr.Lookup with the set's transaction id. The embedded Lookup (SourceRegister,
// Invert) makes it an expr.Any for code that only walks expressions.
//
// With data set, the set is a map: the lookup writes the value of the key it finds into
// its DestRegister (a header field's value mapped to what an action writes: mapOf).
type setLookup struct {
	*expr.Lookup
	key      nftables.SetDatatype
	data     *nftables.SetDatatype
	interval bool
	elems    []nftables.SetElement
}

// intType is nft's integer type of n bytes (an anonymous set's key or data has the
// length of what the rule loads, not integer's default 4).
func intType(n uint32) nftables.SetDatatype {
	t := nftables.TypeInteger
	t.Bytes = n
	return t
}

// mapOf looks up the value load puts in register 1 in a constant map (key -> value,
// keys of one length, values of dataType) and leaves the value in register 1: one
// kernel rule does what one rule per key value did (issue 15: set-priority from-dscp,
// change-ttl increment and decrement). Every key the load can yield must be in m, or the
// rule stops there for the packets whose key is not.
func mapOf(load []expr.Any, m map[string][]byte, keyLen uint32, dataType nftables.SetDatatype) []expr.Any {
	keys := slices.Sorted(maps.Keys(m))
	els := make([]nftables.SetElement, len(keys))
	for i, k := range keys {
		els[i] = nftables.SetElement{Key: []byte(k), Val: m[k]}
	}
	dt := dataType
	return append(slices.Clone(load), &setLookup{Lookup: &expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true},
		key: intType(keyLen), data: &dt, elems: els})
}

// inSet matches the value load puts in register 1 against the set of vals (one of them,
// or, with neg, none). One value needs no set.
func inSet(load expr.Any, key nftables.SetDatatype, vals [][]byte, neg bool) alt {
	vals = slices.SortedFunc(slices.Values(vals), bytes.Compare)
	vals = slices.CompactFunc(vals, bytes.Equal)
	if len(vals) == 1 {
		return one(load, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: vals[0]})
	}
	els := make([]nftables.SetElement, len(vals))
	for i, v := range vals {
		els[i] = nftables.SetElement{Key: v}
	}
	return one(load, &setLookup{Lookup: &expr.Lookup{SourceRegister: 1, Invert: neg}, key: key, elems: els})
}

// inPorts matches the port load puts in register 1 (2 bytes, network order) against
// ranges (closed, possibly overlapping): one range is a compare, more an interval set
// of the merged ranges.
func inPorts(load expr.Any, ranges [][2]uint16, neg bool) alt {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b [2]uint16) int { return int(a[0]) - int(b[0]) })
	var merged [][2]uint16
	for _, r := range rs {
		if n := len(merged); n > 0 && uint32(r[0]) <= uint32(merged[n-1][1])+1 {
			merged[n-1][1] = max(merged[n-1][1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	if len(merged) == 1 {
		a, b := merged[0][0], merged[0][1]
		if a == b {
			return one(load, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: be16(a)})
		}
		return one(load, &expr.Range{Op: cmpOp(neg), Register: 1, FromData: be16(a), ToData: be16(b)})
	}
	var els []nftables.SetElement
	for _, r := range merged {
		els = append(els, nftables.SetElement{Key: be16(r[0])})
		if r[1] < 0xffff {
			els = append(els, nftables.SetElement{Key: be16(r[1] + 1), IntervalEnd: true})
		}
	}
	return one(load, &setLookup{Lookup: &expr.Lookup{SourceRegister: 1, Invert: neg}, key: nftables.TypeInetService,
		interval: true, elems: els})
}

// queueRule queues one planned kernel rule of configured rule k (zero: routerd's own)
// into chain nc: first the anonymous sets its lookups carry, then the rule, every
// command owned by k (a set the kernel refuses leaves the rule out, as the rule's own
// refusal does).
func queueRule(c Netfilter, own *owners, t *nftables.Table, nc *nftables.Chain, k RuleKey, es []expr.Any) error {
	var out []expr.Any
	for i, e := range es {
		sl, ok := e.(*setLookup)
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(es)
		}
		s := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: sl.key, Interval: sl.interval}
		if sl.data != nil {
			s.IsMap, s.DataType = true, *sl.data
		}
		from := c.Pending()
		if err := c.AddSet(s, sl.elems); err != nil {
			return fmt.Errorf("nftables: anonymous set of %s: %w", nc.Name, err)
		}
		for at := from; at < c.Pending(); at++ {
			*own = append(*own, cmdOwner{at: at, chain: nc.Name, rule: k, hasKey: k != (RuleKey{})})
		}
		out[i] = &expr.Lookup{SourceRegister: sl.SourceRegister, DestRegister: sl.DestRegister, IsDestRegSet: sl.IsDestRegSet,
			Invert: sl.Invert, SetName: s.Name, SetID: s.ID}
	}
	if out == nil {
		out = es
	}
	own.rule(c, nc.Name, k)
	c.AddRule(&nftables.Rule{Table: t, Chain: nc, Exprs: out})
	return nil
}
