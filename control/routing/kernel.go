package routing

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/nldump"
)

// Kernel is what the routing engine reads from and changes in the kernel: its ip rules,
// read first, then written only where they differ, so a pass with nothing changed makes
// no call of the writes. netlinkKernel is the real one; the plan test runs the engine
// against a fake that records every write (docs/architecture.md, "Kernel seams"), and
// TestApplyKeepsOtherRules keeps testing the real kernel.
type Kernel interface {
	// RuleList lists the rules of a family, with the type of routerd's own (withTypes).
	RuleList(fam int) ([]netlink.Rule, error)

	RuleAdd(r *netlink.Rule) error
	RuleDel(r *netlink.Rule) error
}

// netlinkKernel is the kernel of the handle's namespace. Dumps that raced a change are
// repeated (package nldump), not a failed pass.
type netlinkKernel struct{ h *netlink.Handle }

var _ Kernel = netlinkKernel{}

func (k netlinkKernel) RuleList(fam int) ([]netlink.Rule, error) {
	all, err := nldump.Retry(func() ([]netlink.Rule, error) { return k.h.RuleList(fam) })
	if err != nil {
		return nil, err
	}
	if err := withTypes(fam, all); err != nil {
		return nil, fmt.Errorf("rule types: %w", err)
	}
	return all, nil
}
func (k netlinkKernel) RuleAdd(r *netlink.Rule) error { return k.h.RuleAdd(r) }
func (k netlinkKernel) RuleDel(r *netlink.Rule) error { return k.h.RuleDel(r) }
