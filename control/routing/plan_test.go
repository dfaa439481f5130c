package routing

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// fakeKernel holds ip rules as the kernel does (the kernel's own local, main and default
// rules included) and records every write (controltest.Recorder); a write named in Fail
// is refused with that error.
type fakeKernel struct {
	mu    sync.Mutex
	rules []netlink.Rule
	controltest.Recorder
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		for _, own := range []struct{ prio, table int }{{0, unix.RT_TABLE_LOCAL}, {32766, unix.RT_TABLE_MAIN}, {32767, unix.RT_TABLE_DEFAULT}} {
			r := *netlink.NewRule()
			r.Family, r.Priority, r.Table, r.Type, r.Protocol = fam, own.prio, own.table, unix.RTN_UNICAST, unix.RTPROT_KERNEL
			k.rules = append(k.rules, r)
		}
	}
	return k
}

// describe is a rule as the test expects it, in ip rule's words.
func describe(r *netlink.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d prio %d", map[int]int{unix.AF_INET: 4, unix.AF_INET6: 6}[r.Family], r.Priority)
	if r.Src != nil {
		b.WriteString(" from " + r.Src.String())
	}
	if r.Dst != nil {
		b.WriteString(" to " + r.Dst.String())
	}
	if r.IifName != "" {
		b.WriteString(" iif " + r.IifName)
	}
	if r.Mask != nil {
		fmt.Fprintf(&b, " fwmark %#x/%#x", r.Mark, *r.Mask)
	}
	switch r.Type {
	case unix.RTN_BLACKHOLE:
		b.WriteString(" blackhole")
	case unix.RTN_UNREACHABLE:
		b.WriteString(" unreachable")
	default:
		fmt.Fprintf(&b, " lookup %d", r.Table)
	}
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	return b.String()
}

func (k *fakeKernel) RuleList(fam int) ([]netlink.Rule, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Rule
	for _, r := range k.rules {
		if r.Family == fam {
			out = append(out, r)
		}
	}
	return out, nil
}

func (k *fakeKernel) RuleAdd(r *netlink.Rule) error {
	if err := k.Write("add %s", describe(r)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rules = append(k.rules, *r)
	return nil
}

func (k *fakeKernel) RuleDel(r *netlink.Rule) error {
	if err := k.Write("del %s", describe(r)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	before := len(k.rules)
	k.rules = slices.DeleteFunc(k.rules, func(o netlink.Rule) bool { return o.Protocol == r.Protocol && describe(&o) == describe(r) })
	if len(k.rules) == before {
		return unix.ENOENT
	}
	return nil
}

var _ Kernel = (*fakeKernel)(nil)

// TestPlan: tables and rules over an observed kernel give exactly the planned rule
// writes; the next pass writes nothing (or retries exactly what failed, the rule invalid
// with the kernel's reason); rules that are not routerd's are never touched.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(k *fakeKernel)
		cmds   []string
		after  func(k *fakeKernel) // behind routerd's back, between the passes
		fail   map[string]error
		want   []string
		again  []string
		states map[string]string // rule src-address -> status substring ("" applied)
	}{{
		name: "nothing configured: the kernel's own rules stay",
	}, {
		name: "a table and a rule looking it up",
		cmds: []string{"/routing/table add name=backup fib=yes",
			"/routing/rule add src-address=198.18.0.0/24 action=lookup table=backup"},
		want: []string{"add v4 prio 2000 fwmark 0x100000/0xfff00000 lookup 10001",
			"add v4 prio 1000 from 198.18.0.0/24 lookup 10001",
			"add v6 prio 2000 fwmark 0x100000/0xfff00000 lookup 10001"},
	}, {
		name: "drop, unreachable and min-prefix read back as asked: nothing the second time",
		cmds: []string{"/routing/rule add dst-address=198.19.1.0/24 action=drop",
			"/routing/rule add dst-address=2001:db8:1::/48 action=unreachable",
			"/routing/rule add dst-address=198.19.0.0/16 min-prefix=0"},
		want: []string{"add v4 prio 1000 to 198.19.1.0/24 blackhole",
			"add v4 prio 1001 to 198.19.0.0/16 lookup 254 suppress_prefixlength 0",
			"add v6 prio 1000 to 2001:db8:1::/48 unreachable"},
	}, {
		name: "deleted behind routerd's back: the next pass adds it again",
		cmds: []string{"/routing/rule add src-address=198.18.0.0/24 action=drop"},
		after: func(k *fakeKernel) {
			k.rules = slices.DeleteFunc(k.rules, func(r netlink.Rule) bool { return r.Protocol == Proto })
		},
		want:  []string{"add v4 prio 1000 from 198.18.0.0/24 blackhole"},
		again: []string{"add v4 prio 1000 from 198.18.0.0/24 blackhole"},
	}, {
		name: "routerd's stale rule removed, another daemon's at the same place kept",
		setup: func(k *fakeKernel) {
			for _, proto := range []uint8{Proto, unix.RTPROT_STATIC} {
				r := base(unix.AF_INET, RulePriority)
				r.Protocol, r.Table = proto, unix.RT_TABLE_MAIN
				r.Src = &net.IPNet{IP: net.IPv4(198, 18, 9, 0).To4(), Mask: net.CIDRMask(24, 32)}
				k.rules = append(k.rules, r)
			}
		},
		want: []string{"del v4 prio 1000 from 198.18.9.0/24 lookup 254"},
	}, {
		name: "the kernel refuses a rule: that rule is invalid with its reason, the others stay, it is tried again",
		cmds: []string{"/routing/rule add src-address=198.18.0.0/24 action=drop",
			"/routing/rule add src-address=198.18.1.0/24 action=drop"},
		fail: map[string]error{"add v4 prio 1000 from 198.18.0.0/24 blackhole": unix.EPERM},
		want: []string{"add v4 prio 1000 from 198.18.0.0/24 blackhole (failed)",
			"add v4 prio 1001 from 198.18.1.0/24 blackhole"},
		again: []string{"add v4 prio 1000 from 198.18.0.0/24 blackhole (failed)"},
		states: map[string]string{"198.18.0.0/24": "kernel refused the rule: operation not permitted",
			"198.18.1.0/24": ""},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			if tc.setup != nil {
				tc.setup(k)
			}
			ex := controltest.New(t)
			e := New(Options{})
			e.ex, e.k = ex, k
			for _, c := range tc.cmds {
				controltest.Exec(t, ex, c)
			}
			k.Fail = tc.fail
			pass := func(which string, want []string) {
				t.Helper()
				if err := e.Reconcile(context.Background()); err != nil {
					t.Fatalf("%s pass: %v", which, err)
				}
				if got := k.Take(); !slices.Equal(got, want) {
					t.Errorf("%s pass wrote\n  %q\nwant\n  %q", which, got, want)
				}
			}
			pass("first", tc.want)
			if tc.after != nil {
				tc.after(k)
			}
			pass("second", tc.again)
			controltest.WantStates(t, ex, RulePath, "src-address", tc.states)
			kernels := 0
			for _, r := range k.rules {
				if r.Protocol == unix.RTPROT_KERNEL {
					kernels++
				}
			}
			if kernels != 6 {
				t.Errorf("the kernel's own rules: %d left of 6", kernels)
			}
		})
	}
}
