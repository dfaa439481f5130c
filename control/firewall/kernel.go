package firewall

import (
	"github.com/google/nftables"
)

// Netfilter is one network namespace's nftables as the firewall engine reads and
// changes it: reads first (the dumps a pass compares against), then the writes. A
// counter reset goes at once; every other write is queued and sent by Flush in one batch,
// which the kernel commits as one transaction or refuses whole, naming the commands it
// refused by their index (Pending's count when each was queued; nftables.CommandError).
// nftConn is the real one; the plan test runs Kernel against a fake that keeps a ruleset
// and records every transaction (docs/architecture.md, "Kernel seams"), and the
// namespace tests keep testing the real kernel.
type Netfilter interface {
	// Generation is the ruleset's generation, which every committed transaction moves,
	// whoever sent it (drift.go).
	Generation() (uint32, error)
	// RuleCounts counts the rules of the family's routerd table by chain.
	RuleCounts(f nftables.TableFamily) (map[string]int, error)
	ListTableOfFamily(name string, f nftables.TableFamily) (*nftables.Table, error)
	ListChainsOfTableFamily(f nftables.TableFamily) ([]*nftables.Chain, error)
	GetSets(t *nftables.Table) ([]*nftables.Set, error)
	GetSetElements(s *nftables.Set) ([]nftables.SetElement, error)
	GetNamedObjects(t *nftables.Table) ([]nftables.Obj, error)

	ResetNamedObjects(t *nftables.Table) ([]nftables.Obj, error)
	ResetObject(o nftables.Obj) (nftables.Obj, error)

	AddTable(t *nftables.Table) *nftables.Table
	DelTable(t *nftables.Table)
	FlushTable(t *nftables.Table)
	AddChain(c *nftables.Chain) *nftables.Chain
	DelChain(c *nftables.Chain)
	FlushChain(c *nftables.Chain)
	AddRule(r *nftables.Rule) *nftables.Rule
	AddSet(s *nftables.Set, vals []nftables.SetElement) error
	DelSet(s *nftables.Set)
	FlushSet(s *nftables.Set)
	SetAddElements(s *nftables.Set, vals []nftables.SetElement) error
	SetDeleteElements(s *nftables.Set, vals []nftables.SetElement) error
	AddObj(o nftables.Obj) nftables.Obj
	DeleteObject(o nftables.Obj)
	// Pending is the number of commands queued since the last Flush.
	Pending() int
	Flush() error
}

// nftConn is the kernel's nftables in the namespace ns (0: the daemon's): the library's
// connection, and the two requests it lacks (drift.go).
type nftConn struct {
	*nftables.Conn
	ns int
}

var _ Netfilter = nftConn{}
