package firewall

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// TestFlushReportsRefusals: the batch asks the kernel for no acknowledgement per
// command (third_party/google-nftables), so a refusal must still come back as Flush's
// error, leave the kernel as it was, and leave the next batch on the same connection
// unaffected.
func TestFlushReportsRefusals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and nftables")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (package nftables) to inspect the ruleset")
	}
	ns := fmt.Sprintf("fwflush%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k := &Kernel{NetNS: int(f.Fd())}
	c, err := k.conn()
	if err != nil {
		t.Fatal(err)
	}
	tbl := &nftables.Table{Name: "flushtest", Family: nftables.TableFamilyIPv4}
	fill := func(bad bool) {
		c.AddTable(tbl)
		ch := c.AddChain(&nftables.Chain{Name: "c", Table: tbl})
		for i := 0; i < 2000; i++ {
			if bad && i == 1000 {
				// A jump to a chain that does not exist: the kernel refuses it.
				c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
					&expr.Verdict{Kind: expr.VerdictJump, Chain: "missing"}}})
				continue
			}
			c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{&expr.Counter{}}})
		}
	}
	list := func() string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "nft", "list", "ruleset").CombinedOutput()
		return string(out)
	}

	fill(true)
	err = c.Flush()
	if err == nil {
		t.Fatal("Flush accepted a rule jumping to a missing chain")
	}
	if !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("Flush's error does not carry the kernel's: %v", err)
	}
	if got := list(); strings.Contains(got, "flushtest") {
		t.Fatalf("a refused batch left the table behind:\n%s", got)
	}

	fill(false)
	if err := c.Flush(); err != nil {
		t.Fatalf("the next batch on the same connection: %v", err)
	}
	if n := strings.Count(list(), "counter packets"); n != 2000 {
		t.Fatalf("the kernel holds %d rules, want 2000", n)
	}
	// Two refusals in one batch: both reported, each naming its command, nothing
	// applied.
	c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "c", Table: tbl}, Exprs: []expr.Any{&expr.Counter{}}})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "nochain", Table: tbl}, Exprs: []expr.Any{&expr.Counter{}}})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "c", Table: tbl}, Exprs: []expr.Any{&expr.Counter{}}})
	if c.Pending() != 3 {
		t.Fatalf("Pending %d after three commands", c.Pending())
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: &nftables.Chain{Name: "nochain2", Table: tbl}, Exprs: []expr.Any{&expr.Counter{}}})
	err = c.Flush()
	if err == nil || strings.Count(err.Error(), "no such file or directory") < 2 {
		t.Fatalf("two refused commands: %v", err)
	}
	var idx []int
	walkErrors(err, func(e error) {
		if ce, ok := e.(*nftables.CommandError); ok {
			idx = append(idx, ce.Index)
		}
	})
	if fmt.Sprint(idx) != "[1 3]" {
		t.Errorf("refused commands %v, want [1 3]", idx)
	}
	if n := strings.Count(list(), "counter packets"); n != 2000 {
		t.Fatalf("after a refused batch the kernel holds %d rules, want 2000", n)
	}
}

// TestTableRestored: a table deleted behind routerd's back (nft delete table) is back
// after the next pass, which the engine host runs every DefaultResync with nothing
// changed; a chain deleted out of it too.
func TestTableRestored(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=input protocol=udp dst-port=5599 action=drop comment=kept
/ip firewall filter add chain=custom action=return`)
	if out := ruleset(t, tp); !strings.Contains(out, "udp dport 5599") {
		t.Fatalf("the rule is not in the kernel:\n%s", out)
	}
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := ruleset(t, tp); !strings.Contains(out, "udp dport 5599") || !strings.Contains(out, `chain filter/custom`) {
		t.Fatalf("the deleted table was not restored:\n%s", out)
	}
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "chain", "ip", TableName, "filter/custom")
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := ruleset(t, tp); !strings.Contains(out, `chain filter/custom`) {
		t.Fatalf("the deleted chain was not restored:\n%s", out)
	}
}

// TestJumpDepthKernel: the deepest nesting the compiler lets through is one the kernel
// takes, and a table with a jump one level deeper still applies, without that jump.
func TestJumpDepthKernel(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	var b strings.Builder
	b.WriteString("/ip firewall filter\nadd chain=forward action=jump jump-target=d1 comment=deep\n")
	for i := 1; i <= 15; i++ {
		fmt.Fprintf(&b, "add chain=d%d action=jump jump-target=d%d comment=deep\n", i, i+1)
	}
	b.WriteString("add chain=d16 action=accept comment=deep\nadd chain=input protocol=tcp dst-port=4444 action=drop comment=after\n")
	if _, err := r.try(b.String()); err != nil {
		t.Fatalf("the kernel refused the table: %v", err)
	}
	out := ruleset(t, tp)
	if !strings.Contains(out, "tcp dport 4444") || !strings.Contains(out, "jump d15") && !strings.Contains(out, "jump filter/d15") {
		t.Fatalf("the table is not in the kernel:\n%s", out)
	}
	if strings.Contains(out, "jump filter/d16") {
		t.Fatalf("the jump 16 levels deep reached the kernel:\n%s", out)
	}
	st := r.run(t, `/ip firewall filter print detail where chain=d15`)
	if !strings.Contains(st, "deeper than the kernel's 16 levels") {
		t.Errorf("the too deep jump shows no reason:\n%s", st)
	}
}
