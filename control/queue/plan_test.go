package queue

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
)

// fakeKernel is an in-memory tc for the engine's plan: links (IFBs are added to them),
// routes, and per link its qdiscs, classes and filters, kept as the kernel keeps them
// (a root deleted takes its classes and filters with it; a link deleted takes its
// qdiscs, and a mirred action that redirected to it then redirects to ifindex 0). Every
// write is recorded (controltest.Recorder); a write named in Fail is refused.
type fakeKernel struct {
	mu      sync.Mutex
	links   []netlink.Link
	index   int                  // the last link's: a link made again gets another
	routes  map[netip.Prefix]int // destination -> link index
	qdiscs  map[int][]netlink.Qdisc
	classes map[int][]netlink.Class
	filters map[int][]netlink.Filter
	upload  []string // the upload classifier's rules (nil: no table)
	controltest.Recorder
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{links: controltest.Links("ether1", "ether2"), index: 3,
		routes: map[netip.Prefix]int{netip.MustParsePrefix("198.18.1.0/24"): 2, netip.MustParsePrefix("198.18.2.0/24"): 3},
		qdiscs: map[int][]netlink.Qdisc{}, classes: map[int][]netlink.Class{}, filters: map[int][]netlink.Filter{}}
}

// onFakeKernel is an engine on k, with an executor whose interfaces are k's links, not
// yet started (a test may make k refuse what Start does); ctx ends with the test.
func onFakeKernel(t *testing.T, k *fakeKernel) (*Engine, *control.Executor, *engine.Handle, context.Context) {
	ex := controltest.New(t)
	ex.ProvideNames(link.IfacePath, func(name string) bool {
		_, err := k.LinkByName(name)
		return err == nil
	})
	e := New(Options{Now: func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }, Poll: time.Hour})
	e.k = k
	h, wait := engine.Standalone(ex, e.Spec())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); wait() })
	return e, ex, h, ctx
}

var _ Kernel = (*fakeKernel)(nil)

func (k *fakeKernel) name(index int) string { return controltest.LinkName(k.links, index) }

func (k *fakeKernel) linkBy(match func(a *netlink.LinkAttrs) bool) (netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.links {
		if match(l.Attrs()) {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (k *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	return k.linkBy(func(a *netlink.LinkAttrs) bool { return a.Name == name })
}

func (k *fakeKernel) LinkByIndex(index int) (netlink.Link, error) {
	return k.linkBy(func(a *netlink.LinkAttrs) bool { return a.Index == index })
}

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.links), nil
}

func (k *fakeKernel) RouteGet(dst net.IP) ([]netlink.Route, error) {
	a, _ := netip.AddrFromSlice(dst)
	best, index := -1, 0
	for pf, i := range k.routes {
		if pf.Contains(a.Unmap()) && pf.Bits() > best {
			best, index = pf.Bits(), i
		}
	}
	if best < 0 {
		return nil, unix.ENETUNREACH
	}
	return []netlink.Route{{LinkIndex: index, Dst: &net.IPNet{IP: dst, Mask: net.CIDRMask(32, 32)}}}, nil
}

func (k *fakeKernel) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.qdiscs[l.Attrs().Index]), nil
}

func (k *fakeKernel) ClassList(l netlink.Link, parent uint32) ([]netlink.Class, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.classes[l.Attrs().Index]), nil
}

func (k *fakeKernel) FilterList(l netlink.Link, parent uint32) ([]netlink.Filter, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Filter
	for _, f := range k.filters[l.Attrs().Index] {
		if f.Attrs().Parent == parent {
			out = append(out, f)
		}
	}
	return out, nil
}

func (k *fakeKernel) LinkAdd(l netlink.Link) error {
	if err := k.Write("add %s %s", l.Type(), l.Attrs().Name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	a := *l.Attrs()
	for _, o := range k.links {
		if o.Attrs().Name == a.Name {
			return unix.EEXIST
		}
	}
	k.index++
	a.Index = k.index
	k.links = append(k.links, &netlink.Ifb{LinkAttrs: a})
	return nil
}

func (k *fakeKernel) LinkSetUp(l netlink.Link) error {
	if err := k.Write("up %s", l.Attrs().Name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range k.links {
		if o.Attrs().Index == l.Attrs().Index {
			o.Attrs().Flags |= net.FlagUp
			return nil
		}
	}
	return unix.ENODEV
}

func (k *fakeKernel) LinkDel(l netlink.Link) error {
	if err := k.Write("del %s", l.Attrs().Name); err != nil {
		return err
	}
	k.deleteLink(l.Attrs().Index)
	return nil
}

// deleteLink removes a link as the kernel does (also behind routerd's back).
func (k *fakeKernel) deleteLink(index int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.links = slices.DeleteFunc(k.links, func(o netlink.Link) bool { return o.Attrs().Index == index })
	delete(k.qdiscs, index)
	delete(k.classes, index)
	delete(k.filters, index)
	for _, fs := range k.filters {
		for _, f := range fs {
			if u, ok := f.(*netlink.U32); ok {
				for _, a := range u.Actions {
					if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == index {
						m.Ifindex = 0
					}
				}
			}
		}
	}
}

// handle writes a tc handle as tc does ("1:101", "root", "ingress").
func handle(h uint32) string {
	switch h {
	case netlink.HANDLE_ROOT:
		return "root"
	case netlink.HANDLE_INGRESS:
		return "ingress"
	}
	major, minor := netlink.MajorMinor(h)
	return fmt.Sprintf("%x:%x", major, minor)
}

func (k *fakeKernel) QdiscAdd(q netlink.Qdisc) error {
	a := q.Attrs()
	w := fmt.Sprintf("qdisc add %s %s %s %s", k.name(a.LinkIndex), handle(a.Parent), handle(a.Handle), q.Type())
	if err := k.Write("%s", w); err != nil {
		return err
	}
	return k.addQdisc(q)
}

func (k *fakeKernel) addQdisc(q netlink.Qdisc) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	a := q.Attrs()
	for _, o := range k.qdiscs[a.LinkIndex] {
		if o.Attrs().Parent == a.Parent || o.Attrs().Handle == a.Handle {
			return unix.EEXIST
		}
	}
	if a.Parent != netlink.HANDLE_ROOT && a.Parent != netlink.HANDLE_INGRESS &&
		!slices.ContainsFunc(k.classes[a.LinkIndex], func(c netlink.Class) bool { return c.Attrs().Handle == a.Parent }) {
		return unix.ENOENT
	}
	k.qdiscs[a.LinkIndex] = append(k.qdiscs[a.LinkIndex], q)
	return nil
}

func (k *fakeKernel) QdiscDel(q netlink.Qdisc) error {
	a := q.Attrs()
	if err := k.Write("qdisc del %s %s", k.name(a.LinkIndex), handle(a.Parent)); err != nil {
		return err
	}
	if a.Parent == netlink.HANDLE_INGRESS {
		// The ingress qdisc or clsact, with the filters of its hooks.
		k.mu.Lock()
		defer k.mu.Unlock()
		k.qdiscs[a.LinkIndex] = slices.DeleteFunc(k.qdiscs[a.LinkIndex], func(q netlink.Qdisc) bool { return q.Attrs().Parent == a.Parent })
		k.filters[a.LinkIndex] = slices.DeleteFunc(k.filters[a.LinkIndex], func(f netlink.Filter) bool {
			major, _ := netlink.MajorMinor(f.Attrs().Parent)
			return major == 0xffff
		})
		return nil
	}
	if a.Parent != netlink.HANDLE_ROOT {
		return unix.EINVAL // the engine deletes roots, ingress and clsact only
	}
	return k.deleteRoot(a.LinkIndex)
}

// deleteRoot deletes a link's root qdisc with all under it (also behind routerd's back).
func (k *fakeKernel) deleteRoot(index int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	qs := k.qdiscs[index]
	if !slices.ContainsFunc(qs, func(q netlink.Qdisc) bool { return q.Attrs().Parent == netlink.HANDLE_ROOT }) {
		return unix.ENOENT
	}
	k.qdiscs[index] = slices.DeleteFunc(qs, func(q netlink.Qdisc) bool { return q.Attrs().Parent != netlink.HANDLE_INGRESS })
	k.classes[index] = nil
	k.filters[index] = slices.DeleteFunc(k.filters[index], func(f netlink.Filter) bool {
		major, _ := netlink.MajorMinor(f.Attrs().Parent)
		return major != 0xffff // the ingress or clsact hooks' stay
	})
	return nil
}

func (k *fakeKernel) class(op string, c netlink.Class) string {
	a := c.Attrs()
	w := fmt.Sprintf("class %s %s %s parent %s", op, k.name(a.LinkIndex), handle(a.Handle), handle(a.Parent))
	if h, ok := c.(*netlink.HtbClass); ok {
		w += fmt.Sprintf(" rate %d ceil %d", h.Rate*8, h.Ceil*8)
	}
	return w
}

func (k *fakeKernel) ClassAdd(c netlink.Class) error {
	if err := k.Write("%s", k.class("add", c)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	a := c.Attrs()
	parentOK := slices.ContainsFunc(k.qdiscs[a.LinkIndex], func(q netlink.Qdisc) bool { return q.Attrs().Handle == a.Parent }) ||
		slices.ContainsFunc(k.classes[a.LinkIndex], func(o netlink.Class) bool { return o.Attrs().Handle == a.Parent })
	if !parentOK {
		return unix.ENOENT
	}
	if slices.ContainsFunc(k.classes[a.LinkIndex], func(o netlink.Class) bool { return o.Attrs().Handle == a.Handle }) {
		return unix.EEXIST
	}
	// The kernel reports a top class's parent as the root.
	if major, minor := netlink.MajorMinor(a.Parent); minor == 0 && major == rootMajor {
		cp := *c.(*netlink.HtbClass)
		cp.Parent = netlink.HANDLE_ROOT
		c = &cp
	}
	k.classes[a.LinkIndex] = append(k.classes[a.LinkIndex], c)
	return nil
}

func (k *fakeKernel) ClassChange(c netlink.Class) error {
	return k.Write("%s", k.class("change", c))
}

// filter writes a filter as the test expects it: "filter add ether1 1: prio 10 u32
// dst 198.18.1.0/24 -> 1:101" or "filter add ether1 ffff: prio 49152 mirred rq-4".
func (k *fakeKernel) filter(op string, f netlink.Filter) string {
	a := f.Attrs()
	w := fmt.Sprintf("filter %s %s %s prio %d", op, k.name(a.LinkIndex), handle(a.Parent), a.Priority)
	u, ok := f.(*netlink.U32)
	if !ok {
		return w + " " + f.Type()
	}
	w += " u32"
	if u.Sel != nil {
		for _, key := range u.Sel.Keys {
			if key.Mask == 0 {
				w += " any"
				continue
			}
			var b [4]byte
			b[0], b[1], b[2], b[3] = byte(key.Val>>24), byte(key.Val>>16), byte(key.Val>>8), byte(key.Val)
			bits := 32 - countTrailingZeros(key.Mask)
			dir := map[int32]string{12: "src", 16: "dst"}[key.Off]
			w += fmt.Sprintf(" %s %s", dir, netip.PrefixFrom(netip.AddrFrom4(b), bits))
		}
	}
	for _, act := range u.Actions {
		if m, ok := act.(*netlink.MirredAction); ok {
			w += " mirred " + k.name(m.Ifindex)
		}
	}
	if u.ClassId != 0 {
		w += " -> " + handle(u.ClassId)
	}
	return w
}

func countTrailingZeros(m uint32) int {
	n := 0
	for m&1 == 0 && n < 32 {
		m >>= 1
		n++
	}
	return n
}

func (k *fakeKernel) FilterAdd(f netlink.Filter) error {
	if err := k.Write("%s", k.filter("add", f)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	a := f.Attrs()
	k.filters[a.LinkIndex] = append(k.filters[a.LinkIndex], f)
	return nil
}

func (k *fakeKernel) FilterDel(f netlink.Filter) error {
	a := f.Attrs()
	if err := k.Write("filter del %s %s prio %d", k.name(a.LinkIndex), handle(a.Parent), a.Priority); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	before := len(k.filters[a.LinkIndex])
	k.filters[a.LinkIndex] = slices.DeleteFunc(k.filters[a.LinkIndex], func(o netlink.Filter) bool {
		return o.Attrs().Parent == a.Parent && o.Attrs().Priority == a.Priority
	})
	if len(k.filters[a.LinkIndex]) == before {
		return unix.ENOENT
	}
	return nil
}

func (k *fakeKernel) FifoAdd(a netlink.QdiscAttrs, kind string, limit uint32) error {
	if err := k.Write("qdisc add %s %s %s %s limit %d", k.name(a.LinkIndex), handle(a.Parent), handle(a.Handle), kind, limit); err != nil {
		return err
	}
	return k.addQdisc(&netlink.GenericQdisc{QdiscAttrs: a, QdiscType: kind})
}

func (k *fakeKernel) MarkFilterAdd(a netlink.FilterAttrs, classID uint32, marks []string, rules []match) error {
	if err := k.Write("filter add %s %s prio %d bpf marks %s -> %s", k.name(a.LinkIndex), handle(a.Parent), a.Priority,
		strings.Join(marks, ","), handle(classID)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.filters[a.LinkIndex] = append(k.filters[a.LinkIndex], &netlink.BpfFilter{FilterAttrs: a, ClassId: classID})
	return nil
}

// FeedAdd records "filter add ether2 ffff:fff3 prio 49155 u32 indev ether1 mirred rq-u2".
func (k *fakeKernel) FeedAdd(a netlink.FilterAttrs, indev string, ifb int) error {
	if err := k.Write("filter add %s %s prio %d u32 indev %s mirred %s", k.name(a.LinkIndex), handle(a.Parent), a.Priority,
		indev, k.name(ifb)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.filters[a.LinkIndex] = append(k.filters[a.LinkIndex], &netlink.U32{FilterAttrs: a, Actions: []netlink.Action{netlink.NewMirredAction(ifb)}})
	return nil
}

// UploadRules reads the upload classifier's rules.
func (k *fakeKernel) UploadRules() ([]string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.upload), k.upload != nil, nil
}

// UploadSet records "nft upload ether1 198.18.1.0/24>any mark 1 class 1:101; ..."
// ("nft upload" alone: the table removed).
func (k *fakeKernel) UploadSet(rules []uploadRule) error {
	var rs []string
	for _, r := range rules {
		rs = append(rs, r.String())
	}
	if err := k.Write("nft upload %s", strings.Join(rs, "; ")); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.upload = nil
	if len(rules) > 0 {
		k.upload = append([]string{}, rs...)
	}
	return nil
}

// The last writes of the first pass of every case: the sfq probe of the built-in queue types
// (wireless-default, hotspot-default) on a throwaway IFB.
var probe = []string{"add ifb rq-probe", "qdisc add rq-probe root 1:0 sfq", "del rq-probe"}

// The writes that shape ether1 for q1 (target=198.18.1.0/24 max-limit=10M/20M, the
// default-small pfifo of 10 packets as its leaf): download on ether1, upload on its IFB
// rq-2 (ether1 is link 2), whose traffic ether1's ingress redirects there.
var (
	q1Down = []string{
		"qdisc del ether1 root",
		"qdisc add ether1 root 1:0 htb",
		"class add ether1 1:101 parent 1:0 rate 20000000 ceil 20000000",
		"qdisc add ether1 1:101 101:0 pfifo limit 10",
		"filter add ether1 1:0 prio 10 u32 dst 198.18.1.0/24 -> 1:101",
	}
	q1IFB = []string{
		"add ifb rq-2",
		"up rq-2",
		"qdisc add ether1 ingress ffff:0 clsact",
		"filter add ether1 ffff:fff2 prio 49152 u32 mirred rq-2",
	}
	q1Up = []string{
		"qdisc del rq-2 root",
		"qdisc add rq-2 root 1:0 htb",
		"class add rq-2 1:101 parent 1:0 rate 10000000 ceil 10000000",
		"qdisc add rq-2 1:101 101:0 pfifo limit 10",
		"filter add rq-2 1:0 prio 10 u32 src 198.18.1.0/24 -> 1:101",
	}
)

const q1 = "/queue/simple add name=q1 target=198.18.1.0/24 max-limit=10M/20M"

// The writes that shape ether1 for a queue with packet-marks=voip max-limit=1M/2M:
// download on ether1 (marksDown), then upload (marksRest) on the IFB rq-u2, which the
// egress of every other interface (ether2; not the loopback) feeds with what came in
// through ether1 (after netfilter, so the mark is there; issue 15).
var (
	marksDown = []string{
		"qdisc del ether1 root", "qdisc add ether1 root 1:0 htb",
		"class add ether1 1:101 parent 1:0 rate 2000000 ceil 2000000",
		"qdisc add ether1 1:101 101:0 pfifo limit 50",
		"filter add ether1 1:0 prio 10 bpf marks voip -> 1:101",
	}
	marksRest = []string{
		"add ifb rq-u2", "up rq-u2", "qdisc add ether2 ingress ffff:0 clsact",
		"filter add ether2 ffff:fff3 prio 49155 u32 indev ether1 mirred rq-u2",
		"qdisc del rq-u2 root", "qdisc add rq-u2 root 1:0 htb",
		"class add rq-u2 1:101 parent 1:0 rate 1000000 ceil 1000000",
		"qdisc add rq-u2 1:101 101:0 pfifo limit 50",
		"nft upload ether1 any>any mark 34115 class 1:101",
	}
)

// TestPlan: queues over an observed kernel give exactly the planned tc writes; the next
// pass writes nothing (or exactly what restores what was removed behind routerd's back,
// or retries what failed); a refused write marks the queue invalid with the reason.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cmds   []string
		fail   map[string]error
		after  func(k *fakeKernel) // behind routerd's back, between the passes
		cmds2  []string            // between the passes
		want   []string            // the first pass (after the probe)
		again  []string
		states map[string]string // queue name -> status substring ("" applied)
	}{{
		name:   "a queue by target: the route's device and its IFB",
		cmds:   []string{q1},
		want:   slices.Concat(q1Down, q1IFB, q1Up),
		states: map[string]string{"q1": ""},
	}, {
		name: "a queue by interface, with children",
		cmds: []string{"/queue/simple add name=top target=ether2 max-limit=30M/30M",
			"/queue/simple add name=kid target=198.18.2.7 parent=top max-limit=5M/6M queue=default/default"},
		want: []string{
			"qdisc del ether2 root", "qdisc add ether2 root 1:0 htb",
			"class add ether2 1:101 parent 1:0 rate 30000000 ceil 30000000",
			"class add ether2 1:102 parent 1:101 rate 6000000 ceil 6000000",
			"qdisc add ether2 1:102 102:0 pfifo limit 50",
			"filter add ether2 1:0 prio 11 u32 dst 198.18.2.7/32 -> 1:102",
			"add ifb rq-3", "up rq-3", "qdisc add ether2 ingress ffff:0 clsact",
			"filter add ether2 ffff:fff2 prio 49152 u32 mirred rq-3",
			"qdisc del rq-3 root", "qdisc add rq-3 root 1:0 htb",
			"class add rq-3 1:101 parent 1:0 rate 30000000 ceil 30000000",
			"class add rq-3 1:102 parent 1:101 rate 5000000 ceil 5000000",
			"qdisc add rq-3 1:102 102:0 pfifo limit 50",
			"filter add rq-3 1:0 prio 11 u32 src 198.18.2.7/32 -> 1:102",
		},
	}, {
		name: "packet-marks classify by the eBPF filter",
		cmds: []string{"/queue/simple add name=q1 target=ether1 packet-marks=voip max-limit=1M/2M queue=default/default"},
		want: slices.Concat(marksDown, marksRest),
	}, {
		name: "the HTB tree deleted behind routerd's back: the next pass installs it again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.deleteRoot(2)
			k.deleteRoot(4)
		},
		again: slices.Concat(q1Down, q1Up),
	}, {
		name: "a root put in HTB's place: deleted, the tree installed again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.deleteRoot(2)
			k.addQdisc(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: 2, Parent: netlink.HANDLE_ROOT,
				Handle: netlink.MakeHandle(2, 0)}, QdiscType: "pfifo"})
		},
		again: q1Down,
	}, {
		name: "a class deleted behind routerd's back: the tree installed again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.classes[4] = nil
		},
		again: q1Up,
	}, {
		name: "a leaf qdisc deleted behind routerd's back: the tree installed again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.qdiscs[2] = slices.DeleteFunc(k.qdiscs[2], func(q netlink.Qdisc) bool { return q.Attrs().Handle == netlink.MakeHandle(0x101, 0) })
		},
		again: q1Down,
	}, {
		name: "a leaf qdisc replaced by another kind behind routerd's back: the tree installed again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.qdiscs[4] = slices.DeleteFunc(k.qdiscs[4], func(q netlink.Qdisc) bool { return q.Attrs().Handle == netlink.MakeHandle(0x101, 0) })
			k.addQdisc(&netlink.Sfq{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: 4, Parent: netlink.MakeHandle(1, 0x101),
				Handle: netlink.MakeHandle(0x101, 0)}})
		},
		again: q1Up,
	}, {
		name: "a u32 filter deleted behind routerd's back: the tree installed again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.filters[4] = slices.DeleteFunc(k.filters[4], func(f netlink.Filter) bool { return f.Attrs().Priority == 10 })
		},
		again: q1Up,
	}, {
		name: "a packet-marks filter deleted behind routerd's back: the tree installed again",
		cmds: []string{"/queue/simple add name=q1 target=ether1 packet-marks=voip max-limit=1M/2M queue=default/default"},
		want: slices.Concat(marksDown, marksRest),
		after: func(k *fakeKernel) {
			k.filters[2] = slices.DeleteFunc(k.filters[2], func(f netlink.Filter) bool { return f.Type() == "bpf" })
		},
		again: marksDown,
	}, {
		name: "the IFB deleted behind routerd's back: made again, redirected to again, shaped again",
		cmds: []string{q1},
		want: slices.Concat(q1Down, q1IFB, q1Up),
		after: func(k *fakeKernel) {
			k.deleteLink(4)
		},
		again: slices.Concat([]string{"add ifb rq-2", "up rq-2", "filter del ether1 ffff:fff2 prio 49152",
			"filter add ether1 ffff:fff2 prio 49152 u32 mirred rq-2"},
			q1Up),
	}, {
		name:  "removed: the trees and the IFB go",
		cmds:  []string{q1},
		cmds2: []string{"/queue/simple remove q1"},
		want:  slices.Concat(q1Down, q1IFB, q1Up),
		again: []string{"qdisc del ether1 root", "filter del ether1 ffff:fff2 prio 49152", "del rq-2"},
	}, {
		name:  "max-limit changed: the tree is replaced, the IFB kept",
		cmds:  []string{q1},
		cmds2: []string{"/queue/simple set q1 max-limit=10M/30M"},
		want:  slices.Concat(q1Down, q1IFB, q1Up),
		again: replace(q1Down, "20000000", "30000000"),
	}, {
		name:   "disabled: nothing",
		cmds:   []string{q1 + " disabled=yes"},
		states: map[string]string{"q1": ""},
	}, {
		name:   "no route to the target: nothing, and it says so",
		cmds:   []string{"/queue/simple add name=q9 target=203.0.113.9 max-limit=1M/1M"},
		states: map[string]string{"q9": "no route to target 203.0.113.9/32"},
	}, {
		name:   "the kernel refuses the HTB root: the queue is invalid with its reason, tried again",
		cmds:   []string{q1},
		fail:   map[string]error{"qdisc add ether1 root 1:0 htb": unix.EOPNOTSUPP},
		want:   slices.Concat([]string{"qdisc del ether1 root", "qdisc add ether1 root 1:0 htb (failed)"}, q1IFB, q1Up),
		again:  []string{"qdisc del ether1 root", "qdisc add ether1 root 1:0 htb (failed)"},
		states: map[string]string{"q1": "HTB root: operation not supported"},
	}, {
		// pcq (RouterOS's default simple-queue types) has no Linux qdisc: the queue says
		// so as /queue type does, not as a module the kernel lacks (QA, issue 19).
		name:   "a pcq leaf: invalid with the reason /queue type gives",
		cmds:   []string{q1 + " queue=pcq-upload-default/pcq-download-default"},
		fail:   map[string]error{"qdisc add ether1 1:101 101:0 pcq": unix.ENOENT, "qdisc add rq-2 1:101 101:0 pcq": unix.ENOENT},
		want:   slices.Concat(q1Down[:3], q1IFB, q1Up[:3]),
		states: map[string]string{"q1": "queue type pcq: Linux has no PCQ queueing discipline"},
	}, {
		name: "the kernel refuses a leaf's filter: that queue alone is invalid",
		cmds: []string{q1, "/queue/simple add name=q2 target=198.18.1.9 max-limit=1M/1M"},
		fail: map[string]error{"filter add ether1 1:0 prio 10 u32 dst 198.18.1.0/24 -> 1:101": unix.ENOMEM},
		want: []string{
			"qdisc del ether1 root", "qdisc add ether1 root 1:0 htb",
			"class add ether1 1:101 parent 1:0 rate 20000000 ceil 20000000",
			"class add ether1 1:102 parent 1:0 rate 1000000 ceil 1000000",
			"qdisc add ether1 1:101 101:0 pfifo limit 10",
			"filter add ether1 1:0 prio 10 u32 dst 198.18.1.0/24 -> 1:101 (failed)",
			"qdisc add ether1 1:102 102:0 pfifo limit 10",
			"filter add ether1 1:0 prio 11 u32 dst 198.18.1.9/32 -> 1:102",
			"add ifb rq-2", "up rq-2", "qdisc add ether1 ingress ffff:0 clsact",
			"filter add ether1 ffff:fff2 prio 49152 u32 mirred rq-2",
			"qdisc del rq-2 root", "qdisc add rq-2 root 1:0 htb",
			"class add rq-2 1:101 parent 1:0 rate 10000000 ceil 10000000",
			"class add rq-2 1:102 parent 1:0 rate 1000000 ceil 1000000",
			"qdisc add rq-2 1:101 101:0 pfifo limit 10",
			"filter add rq-2 1:0 prio 10 u32 src 198.18.1.0/24 -> 1:101",
			"qdisc add rq-2 1:102 102:0 pfifo limit 10",
			"filter add rq-2 1:0 prio 11 u32 src 198.18.1.9/32 -> 1:102",
		},
		states: map[string]string{"q1": "u32 filter: cannot allocate memory", "q2": ""},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			e, ex, h, ctx := onFakeKernel(t, k)
			if err := e.Start(ctx, h); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.cmds {
				controltest.Exec(t, ex, c)
			}
			k.Fail = tc.fail
			if err := e.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := k.Take(), slices.Concat(tc.want, probe); !slices.Equal(got, want) {
				t.Errorf("first pass wrote\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if tc.after != nil {
				tc.after(k)
			}
			for _, c := range tc.cmds2 {
				controltest.Exec(t, ex, c)
			}
			if err := e.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if got := k.Take(); !slices.Equal(got, tc.again) {
				t.Errorf("second pass wrote\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.again, "\n  "))
			}
			if err := e.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if got := k.Take(); tc.fail == nil && len(got) > 0 {
				t.Errorf("a pass with nothing changed wrote\n  %s", strings.Join(got, "\n  "))
			}
			controltest.WantStates(t, ex, Path, "name", tc.states)
		})
	}
}

// replace is lines with old replaced by new in each.
func replace(lines []string, old, new string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.ReplaceAll(l, old, new)
	}
	return out
}

// readCounter counts the qdisc dumps of the pass (each shaped device's check).
type readCounter struct {
	*fakeKernel
	reads int
}

func (k *readCounter) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	k.reads++
	return k.fakeKernel.QdiscList(l)
}

// TestWatchedChangeSkipped: a pass that only a change of the addresses or routes
// kicked reads and writes nothing while every queue names its interface; once a queue
// finds its interface through the route to its target, such a pass follows the route.
// A queue menu changed, and Kick, make a pass as before.
func TestWatchedChangeSkipped(t *testing.T) {
	fk := newFakeKernel()
	k := &readCounter{fakeKernel: fk}
	e, ex, h, ctx := onFakeKernel(t, fk)
	e.k = k
	if err := e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	kicked := engine.KickedContext(ctx)
	pass := func(ctx context.Context) (reads int, wrote []string) {
		t.Helper()
		k.reads = 0
		if err := e.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		return k.reads, fk.Take()
	}
	controltest.Exec(t, ex, "/queue/simple add name=q1 target=ether1 max-limit=1M/2M")
	if _, wrote := pass(kicked); len(wrote) == 0 {
		t.Fatal("a kicked pass after a queue was added wrote nothing")
	}
	if reads, wrote := pass(kicked); reads != 0 || len(wrote) != 0 {
		t.Errorf("a pass the routes alone kicked: %d reads, wrote %q; want none", reads, wrote)
	}
	if reads, _ := pass(ctx); reads == 0 { // the periodic pass checks the kernel
		t.Error("the periodic pass read nothing")
	}
	e.Kick()
	if reads, _ := pass(kicked); reads == 0 {
		t.Error("a pass Kick asked for read nothing")
	}

	// A queue shaping where the route to its target goes follows the route.
	controltest.Exec(t, ex, "/queue/simple add name=q2 target=198.18.1.9/32 max-limit=1M/2M")
	if _, wrote := pass(kicked); !slices.ContainsFunc(wrote, func(w string) bool { return strings.Contains(w, "198.18.1.9/32") }) {
		t.Fatalf("q2 not installed: %q", wrote)
	}
	fk.mu.Lock()
	fk.routes[netip.MustParsePrefix("198.18.1.0/24")] = 3
	fk.mu.Unlock()
	if _, wrote := pass(kicked); !slices.ContainsFunc(wrote, func(w string) bool { return strings.Contains(w, "rq-3") }) {
		t.Errorf("q2 did not follow its route to ether2: %q", wrote)
	}
}

// TestUploadMarksFeed: the upload of a queue with packet-marks is shaped on rq-uN, fed
// from the egress of the other interfaces (issue 15). An ingress qdisc an older routerd
// left on such an interface (it has no egress hook) is replaced by clsact and the
// ingress redirect it carried is back in the same pass; a pass with nothing changed
// writes nothing; removing the queue removes the feed and rq-uN and leaves the other
// queue's redirect. Once an interface has a queue with packet-marks, the upload of all
// its queues (a parent, its marked and unmarked leaves) is in rq-uN, classified by the
// upload chain in queue order (the first that matches takes a packet, marked or not).
func TestUploadMarksFeed(t *testing.T) {
	k := newFakeKernel()
	e, ex, h, ctx := onFakeKernel(t, k)
	k.qdiscs[3] = []netlink.Qdisc{&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: 3,
		Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}}}
	if err := e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	controltest.Exec(t, ex, "/queue/simple add name=plain target=ether2 max-limit=1M/2M")
	controltest.Exec(t, ex, "/queue/simple add name=marked target=ether1 packet-marks=voip max-limit=1M/2M")
	pass := func() []string {
		t.Helper()
		if err := e.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		return k.Take()
	}
	hooks := func(index int) (qdiscs, filters []string) {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, q := range k.qdiscs[index] {
			if q.Attrs().Parent == netlink.HANDLE_INGRESS {
				qdiscs = append(qdiscs, q.Type())
			}
		}
		for _, f := range k.filters[index] {
			if major, _ := netlink.MajorMinor(f.Attrs().Parent); major == 0xffff {
				filters = append(filters, k.filter("", f))
			}
		}
		return qdiscs, filters
	}
	wrote := pass()
	qs, fs := hooks(3)
	if !slices.Equal(qs, []string{"clsact"}) || !slices.Equal(fs, []string{
		"filter  ether2 ffff:fff2 prio 49152 u32 mirred rq-3",
		"filter  ether2 ffff:fff3 prio 49155 u32 mirred rq-u2",
	}) {
		t.Errorf("ether2's hooks %q, filters\n  %s\nwrote\n  %s", qs, strings.Join(fs, "\n  "), strings.Join(wrote, "\n  "))
	}
	if qs, fs := hooks(2); len(qs)+len(fs) > 0 {
		t.Errorf("ether1 (the marked queue's own) got %q %q", qs, fs)
	}
	controltest.WantStates(t, ex, Path, "name", map[string]string{"plain": "", "marked": ""})
	if wrote := pass(); len(wrote) > 0 {
		t.Errorf("a pass with nothing changed wrote %q", wrote)
	}

	// A parent of a marked and an unmarked leaf: all of ether1's upload in rq-u2.
	controltest.Exec(t, ex, "/queue/simple add name=p target=ether1 max-limit=4M/4M")
	controltest.Exec(t, ex, "/queue/simple add name=c1 target=ether1 parent=p packet-marks=voip max-limit=1M/1M")
	controltest.Exec(t, ex, "/queue/simple add name=c2 target=ether1 parent=p max-limit=1M/1M")
	pass()
	classes := func(dev string) (out []string) {
		l, err := k.LinkByName(dev)
		if err != nil {
			t.Fatalf("%s: %v", dev, err)
		}
		cs, _ := k.ClassList(l, 0)
		for _, c := range cs {
			out = append(out, handle(c.Attrs().Handle))
		}
		slices.Sort(out)
		return out
	}
	// Ids: plain 1, marked 2, p 3, c1 4, c2 5.
	if got := classes("rq-u2"); !slices.Equal(got, []string{"1:102", "1:103", "1:104", "1:105"}) {
		t.Errorf("rq-u2 classes %q; want marked, p, c1 and c2", got)
	}
	if _, err := k.LinkByName("rq-2"); err == nil {
		t.Errorf("rq-2 made beside rq-u2")
	}
	if got := k.upload; !slices.Equal(got, []string{"ether1 any>any mark 34115 class 1:102",
		"ether1 any>any mark 34115 class 1:104", "ether1 any>any mark any class 1:105"}) {
		t.Errorf("upload rules %q; want marked, c1, c2 in order", got)
	}
	controltest.WantStates(t, ex, Path, "name", map[string]string{"plain": "", "marked": "", "p": "", "c1": "", "c2": ""})

	for _, n := range []string{"c1", "marked"} {
		controltest.Exec(t, ex, "/queue/simple remove "+n)
	}
	pass()
	if _, fs := hooks(3); !slices.Equal(fs, []string{"filter  ether2 ffff:fff2 prio 49152 u32 mirred rq-3"}) {
		t.Errorf("after the marked queues went, ether2's filters\n  %s", strings.Join(fs, "\n  "))
	}
	if _, err := k.LinkByName("rq-u2"); err == nil {
		t.Error("rq-u2 left behind")
	}
	if got := classes("rq-2"); !slices.Equal(got, []string{"1:103", "1:105"}) {
		t.Errorf("rq-2 classes %q; want p and c2", got)
	}
	if k.upload != nil {
		t.Errorf("upload rules left: %q", k.upload)
	}
}

// TestAdoptAfterRestart: what a stop leaves in the kernel is adopted by the next start
// (issue 15: the engine deleted its trees on stop, unshaping for the ~6 s until the first
// pass of the next start): Close writes nothing, and an engine started on the same store
// and kernel writes nothing either (install would delete the root, unshaping for a
// moment and zeroing the counters). A tree changed while routerd was stopped is
// installed again, and a device no queue wants any more is cleared.
func TestAdoptAfterRestart(t *testing.T) {
	k := newFakeKernel()
	e, ex, h, ctx := onFakeKernel(t, k)
	if err := e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	controltest.Exec(t, ex, q1)
	controltest.Exec(t, ex, "/queue/simple add name=m target=ether2 packet-marks=voip max-limit=1M/2M")
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	k.Take()
	restart := func() *Engine {
		t.Helper()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if got := k.Take(); len(got) > 0 {
			t.Errorf("Close wrote %q", got)
		}
		// A new engine on the same store and kernel, as a start makes it.
		n := New(Options{Now: e.opts.Now, Poll: time.Hour})
		n.k, n.ex, n.names, n.probed = k, ex, e.names, e.probed
		n.loadApplied()
		if err := n.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		return n
	}
	e = restart()
	if got := k.Take(); len(got) > 0 {
		t.Errorf("the start's first pass wrote\n  %s", strings.Join(got, "\n  "))
	}
	controltest.WantStates(t, ex, Path, "name", map[string]string{"q1": "", "m": ""})

	// Changed while stopped: ether1's root deleted; and the queue of ether2 removed (here
	// in the store between the stop and the start, as a restored backup would).
	k.deleteRoot(2)
	controltest.Exec(t, ex, "/queue/simple remove m")
	e = restart()
	got := k.Take()
	if !slices.Equal(got[:len(q1Down)], q1Down) {
		t.Errorf("ether1's tree not installed again: wrote\n  %s", strings.Join(got, "\n  "))
	}
	for _, w := range []string{"qdisc del ether2 root", "del rq-u3"} {
		if !slices.Contains(got, w) {
			t.Errorf("no %q after m was removed: wrote\n  %s", w, strings.Join(got, "\n  "))
		}
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := k.Take(); len(got) > 0 {
		t.Errorf("a pass with nothing changed wrote %q", got)
	}
}
