package firewall

import (
	"fmt"
	"strings"
)

// markProps are the properties naming a packet mark or a connection mark.
var markProps = [...]struct {
	prop string
	conn bool
}{{"new-packet-mark", false}, {"packet-mark", false}, {"new-connection-mark", true}, {"connection-mark", true}}

// markClashes finds the rules that name a packet (connection) mark whose kernel number
// is the number of another packet (connection) mark an earlier rule of rules names: the
// names hash to their numbers (NameMark; 16 bits for packet marks, so two of a few
// hundred per-customer names share one with even odds), and two names sharing one would
// be one mark in the kernel, a rule for one silently matching the other's packets
// (issue 15, qa15: user98 and user1220). Such a rule is invalid with the reason, and
// nothing of it reaches the kernel. Who keeps the number: the names rules set
// (new-packet-mark=, new-connection-mark=) before the names rules only match, and among
// those the earlier rule (filter, nat, mangle, raw; each in its order).
//
// Numbers stay the hash of the name, not allocated: connection marks live in conntrack
// across passes and restarts, and control/queue's classifiers compute packet marks
// from the name alone, so an allocated number would have to be kept and shared.
func markClashes(rules []*Rule) map[RuleKey]string {
	var out map[RuleKey]string
	owner := [2]map[uint32]string{{}, {}} // number -> the first name, packet and connection marks
	// Names rules set claim their numbers first, then names rules only match: a
	// matcher never takes the number of the mark a rule sets.
	for _, setting := range []bool{true, false} {
		for _, r := range rules {
			for _, m := range markProps {
				if strings.HasPrefix(m.prop, "new-") != setting {
					continue
				}
				name := strings.TrimPrefix(r.Props[m.prop], "!")
				if name == "" || name == "no-mark" {
					continue
				}
				i, v := 0, NameMark(name, PacketMarkBits)
				if m.conn {
					i, v = 1, ConnMark(name)
				}
				first, ok := owner[i][v]
				if !ok {
					owner[i][v] = name
					continue
				}
				if first == name {
					continue
				}
				if out == nil {
					out = map[RuleKey]string{}
				}
				kind := strings.TrimPrefix(m.prop, "new-")
				if _, done := out[RuleKey{r.Table, r.ID}]; !done {
					out[RuleKey{r.Table, r.ID}] = fmt.Sprintf("failure: %s %s has the kernel mark 0x%x of %s %s, which another rule names; rename one",
						kind, name, v, kind, first)
				}
			}
		}
	}
	return out
}
