package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/link"
)

// Prearm loads the stored firewall into the kernel before any engine runs (cmd/routerd
// calls it before the engines start), so that a host that boots never forwards or
// accepts what the stored rules drop: the engines that make links, apply addresses and
// turn forwarding on, and the services that listen, start before the firewall engine's
// first pass. It does, for each family whose table the kernel does not have (a cold
// start), what that pass will do: the rules of filter, nat, mangle and raw and the
// configured address lists in one transaction, interface names matched by name (a
// bridge or tunnel not made yet matches once it is made) and interface lists with the
// members the configuration names (link.Boot). A family whose table the kernel kept (a
// restart) is left as it is: its rules, counters and dynamic entries stay in force until
// the engine's pass brings the difference. Not loaded here: address-list entries given
// by DNS name (no resolver before the network is up) and other engines' dynamic rules;
// they come with the engines' passes.
//
// When the kernel refuses the transaction whole, Prearm installs the lockdown
// (lockdown) and says so in the log: the family's filter input (but loopback) and forward
// hooks drop everything until the engine's pass replaces the table. It returns what it
// could not do.
func Prearm(ctx context.Context, ex *control.Executor, opts Options) error {
	if opts.KernelName == nil || opts.IfLists == nil {
		kn, members, done, err := link.Boot(ex)
		if err != nil {
			return fmt.Errorf("firewall: before the engines: %w", err)
		}
		defer done()
		if opts.KernelName == nil {
			opts.KernelName = kn
		}
		if opts.IfLists == nil {
			opts.IfLists = members
		}
	}
	e := newEngine(ex, opts)
	e.boot = true
	e.loadMarks()
	loc := e.clockZone()
	zo := offsetsAt(loc, e.ex.Now())
	e.zoneLoc, e.zoneUsed = loc, zo
	// As the engine's start does at a cold start: timed entries do not outlive a reboot
	// (seedTimers removes them from a family without a table).
	e.seedTimers(time.Now())
	var errs []error
	for _, v6 := range []bool{false, true} {
		c, err := e.k.conn()
		if err != nil {
			errs = append(errs, fmt.Errorf("firewall: nftables: %w", err))
			continue
		}
		if _, err := c.ListTableOfFamily(TableName, table(v6).Family); err == nil {
			continue // a restart: the kernel kept the table
		}
		start := time.Now()
		err = e.reconcile(ctx, v6, zo)
		pl := e.applied[v6]
		switch {
		case err == nil:
			slog.Info("firewall: stored ruleset loaded before the engines", "ipv6", v6,
				"chains", len(pl.Chains), "took", time.Since(start).Round(time.Millisecond))
			if len(pl.Invalid) > 0 {
				slog.Warn("firewall: rules left out before the engines (the engine's pass shows why)", "ipv6", v6, "count", len(pl.Invalid))
			}
		case !e.filters(v6):
			errs = append(errs, fmt.Errorf("firewall: stored ruleset (ipv6 %v) not loaded before the engines: %w", v6, err))
		default:
			lerr := e.lockdown(v6)
			if lerr != nil {
				slog.Error("firewall: stored ruleset not loaded before the engines, nor the lockdown: the box is open until the firewall engine's pass",
					"ipv6", v6, "err", err, "lockdown", lerr)
				errs = append(errs, fmt.Errorf("firewall: stored ruleset (ipv6 %v) not loaded: %w; lockdown: %w", v6, err, lerr))
				continue
			}
			slog.Error("firewall: stored ruleset not loaded before the engines: input (but loopback) and forward drop everything until the firewall engine's pass",
				"ipv6", v6, "err", err)
			errs = append(errs, fmt.Errorf("firewall: stored ruleset (ipv6 %v) not loaded, lockdown installed: %w", v6, err))
		}
	}
	return errors.Join(errs...)
}

// filters reports whether the family's stored configuration has an enabled rule in
// filter or raw: a box whose firewall only translates addresses needs no lockdown.
func (e *Engine) filters(v6 bool) bool {
	for _, t := range []string{"filter", "raw"} {
		items, err := e.ex.SharedItems(rulePath(v6, t))
		if err != nil {
			return true // unknown: the safe side
		}
		for _, it := range items {
			if it.Props["disabled"] != "yes" {
				return true
			}
		}
	}
	return false
}

// lockdownChains are the lockdown's base chains: named apart from any chain the
// compiler makes, so the engine's first transaction deletes them as chains its plan no
// longer has (Kernel.applyAll), in the same transaction that adds the stored rules.
var lockdownChains = []struct {
	name string
	hook *nftables.ChainHook
}{{"boot/input", nftables.ChainHookInput}, {"boot/forward", nftables.ChainHookForward}}

// lockdown installs routerd's table of the family with only base chains on input and
// forward that drop everything, but packets received on the loopback: nothing is
// forwarded and no service answers another host until the firewall engine's pass.
func (e *Engine) lockdown(v6 bool) error {
	c, err := e.k.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(v6)
	c.AddTable(t)
	c.FlushTable(t)
	drop := nftables.ChainPolicyDrop
	for _, lc := range lockdownChains {
		ch := c.AddChain(&nftables.Chain{Name: lc.name, Table: t, Hooknum: lc.hook,
			Priority: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: &drop})
		if lc.hook == nftables.ChainHookInput {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
				&expr.Verdict{Kind: expr.VerdictAccept},
			}})
		}
	}
	return flush(c)
}
