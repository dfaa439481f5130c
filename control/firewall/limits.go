package firewall

import (
	"fmt"
	"strings"
	"unicode"
)

// What the kernel refuses at apply is refused at add and set, so a configuration the
// kernel cannot take is never acknowledged (one such rule made every later pass fail):
//
//   - nftables names (chains, sets, objects) are at most NFT_NAME_MAXLEN-1 = 255 bytes. A
//     chain C of table T is "T/C" (at most 255-len(T)-1 bytes of chain name), an address
//     list L is the sets "list/L" and "dyn/L" (at most 250 bytes).
//   - A log rule's prefix (NFTA_LOG_PREFIX, NF_LOG_PREFIXLEN-1 = 127 bytes) carries the
//     rule's identity "T/C/id " before log-prefix; a chain name that does not fit beside
//     log-prefix is left out ("T//id ", the log reader finds the chain by the id), so
//     log-prefix gets what table and id leave, whatever the chain is called.
//
// Not limits here: comments stay in routerd's store (the kernel never sees them); the
// configured part of a list is an interval set without a size limit; a rule's dynamic
// set holds at most 1<<20 addresses (a full set adds nothing more, as the kernel's
// dynset does; entries time out or are removed).
const (
	nftNameMax   = 255
	logPrefixMax = 127
	// idDigits is what a rule id takes in the log prefix, reserved at add (the id is not
	// known yet): ids are numbered from 1 and never reach ten digits in a store.
	idDigits = 10
)

// ErrTooLong is a name or prefix longer than the kernel takes.
var ErrTooLong = fmt.Errorf("too long")

// chainNameMax is the longest chain name table can have.
func chainNameMax(table string) int { return nftNameMax - len(ChainName(table, "")) }

// listNameMax is the longest address list name.
var listNameMax = nftNameMax - max(len(staticSet("")), len(dynamicSet("")))

// checkLimits refuses what a rule names beyond the kernel's limits.
func checkLimits(r *Rule) error {
	p := r.Props
	for _, c := range []struct{ arg, v string }{{"chain", r.Chain}, {"jump-target", p["jump-target"]}} {
		if len(c.v) > chainNameMax(r.Table) {
			return fmt.Errorf("failure: %s %w (at most %d characters)", c.arg, ErrTooLong, chainNameMax(r.Table))
		}
		if err := checkControl(c.arg, c.v); err != nil {
			return err
		}
	}
	for _, k := range []string{"src-address-list", "dst-address-list", "address-list"} {
		v := strings.TrimPrefix(p[k], "!")
		if len(v) > listNameMax {
			return fmt.Errorf("failure: %s %w (at most %d characters)", k, ErrTooLong, listNameMax)
		}
		if err := checkControl(k, v); err != nil {
			return err
		}
	}
	if r.Action == "log" || p["log"] == "yes" {
		if len(p["log-prefix"]) > logPrefixRoom(r.Table) {
			return fmt.Errorf("failure: log-prefix %w (at most %d characters)", ErrTooLong, logPrefixRoom(r.Table))
		}
	}
	return nil
}

// logPrefixRoom is the longest log-prefix of a rule of table: the kernel's prefix
// carries "table//id " before it.
func logPrefixRoom(table string) int { return logPrefixMax - len(table+"// ") - idDigits }

// checkListName refuses an address list name the kernel cannot name a set after.
func checkListName(name string) error {
	if len(name) > listNameMax {
		return fmt.Errorf("failure: list %w (at most %d characters)", ErrTooLong, listNameMax)
	}
	return checkControl("list", name)
}

// checkControl refuses a chain or list name with a control character: the kernel's
// names end at a NUL, so "qq\00zz" would be chain qq (another chain's rules in it).
func checkControl(arg, v string) error {
	if strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("failure: %s must not contain control characters", arg)
	}
	return nil
}
