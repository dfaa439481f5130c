package queue

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Menu paths this engine applies.
const (
	Path     = menu.SimpleQueuePath
	TypePath = menu.QueueTypePath
)

// ErrNotSupported: the kernel lacks what a queue needs (HTB, IFB, a leaf qdisc).
var ErrNotSupported = errors.New("not supported by this kernel")

// rootMajor is the handle major of routerd's HTB roots; leaves use the queue's minor.
const rootMajor = 1

// Options tune the engine.
type Options struct {
	// Now is the clock of time= windows; nil is time.Now.
	Now func() time.Time
	// Poll is the period of counters, bursts and time windows; 0 is one second.
	Poll time.Duration
}

// classRef says where a queue's class of one direction lives.
type classRef struct {
	dev   string // device name (the interface, or its IFB)
	index int
	minor uint16
	spec  dirSpec
}

// sample is one reading of a class's counters.
type sample struct {
	at             time.Time
	bytes, packets uint64
	qbytes, qpkts  uint32
	drops          uint32
}

// dirState follows one direction of a queue between polls.
type dirState struct {
	last      sample
	base      sample // the counters at the last reset-counters; the class keeps counting
	rate, pps uint64
	hist      []uint64 // byte deltas per poll, for the burst average
	bursting  bool
}

// Engine applies the simple queues.
type Engine struct {
	ex   *control.Executor
	k    Kernel // netlinkKernel from Start on; a fake in the plan test
	opts Options
	kick chan struct{}
	// names translates RouterOS interface names to kernel link names (the link engine's).
	names *link.Names
	// marks numbers packet-mark names (the firewall's; nil: none on the host).
	marks *firewall.Marks

	mu      sync.Mutex
	applied map[string]string // device -> fingerprint of what is installed
	saved   string            // applied as the store's meta bucket last got it (appliedMeta)
	// trees are what install left on each device (the HTB classes, leaf qdiscs and
	// classifying filters the kernel accepted), for intact to compare with the kernel.
	trees map[string]*tree
	// refused are the queues whose class, qdisc or filter the kernel refused when the
	// device's tree was installed, with its reason, by device: they alone are invalid.
	refused map[string]map[uint64]error
	ifbs    map[string]string // interface -> its IFB device
	refs    map[uint64][2]*classRef
	state   map[uint64]*[2]dirState
	invalid map[uint64]string
	active  map[uint64]bool // time window state at the last reconcile
	probed  *error          // sfq probe result

	hostKick func() // the host's Kick when an engine host runs the engine

	// own says a queue menu changed, a time window turned or Kick asked since the last
	// pass began; routed, that the last pass had an enabled queue that finds its
	// interfaces through the routes to its targets. A pass a change of the addresses or
	// routes alone kicked has nothing to do without one: during an import of 10,000
	// addresses the engine passed once per commit with no queue configured (issue 15).
	own, routed atomic.Bool
}

// New returns the engine for an engine host (no I/O until Start).
func New(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll == 0 {
		opts.Poll = time.Second
	}
	return &Engine{opts: opts, kick: make(chan struct{}, 1),
		applied: map[string]string{}, trees: map[string]*tree{}, refused: map[string]map[uint64]error{}, ifbs: map[string]string{}, refs: map[uint64][2]*classRef{},
		state: map[uint64]*[2]dirState{}, invalid: map[uint64]string{}, active: map[uint64]bool{}}
}

// Spec declares the menus the engine applies and follows: addresses and routes decide
// which interface reaches a target.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "queue", Menus: []string{Path, TypePath}, Watch: []string{ipcfg.Addr4Path, ipcfg.Route4Path}}
}

// Start opens the netlink handle and starts the counter poll, which also asks for a
// pass when a time= window opens or closes.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.names, _ = engine.Lookup[*link.Names](h)
	e.marks, _ = engine.Lookup[*firewall.Marks](h)
	// The IFBs are how upload shaping works here, not interfaces RouterOS has: /interface
	// and /ipv6 address do not list them.
	engine.Offer(h, link.Hider(isIFB))
	if err := e.open(h.Ex); err != nil {
		return err
	}
	e.loadApplied()
	e.hostKick = h.Kick
	e.ex.Handle(Path, "reset-counters", control.CommandSpec{Positional: []string{"numbers"}}, e.resetCounters(false))
	e.ex.Handle(Path, "reset-counters-all", control.CommandSpec{}, e.resetCounters(true))
	// Registered before the host's own watch of the menus (it follows Start), so the
	// flag is up before the pass the change kicks.
	for _, p := range []string{Path, TypePath} {
		h.Ex.Watch(p, func(control.Change) { e.own.Store(true) })
	}
	h.Go(ctx, e.pollLoop)
	return nil
}

// Close leaves the queues in the kernel, shaping while routerd is stopped or restarting
// (a stop took them off for the ~6 s until the next start's first pass, issue 15), and
// keeps what they are in the store for the next start to adopt (loadApplied).
func (e *Engine) Close() error {
	e.saveApplied()
	return nil
}

// appliedMeta is the store's meta key keeping what the engine left in the kernel: one
// line per device, "<device> <fingerprint>". A start reads it as what is applied, so
// its first pass adopts a device whose tree the kernel still has intact with the same
// fingerprint instead of installing it again (which deletes the root, unshaping the
// device for a moment, and zeroes the counters), and removes the trees of devices no
// queue wants any more. What the meta is missing (routerd killed within a second of a
// change) is installed again.
const appliedMeta = "queue/applied"

func encodeApplied(applied map[string]string) string {
	var b strings.Builder
	for _, dev := range slices.Sorted(maps.Keys(applied)) {
		b.WriteString(dev + " " + applied[dev] + "\n")
	}
	return b.String()
}

func (e *Engine) loadApplied() {
	var v string
	if err := e.ex.Store.View(func(tx *store.Tx) error { v = tx.Meta(appliedMeta); return nil }); err != nil {
		slog.Warn("queue: the queues a stop left are not known; installing them again", "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, line := range strings.Split(v, "\n") {
		if dev, fp, ok := strings.Cut(line, " "); ok && dev != "" && fp != "" {
			e.applied[dev] = fp
		}
	}
	e.saved = v
}

// saveApplied writes applied into the store's meta bucket when it changed. It runs from
// the poll and Close, not in the pass: an import holds the store's write transaction in
// its batch.
func (e *Engine) saveApplied() {
	e.mu.Lock()
	v := encodeApplied(e.applied)
	changed := v != e.saved
	e.mu.Unlock()
	if !changed || e.ex == nil {
		return
	}
	if err := e.ex.Store.Update(func(tx *store.Tx) error { return tx.SetMeta(appliedMeta, v) }); err != nil {
		slog.Warn("queue: what is applied not kept", "err", err)
		return
	}
	e.mu.Lock()
	e.saved = v
	e.mu.Unlock()
}

func (e *Engine) open(ex *control.Executor) error {
	e.ex = ex
	if e.k != nil {
		return nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	e.k = netlinkKernel{h: h, marks: e.marks}
	return nil
}

func (e *Engine) pollLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if e.windowsChanged() {
				e.Kick()
			}
			e.poll()
			e.saveApplied()
		}
	}
}

// Kick asks for a reconcile (tests, after changing addresses outside routerd).
func (e *Engine) Kick() {
	e.own.Store(true)
	if e.hostKick != nil {
		e.hostKick()
		return
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// windowsChanged reports whether a time= window opened or closed since the last reconcile.
func (e *Engine) windowsChanged() bool {
	items, err := e.ex.Items(Path)
	if err != nil {
		return false
	}
	now := e.opts.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range items {
		w, err := parseWindow(it.Props["time"])
		if err != nil || w == nil {
			continue
		}
		if w.active(now) != e.active[it.ID] {
			return true
		}
	}
	return false
}

// class is one HTB class to install on a device.
type class struct {
	minor, parent uint16
	dir           dirSpec
	match         []match  // empty: the queue has children (inner class, no filter)
	marks         []string // packet-marks: classified by an eBPF filter instead of u32
	// byPrio: classified by the skb priority the upload classifier sets (an
	// "up:<iface>" tree), no filter.
	byPrio bool
	order  int
	queue  uint64
	dirIdx int
}

// match is one u32 rule: src and/or dst prefixes (invalid = any).
type match struct{ src, dst netip.Prefix }

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{Path: simpleItem{}, TypePath: typeItem{}}
}

// Reconcile decodes the queues and types and installs the difference. A pass that only
// a change of the watched addresses or routes kicked is skipped while no queue finds its
// interfaces through the routes (own, routed).
func (e *Engine) Reconcile(ctx context.Context) error {
	if own := e.own.Swap(false); engine.Kicked(ctx) && !own && !e.routed.Load() {
		return nil
	}
	titems, err := e.ex.Items(TypePath)
	if err != nil {
		return err
	}
	tm, _ := e.ex.Tree.Get(TypePath)
	sm, _ := e.ex.Tree.Get(Path)
	types := map[string]leafSpec{}
	undecodable := map[uint64]string{} // type items
	for _, it := range titems {
		var t typeItem
		if err := engine.Decode(tm, it, &t); err != nil {
			undecodable[it.ID] = err.Error()
			continue
		}
		types[t.Name] = decodeType(t)
	}
	items, err := e.ex.Items(Path)
	if err != nil {
		return err
	}
	now := e.opts.Now()
	invalid := map[uint64]string{}
	active := map[uint64]bool{}
	specs := map[string]*Spec{}
	var order []*Spec
	for _, it := range items {
		var si simpleItem
		err := engine.Decode(sm, it, &si)
		var s *Spec
		if err == nil {
			s, err = decode(it.ID, si, types)
		}
		if err != nil {
			invalid[it.ID] = err.Error()
			continue
		}
		if s.Disabled {
			continue
		}
		active[it.ID] = s.Window.active(now)
		if s.Name != "" {
			specs[s.Name] = s
		}
		order = append(order, s)
	}
	routed := false
	for _, s := range order {
		routed = routed || len(s.Ifaces) == 0
	}
	e.routed.Store(routed)
	children := map[string]bool{}
	for _, s := range order {
		if s.Parent != "" {
			if _, ok := specs[s.Parent]; !ok {
				invalid[s.ID] = "parent " + s.Parent + " is not an enabled queue"
				continue
			}
			children[s.Parent] = true
		}
	}
	// Devices per queue: the interfaces named, else the ones the routes to the targets use.
	devs := map[uint64][]string{}
	resolve := func(s *Spec) ([]string, error) {
		if d, ok := devs[s.ID]; ok {
			return d, nil
		}
		set := map[string]bool{}
		for _, n := range s.Ifaces {
			// Devices go by kernel name from here on.
			if _, err := e.k.LinkByName(e.names.Kernel(n)); err != nil {
				return nil, fmt.Errorf("no interface %s", n)
			}
			set[e.names.Kernel(n)] = true
		}
		if len(s.Ifaces) == 0 {
			for _, t := range s.Targets {
				rs, err := e.k.RouteGet(t.Addr().AsSlice())
				if err != nil || len(rs) == 0 {
					return nil, fmt.Errorf("no route to target %s", t)
				}
				l, err := e.k.LinkByIndex(rs[0].LinkIndex)
				if err != nil {
					return nil, fmt.Errorf("no route to target %s", t)
				}
				set[l.Attrs().Name] = true
			}
		}
		var out []string
		for n := range set {
			out = append(out, n)
		}
		sort.Strings(out)
		devs[s.ID] = out
		return out, nil
	}
	// The upload of an interface a leaf with packet-marks shapes is classified after
	// mangle (its mark is not set yet at the interface's ingress) and before src-nat, by
	// the upload classifier (upload.go), on "up:<iface>", an IFB fed from the egress of
	// the other interfaces; so is every other queue's upload on that interface, so that
	// the first queue in order that matches takes the packet, marked or not.
	markedIf := map[string]bool{}
	for _, s := range order {
		if _, bad := invalid[s.ID]; bad || !active[s.ID] || children[s.Name] || len(s.Marks) == 0 {
			continue
		}
		if ifs, err := resolve(s); err == nil {
			for _, ifn := range ifs {
				markedIf[ifn] = true
			}
		}
	}
	want := map[string][]class{} // device -> classes; upload devices are "ifb:<iface>" and "up:<iface>"
	for i, s := range order {
		if _, bad := invalid[s.ID]; bad || !active[s.ID] {
			continue
		}
		ifs, err := resolve(s)
		if err != nil {
			invalid[s.ID] = err.Error()
			continue
		}
		// A parent lives where its descendants do.
		var ifsOf func(name string) []string
		ifsOf = func(name string) []string {
			var out []string
			for _, c := range order {
				if c.Parent == name {
					if d, err := resolve(c); err == nil {
						out = append(out, d...)
					}
					out = append(out, ifsOf(c.Name)...)
				}
			}
			return out
		}
		if children[s.Name] {
			ifs = dedupe(append(ifs, ifsOf(s.Name)...))
		}
		parentMinor := uint16(0)
		if s.Parent != "" {
			parentMinor = minorOf(specs[s.Parent].ID)
		}
		for _, ifn := range ifs {
			for di, dir := range []dirSpec{s.Up, s.Down} {
				c := class{minor: minorOf(s.ID), parent: parentMinor, dir: dir, order: i, queue: s.ID, dirIdx: di}
				if !children[s.Name] {
					c.match = matches(s, di == 1)
					c.marks = s.Marks
				}
				dev := ifn
				switch {
				case di == 1:
				case markedIf[ifn]:
					dev, c.byPrio = "up:"+ifn, true
				default:
					dev = "ifb:" + ifn
				}
				want[dev] = append(want[dev], c)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	refs := map[uint64][2]*classRef{}
	// In order (an interface before its IFB), so a pass's writes are the same each time.
	for _, dev := range slices.Sorted(maps.Keys(want)) {
		cs := want[dev]
		fp := e.fingerprint(cs)
		idx, name, err := e.device(dev)
		if err == nil && e.applied[dev] == fp {
			// No tree known: the one a stop left (loadApplied), adopted if intact.
			tr, adopt := e.trees[dev], e.trees[dev] == nil
			if adopt {
				tr = planned(cs)
			}
			var ok bool
			if ok, err = e.intact(idx, tr); err == nil && !ok {
				delete(e.applied, dev)
			} else if err == nil && adopt {
				e.trees[dev], e.refused[dev] = tr, nil
			}
		}
		if err == nil && e.applied[dev] != fp {
			var refused map[uint64]error
			var tr *tree
			refused, tr, err = e.install(idx, cs)
			if err == nil {
				e.applied[dev], e.refused[dev], e.trees[dev] = fp, refused, tr
				for _, c := range cs {
					delete(e.state, c.queue)
				}
			} else {
				delete(e.applied, dev)
			}
		}
		for _, c := range cs {
			why := err
			if why == nil {
				why = e.refused[dev][c.queue]
			}
			if why != nil {
				invalid[c.queue] = why.Error()
				continue
			}
			r := refs[c.queue]
			if r[c.dirIdx] == nil {
				r[c.dirIdx] = &classRef{dev: name, index: idx, minor: c.minor, spec: c.dir}
			}
			refs[c.queue] = r
		}
	}
	var removeErrs []error
	if err := e.applyUpload(e.uploadRules(want, slices.Sorted(maps.Keys(want)))); err != nil {
		removeErrs = append(removeErrs, err)
	}
	for _, dev := range slices.Sorted(maps.Keys(e.applied)) {
		if _, ok := want[dev]; !ok {
			if err := e.remove(dev); err != nil {
				removeErrs = append(removeErrs, err)
			}
		}
	}
	e.refs, e.invalid, e.active = refs, invalid, active
	for id := range e.state {
		if _, ok := refs[id]; !ok {
			delete(e.state, id)
		}
	}
	seen := map[uint64]bool{}
	for _, it := range items {
		seen[it.ID] = true
		e.publishLocked(it.ID)
	}
	var sfqProbed bool
	var sfqAnswer error
	for _, it := range titems {
		st := control.ItemState{}
		if why, bad := undecodable[it.ID]; bad {
			st.Invalid, st.Status = true, why
		} else if k := it.Props["kind"]; k != "pfifo" && k != "bfifo" && k != "none" && k != "sfq" {
			st.Invalid, st.Status = true, "kind "+k+": "+unbuilt[k]
		}
		if it.Props["kind"] == "sfq" {
			if !sfqProbed { // once a pass, also when the answer is not kept
				sfqProbed = true
				var cleanup error
				if sfqAnswer, cleanup = e.probe("sfq"); cleanup != nil {
					removeErrs = append(removeErrs, cleanup)
				}
			}
			if sfqAnswer != nil {
				st.Invalid, st.Status = true, "kind sfq: "+sfqAnswer.Error()
			}
		}
		e.ex.State.Set(TypePath, it.ID, st)
	}
	return errors.Join(removeErrs...)
}

func dedupe(in []string) []string {
	set := map[string]bool{}
	var out []string
	for _, s := range in {
		if !set[s] {
			set[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// minorOf maps an item id to its class minor (1:1 is unused; ids start at 1).
func minorOf(id uint64) uint16 { return uint16(0x100 + id%0xfe00) }

// matches are the u32 rules of a leaf queue: download matches traffic to the targets
// (and from dst), upload traffic from the targets (and to dst).
func matches(s *Spec, download bool) []match {
	var out []match
	if len(s.Targets) == 0 {
		m := match{}
		if download {
			m.src = s.Dst
		} else {
			m.dst = s.Dst
		}
		return []match{m}
	}
	for _, t := range s.Targets {
		if download {
			out = append(out, match{dst: t, src: s.Dst})
		} else {
			out = append(out, match{src: t, dst: s.Dst})
		}
	}
	return out
}

// fingerprint identifies what install makes of cs, with the numbers of the packet-marks
// (a mark numbered anew across a restart makes another classifier).
func (e *Engine) fingerprint(cs []class) string {
	h := sha256.New()
	for _, c := range cs {
		nums := make([]uint32, len(c.marks))
		for i, m := range c.marks {
			nums[i] = markNumber(e.marks, m)
		}
		// Prefixes by their text: %v of a netip.Prefix inside a struct prints the
		// address's zone handle, a pointer, which differs from one process to the next.
		ms := make([]string, len(c.match))
		for i, m := range c.match {
			ms[i] = m.src.String() + ">" + m.dst.String()
		}
		fmt.Fprintf(h, "%d/%d/%d/%+v/%v/%v%v/%t;", c.minor, c.parent, c.order, c.dir, ms, c.marks, nums, c.byPrio)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// planned is the tree install leaves for cs when the kernel accepts all of it.
func planned(cs []class) *tree {
	t := newTree()
	for _, c := range cs {
		h := netlink.MakeHandle(rootMajor, c.minor)
		t.classes[h] = netlink.HANDLE_ROOT // as the kernel reports a top class's parent
		if c.parent != 0 {
			t.classes[h] = netlink.MakeHandle(rootMajor, c.parent)
		}
		if c.match == nil {
			continue
		}
		if k := c.dir.Leaf.Kind; k != "none" && k != "" {
			t.leaves[netlink.MakeHandle(c.minor, 0)] = leafQdisc{parent: h, kind: k}
		}
		key := filterKey{uint16(10 + c.order), h}
		if c.byPrio {
			continue
		}
		if len(c.marks) > 0 {
			t.filters[key]++
		} else {
			t.filters[key] += len(c.match)
		}
	}
	return t
}

// isIFB reports the IFB devices the engine makes (device) and probes with: rq-N behind
// interface N's ingress, rq-uN fed from the other interfaces' egress.
func isIFB(name string) bool {
	rest, ok := strings.CutPrefix(name, "rq-")
	rest = strings.TrimPrefix(rest, "u")
	return ok && (rest == "probe" || rest != "" && strings.Trim(rest, "0123456789") == "")
}

// device returns the ifindex and name of dev, creating the IFB and what feeds it for
// "ifb:<iface>" (the interface's ingress redirect) and "up:<iface>" (a redirect on the
// egress of every other interface of what came in through the interface).
func (e *Engine) device(dev string) (int, string, error) {
	kind, ifn, ok := strings.Cut(dev, ":")
	if !ok {
		kind, ifn = "", dev
	}
	l, err := e.k.LinkByName(ifn)
	if err != nil {
		return 0, "", fmt.Errorf("no interface %s", ifn)
	}
	if kind == "" {
		return l.Attrs().Index, ifn, nil
	}
	name := ifbName(kind, l.Attrs().Index)
	ifb, err := e.k.LinkByName(name)
	if err != nil {
		if err := e.k.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: 1000}}); err != nil {
			return 0, "", fmt.Errorf("upload shaping needs an IFB device: %w (%w)", err, ErrNotSupported)
		}
		if ifb, err = e.k.LinkByName(name); err != nil {
			return 0, "", err
		}
	}
	if ifb.Attrs().Flags&net.FlagUp == 0 { // a quiet pass writes nothing
		if err := e.k.LinkSetUp(ifb); err != nil {
			return 0, "", err
		}
	}
	e.ifbs[dev] = name
	if kind == "up" {
		if err := e.feed(l, ifb.Attrs().Index); err != nil {
			return 0, "", fmt.Errorf("egress redirects of what %s receives to %s: %w", ifn, name, err)
		}
		return ifb.Attrs().Index, name, nil
	}
	if err := e.redirect(l.Attrs().Index, ifb.Attrs().Index); err != nil {
		return 0, "", fmt.Errorf("ingress redirect of %s to %s: %w", ifn, name, err)
	}
	return ifb.Attrs().Index, name, nil
}

// ifbName is the IFB of "ifb:<iface>" (rq-N) or "up:<iface>" (rq-uN), N the interface's index.
func ifbName(kind string, index int) string {
	if kind == "up" {
		return "rq-u" + strconv.Itoa(index)
	}
	return "rq-" + strconv.Itoa(index)
}

// Parents of the clsact hooks.
var (
	clsactIngress = netlink.MakeHandle(0xffff, 0xfff2)
	clsactEgress  = netlink.MakeHandle(0xffff, 0xfff3)
)

// ingressParent is the parent of ingress filters: the ingress qdisc's (left by an
// older routerd), or clsact's ingress hook, clsact being added when neither is there.
func (e *Engine) ingressParent(index int) (uint32, error) {
	qs, err := e.k.QdiscList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}})
	if err != nil {
		return 0, err
	}
	for _, q := range qs {
		switch q.Type() {
		case "clsact":
			return clsactIngress, nil
		case "ingress":
			return netlink.MakeHandle(0xffff, 0), nil
		}
	}
	if err := e.k.QdiscAdd(clsact(index)); err != nil {
		return 0, err
	}
	return clsactIngress, nil
}

func clsact(index int) netlink.Qdisc {
	return &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_CLSACT,
		Handle: netlink.MakeHandle(0xffff, 0)}}
}

// egressParent is the parent of egress filters, clsact's egress hook. An ingress qdisc
// (which has no egress hook; an older routerd added it) is replaced by clsact, and the
// ingress redirect it carried is put back at once.
func (e *Engine) egressParent(l netlink.Link) (uint32, error) {
	index := l.Attrs().Index
	qs, err := e.k.QdiscList(l)
	if err != nil {
		return 0, err
	}
	for _, q := range qs {
		switch q.Type() {
		case "clsact":
			return clsactEgress, nil
		case "ingress":
			if err := e.k.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
				return 0, err
			}
		}
	}
	if err := e.k.QdiscAdd(clsact(index)); err != nil {
		return 0, err
	}
	if name, ok := e.ifbs["ifb:"+l.Attrs().Name]; ok {
		if ifb, err := e.k.LinkByName(name); err == nil {
			if err := e.redirect(index, ifb.Attrs().Index); err != nil {
				return 0, err
			}
		}
	}
	return clsactEgress, nil
}

// feedPrio is the priority of the egress redirect of what interface index receives.
func feedPrio(index int) uint16 { return uint16(0xc001 + index%0x3ffe) }

// feed makes every other interface's egress redirect to the IFB ifb what came in
// through from (its skb_iif, u32's indev): after netfilter, so mangle's packet mark is
// there for the upload classifier, and before the interface's own root qdisc. The IFB
// sends the packet back out the interface it came from, as it was, with the IFB as its
// input device, so it is not redirected twice. The loopback and the IFBs are left alone;
// an interface added later is fed at the next pass.
func (e *Engine) feed(from netlink.Link, ifb int) error {
	links, err := e.k.LinkList()
	if err != nil {
		return err
	}
	prio := feedPrio(from.Attrs().Index)
	for _, l := range links {
		a := l.Attrs()
		if a.Index == from.Attrs().Index || a.Flags&net.FlagLoopback != 0 || a.Name == "lo" || l.Type() == "ifb" || isIFB(a.Name) {
			continue
		}
		parent, err := e.egressParent(l)
		if err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		fs, err := e.k.FilterList(l, parent)
		if err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		attrs := netlink.FilterAttrs{LinkIndex: a.Index, Parent: parent, Priority: prio, Protocol: unix.ETH_P_ALL}
		there := false
		for _, f := range fs {
			if f.Attrs().Priority != prio {
				continue
			}
			if there = redirectsTo(f, ifb); there {
				break
			}
			// Redirecting to an IFB made again, or to ifindex 0: replaced.
			if err := e.k.FilterDel(&netlink.U32{FilterAttrs: attrs}); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
			break
		}
		if !there {
			if err := e.k.FeedAdd(attrs, from.Attrs().Name, ifb); err != nil {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
		}
	}
	return nil
}

// redirectPrio is the priority of routerd's ingress redirect filter.
const redirectPrio = 0xc000

func (e *Engine) redirect(index, ifb int) error {
	parent, err := e.ingressParent(index)
	if err != nil {
		return err
	}
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}}
	fs, err := e.k.FilterList(link, parent)
	if err != nil {
		return err
	}
	attrs := netlink.FilterAttrs{LinkIndex: index, Parent: parent, Priority: redirectPrio, Protocol: unix.ETH_P_ALL}
	for _, f := range fs {
		if f.Attrs().Priority != redirectPrio {
			continue
		}
		if redirectsTo(f, ifb) {
			return nil
		}
		// An IFB deleted behind routerd's back leaves the filter redirecting to ifindex
		// 0 (the kernel drops the device from the action), and the IFB made again has
		// another index: the filter is replaced.
		if err := e.k.FilterDel(&netlink.U32{FilterAttrs: attrs}); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		break
	}
	return e.k.FilterAdd(&netlink.U32{FilterAttrs: attrs, Actions: []netlink.Action{netlink.NewMirredAction(ifb)}})
}

// redirectsTo reports whether filter f redirects to the link with index ifb.
func redirectsTo(f netlink.Filter, ifb int) bool {
	u, ok := f.(*netlink.U32)
	if !ok {
		return false
	}
	for _, a := range u.Actions {
		if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == ifb {
			return true
		}
	}
	return false
}

// tree is what install left on a device and the kernel accepted: the HTB classes
// (handle -> parent), the leaf queues' qdiscs (handle -> parent and kind) and the
// filters that classify into the classes (how many per priority and class).
type tree struct {
	classes map[uint32]uint32
	leaves  map[uint32]leafQdisc
	filters map[filterKey]int
}

type leafQdisc struct {
	parent uint32
	kind   string
}

type filterKey struct {
	prio  uint16
	class uint32
}

func newTree() *tree {
	return &tree{classes: map[uint32]uint32{}, leaves: map[uint32]leafQdisc{}, filters: map[filterKey]int{}}
}

// classOf is the class a classifying filter sends to (0: none, such as the hash table
// entries the kernel dumps beside each u32 filter).
func classOf(f netlink.Filter) uint32 {
	switch f := f.(type) {
	case *netlink.U32:
		return f.ClassId
	case *netlink.BpfFilter:
		return f.ClassId
	}
	return 0
}

// intact reports whether a device still has routerd's HTB root with exactly what
// install left there: the classes (handle and parent), the leaf qdiscs (handle, parent
// and kind) and the classifying filters under the root. A root, class, leaf qdisc or
// filter deleted, replaced or added behind routerd's back makes the pass install the
// tree again. It only reads (three dumps), so a pass with nothing changed writes nothing.
func (e *Engine) intact(index int, t *tree) (bool, error) {
	if t == nil {
		return false, nil
	}
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: index}}
	qs, err := e.k.QdiscList(l)
	if err != nil {
		return false, fmt.Errorf("reading the qdiscs: %w", err)
	}
	root := false
	leaves := 0
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT {
			root = q.Type() == "htb" && a.Handle == netlink.MakeHandle(rootMajor, 0)
		}
		if lq, ok := t.leaves[a.Handle]; ok {
			if lq.parent != a.Parent || lq.kind != q.Type() {
				return false, nil
			}
			leaves++
		}
	}
	if !root || leaves != len(t.leaves) {
		return false, nil
	}
	cls, err := e.k.ClassList(l, 0)
	if err != nil {
		return false, fmt.Errorf("reading the HTB classes: %w", err)
	}
	n := 0
	for _, c := range cls {
		a := c.Attrs()
		if major, _ := netlink.MajorMinor(a.Handle); major != rootMajor {
			continue // another qdisc's (a leaf's) classes
		}
		if p, ok := t.classes[a.Handle]; !ok || p != a.Parent {
			return false, nil
		}
		n++
	}
	if n != len(t.classes) {
		return false, nil
	}
	fs, err := e.k.FilterList(l, netlink.MakeHandle(rootMajor, 0))
	if err != nil {
		return false, fmt.Errorf("reading the filters: %w", err)
	}
	got := map[filterKey]int{}
	for _, f := range fs {
		if c := classOf(f); c != 0 {
			got[filterKey{f.Attrs().Priority, c}]++
		}
	}
	return maps.Equal(got, t.filters), nil
}

// install replaces the HTB tree of one device. An error is the device's (its root);
// what the kernel refuses of one queue (its class, its queue type's qdisc, its filter)
// is returned by queue and leaves the others installed: one bad queue must not stop
// the rest from shaping. The children of a refused class are refused with it.
// What the kernel accepted is returned too, for intact.
func (e *Engine) install(index int, cs []class) (map[uint64]error, *tree, error) {
	root := netlink.MakeHandle(rootMajor, 0)
	// Whatever root is there goes (none, or the kernel's default, is no error; handle 0
	// names any root, so a qdisc put there behind routerd's back goes too): a delete
	// the kernel refuses shows as the add's EEXIST below, which is the device's error.
	_ = e.k.QdiscDel(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_ROOT}})
	if err := e.k.QdiscAdd(netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_ROOT, Handle: root})); err != nil {
		return nil, nil, fmt.Errorf("HTB root: %w", err)
	}
	refused := map[uint64]error{}
	t := newTree()
	classes := t.classes
	// Parents before children.
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].parent == 0 && cs[j].parent != 0 })
	done, bad := map[uint16]bool{}, map[uint16]bool{}
	for len(done)+len(bad) < len(cs) {
		progress := false
		for _, c := range cs {
			if done[c.minor] || bad[c.minor] || c.parent != 0 && !done[c.parent] && !bad[c.parent] {
				continue
			}
			progress = true
			if bad[c.parent] {
				bad[c.minor] = true
				refused[c.queue] = fmt.Errorf("its parent queue was refused")
				continue
			}
			parent := root
			if c.parent != 0 {
				parent = netlink.MakeHandle(rootMajor, c.parent)
			}
			cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: index, Parent: parent,
				Handle: netlink.MakeHandle(rootMajor, c.minor)},
				netlink.HtbClassAttrs{Rate: c.dir.Rate, Ceil: c.dir.Ceil, Prio: c.dir.Prio})
			if err := e.k.ClassAdd(cl); err != nil {
				bad[c.minor] = true
				refused[c.queue] = fmt.Errorf("HTB class: %w", err)
				continue
			}
			done[c.minor] = true
			// The kernel reports a top class's parent as the root, not as 1:0.
			classes[cl.Handle] = parent
			if c.parent == 0 {
				classes[cl.Handle] = netlink.HANDLE_ROOT
			}
		}
		if !progress {
			return nil, nil, fmt.Errorf("queue parents form a loop")
		}
	}
	for _, c := range cs {
		if c.match == nil || refused[c.queue] != nil {
			continue
		}
		if err := e.filters(index, root, c, t); err != nil {
			refused[c.queue] = err
		}
	}
	return refused, t, nil
}

// filters installs a leaf queue's qdisc and the filters that classify into it, and
// records in t what the kernel accepted.
func (e *Engine) filters(index int, root uint32, c class, t *tree) error {
	if err := e.leaf(index, c, t); err != nil {
		return err
	}
	if c.byPrio {
		return nil
	}
	key := filterKey{uint16(10 + c.order), netlink.MakeHandle(rootMajor, c.minor)}
	if len(c.marks) > 0 {
		if err := e.markFilter(index, root, c); err != nil {
			return err
		}
		t.filters[key]++
		return nil
	}
	for _, m := range c.match {
		if err := e.k.FilterAdd(u32(index, root, c, m)); err != nil {
			return fmt.Errorf("u32 filter: %w", err)
		}
		t.filters[key]++
	}
	return nil
}

// markFilter classifies a queue with packet-marks by an eBPF program (cls_bpf).
func (e *Engine) markFilter(index int, parent uint32, c class) error {
	a := netlink.FilterAttrs{LinkIndex: index, Parent: parent, Priority: uint16(10 + c.order), Protocol: unix.ETH_P_ALL}
	if err := e.k.MarkFilterAdd(a, netlink.MakeHandle(rootMajor, c.minor), c.marks, c.match); err != nil {
		return fmt.Errorf("packet-marks: %w", err)
	}
	return nil
}

func u32(index int, parent uint32, c class, m match) *netlink.U32 {
	sel := &nl.TcU32Sel{Flags: nl.TC_U32_TERMINAL}
	key := func(pf netip.Prefix, off int32) {
		if !pf.IsValid() {
			return
		}
		a := pf.Addr().As4()
		mask := uint32(0)
		if pf.Bits() > 0 {
			mask = ^uint32(0) << (32 - pf.Bits())
		}
		sel.Keys = append(sel.Keys, nl.TcU32Key{Mask: mask, Val: binary.BigEndian.Uint32(a[:]) & mask, Off: off})
	}
	key(m.src, 12)
	key(m.dst, 16)
	if len(sel.Keys) == 0 {
		sel.Keys = append(sel.Keys, nl.TcU32Key{})
	}
	return &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: index, Parent: parent, Priority: uint16(10 + c.order),
			Protocol: unix.ETH_P_IP},
		ClassId: netlink.MakeHandle(rootMajor, c.minor),
		Sel:     sel,
	}
}

// leaf installs the queue type's qdisc under a leaf class, recorded in t.
func (e *Engine) leaf(index int, c class, t *tree) error {
	attrs := netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.MakeHandle(rootMajor, c.minor),
		Handle: netlink.MakeHandle(c.minor, 0)}
	l := c.dir.Leaf
	var err error
	switch l.Kind {
	case "none", "":
		return nil
	case "pfifo", "bfifo":
		err = e.k.FifoAdd(attrs, l.Kind, l.Limit)
	case "sfq":
		err = e.k.QdiscAdd(&netlink.Sfq{QdiscAttrs: attrs, Perturb: int32(l.Perturb), Quantum: l.Allot})
	default:
		if why, ok := unbuilt[l.Kind]; ok {
			// A kind routerd does not build (pcq has no Linux qdisc at all): say so as
			// /queue type does; the kernel's ENOENT would read as a missing module.
			return fmt.Errorf("queue type %s: %s", l.Kind, why)
		}
		err = e.k.QdiscAdd(&netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: l.Kind})
	}
	if err != nil {
		return fmt.Errorf("queue type %s: this kernel has no %s qdisc (%w)", l.Kind, l.Kind, err)
	}
	t.leaves[attrs.Handle] = leafQdisc{parent: attrs.Parent, kind: l.Kind}
	return nil
}

// probe reports whether the kernel has the sfq qdisc, by adding it to a throwaway IFB;
// the answer is kept once the IFB is gone again. What went wrong removing the IFB is
// returned apart (the pass's error): the answer is not kept then, so the next pass
// probes again, starting by removing the leftover, whose sfq would otherwise make the
// add fail with EEXIST and read as "no sfq".
func (e *Engine) probe(kind string) (answer, cleanup error) {
	if e.probed != nil {
		return *e.probed, nil
	}
	name := "rq-probe"
	if l, err := e.k.LinkByName(name); err == nil {
		if err := e.k.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("probing for %s: removing the leftover %s: %w", kind, name, err), nil
		}
	}
	if err := e.k.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("probing for %s: %w", kind, err), nil // not kept: tried again
	}
	l, err := e.k.LinkByName(name)
	if err != nil {
		return fmt.Errorf("probing for %s: %w", kind, err), nil
	}
	answer = e.k.QdiscAdd(&netlink.Sfq{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
		Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}})
	if answer != nil {
		answer = fmt.Errorf("this kernel has no %s qdisc (%w)", kind, answer)
	}
	if err := e.k.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return answer, fmt.Errorf("removing the %s probe device %s: %w", kind, name, err)
	}
	e.probed = &answer
	return answer, nil
}

// remove takes routerd's tree off a device it no longer shapes. What is already gone
// (the device, its qdisc) is no error; what the kernel refuses is, and since no item
// owns the device any more it is the pass's (the device is tried again next pass).
func (e *Engine) remove(dev string) error {
	var errs []error
	keep := func(what string, err error) {
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("removing the %s of %s: %w", what, dev, err))
		}
	}
	kind, ifn, ok := strings.Cut(dev, ":")
	if !ok {
		kind, ifn = "", dev
	}
	switch kind {
	case "":
		if l, err := e.k.LinkByName(ifn); err == nil {
			keep("HTB root", e.k.QdiscDel(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
				Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(rootMajor, 0)}}))
		}
	case "ifb":
		if l, err := e.k.LinkByName(ifn); err == nil {
			if parent, err := e.ingressParent(l.Attrs().Index); err == nil {
				keep("ingress redirect", e.k.FilterDel(&netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index,
					Parent: parent, Priority: redirectPrio, Protocol: unix.ETH_P_ALL}}))
			}
		}
	}
	if kind != "" {
		// A device a stop left (loadApplied) has no IFB known yet: it is named after the interface.
		name, ok := e.ifbs[dev]
		if l, err := e.k.LinkByName(ifn); !ok && err == nil {
			name, ok = ifbName(kind, l.Attrs().Index), true
		}
		if ok && kind == "up" {
			keep("egress redirects", e.unfeed(name))
		}
		if ok {
			if l, err := e.k.LinkByName(name); err == nil {
				keep("IFB device", e.k.LinkDel(l))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	delete(e.applied, dev)
	delete(e.trees, dev)
	delete(e.refused, dev)
	delete(e.ifbs, dev)
	return nil
}

// unfeed removes the egress redirects feed made for the IFB name (rq-uN: by their
// priority, from the interface's index N, also when the interface is gone).
func (e *Engine) unfeed(name string) error {
	index, err := strconv.Atoi(strings.TrimPrefix(name, "rq-u"))
	if err != nil {
		return err
	}
	links, err := e.k.LinkList()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		qs, err := e.k.QdiscList(l)
		if err != nil || !slices.ContainsFunc(qs, func(q netlink.Qdisc) bool { return q.Type() == "clsact" }) {
			continue
		}
		err = e.k.FilterDel(&netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index,
			Parent: clsactEgress, Priority: feedPrio(index), Protocol: unix.ETH_P_ALL}})
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("%s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// poll reads the counters of every class, updates rates and bursts, and publishes.
func (e *Engine) poll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	byDev := map[int]map[uint32]*netlink.ClassStatistics{}
	for id, r := range e.refs {
		for di, ref := range r {
			if ref == nil {
				continue
			}
			stats, ok := byDev[ref.index]
			if !ok {
				stats = map[uint32]*netlink.ClassStatistics{}
				cls, _ := e.k.ClassList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: ref.index}}, 0)
				for _, c := range cls {
					stats[c.Attrs().Handle] = c.Attrs().Statistics
				}
				byDev[ref.index] = stats
			}
			cs := stats[netlink.MakeHandle(rootMajor, ref.minor)]
			if cs == nil || cs.Basic == nil {
				continue
			}
			st := e.state[id]
			if st == nil {
				st = &[2]dirState{}
				e.state[id] = st
			}
			d := &st[di]
			s := sample{at: now, bytes: cs.Basic.Bytes, packets: uint64(cs.Basic.Packets)}
			if cs.Queue != nil {
				s.qbytes, s.qpkts, s.drops = cs.Queue.Backlog, cs.Queue.Qlen, cs.Queue.Drops
			}
			if !d.last.at.IsZero() && s.bytes >= d.last.bytes {
				dt := now.Sub(d.last.at).Seconds()
				db := s.bytes - d.last.bytes
				d.rate = uint64(float64(db*8) / dt)
				d.pps = uint64(float64(s.packets-d.last.packets) / dt)
				d.hist = append(d.hist, d.rate)
			}
			d.last = s
			e.burst(ref, d)
		}
		e.publishLocked(id)
	}
}

// burst applies RouterOS's burst rule to one direction: the class may reach burst-limit
// while the average rate over burst-time is below burst-threshold.
func (e *Engine) burst(ref *classRef, d *dirState) {
	sp := ref.spec
	if sp.BurstLimit == 0 || sp.BurstTime <= 0 {
		return
	}
	n := int(sp.BurstTime / e.opts.Poll)
	if n < 1 {
		n = 1
	}
	if len(d.hist) > n {
		d.hist = d.hist[len(d.hist)-n:]
	}
	var sum uint64
	for _, r := range d.hist {
		sum += r
	}
	avg := uint64(0)
	if len(d.hist) > 0 {
		avg = sum / uint64(n)
	}
	threshold := sp.BurstThreshold
	if threshold == 0 {
		threshold = sp.Ceil
	}
	want := avg < threshold
	if want == d.bursting {
		return
	}
	ceil := sp.Ceil
	if want {
		ceil = sp.BurstLimit
	}
	cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: ref.index, Parent: netlink.MakeHandle(rootMajor, 0),
		Handle: netlink.MakeHandle(rootMajor, ref.minor)}, netlink.HtbClassAttrs{Rate: sp.Rate, Ceil: ceil, Prio: sp.Prio})
	if err := e.k.ClassChange(cl); err == nil {
		d.bursting = want
	}
}

// publishLocked writes an item's flags, status and counters.
func (e *Engine) publishLocked(id uint64) {
	st := control.ItemState{Props: map[string]string{}}
	if why, bad := e.invalid[id]; bad {
		st.Invalid, st.Status = true, why
	} else if on, known := e.active[id]; known && !on {
		st.Status = "outside its time window"
	}
	var ds [2]dirState
	if s := e.state[id]; s != nil {
		ds = *s
	}
	two := func(f func(d dirState) uint64) string {
		return strconv.FormatUint(f(ds[0]), 10) + "/" + strconv.FormatUint(f(ds[1]), 10)
	}
	st.Props["rate"] = two(func(d dirState) uint64 { return d.rate })
	st.Props["packet-rate"] = two(func(d dirState) uint64 { return d.pps })
	st.Props["bytes"] = two(func(d dirState) uint64 { return since(d.last.bytes, d.base.bytes) })
	st.Props["packets"] = two(func(d dirState) uint64 { return since(d.last.packets, d.base.packets) })
	st.Props["queued-bytes"] = two(func(d dirState) uint64 { return uint64(d.last.qbytes) })
	st.Props["queued-packets"] = two(func(d dirState) uint64 { return uint64(d.last.qpkts) })
	st.Props["dropped"] = two(func(d dirState) uint64 { return since(uint64(d.last.drops), uint64(d.base.drops)) })
	e.ex.State.Set(Path, id, st)
}

// unbuilt says why a queue type kind is not applied.
var unbuilt = map[string]string{
	"red":      "this kernel has no red queueing discipline",
	"pcq":      "Linux has no PCQ queueing discipline",
	"mq-pfifo": "multi-queue pfifo is not built by routerd",
	"fq-codel": "fq-codel leaves are not built by routerd yet",
	"cake":     "cake leaves are not built by routerd yet",
}

// since is a counter's value since its reset; a class made again starts below its old base.
func since(v, base uint64) uint64 {
	if v < base {
		return v
	}
	return v - base
}

// resetCounters zeroes the bytes, packets and dropped counters a queue shows, as
// RouterOS's reset-counters and reset-counters-all do. HTB classes cannot be reset, so
// the engine keeps each direction's reading at the reset and shows what came after it.
func (e *Engine) resetCounters(all bool) control.Handler {
	return func(_ context.Context, c *control.Call) (*control.Reply, error) {
		m, _ := e.ex.Tree.Get(Path)
		var ids []uint64
		err := e.ex.View(c.Sess, func(tx *store.Tx) error {
			if all {
				items, err := tx.List(Path)
				for _, it := range items {
					ids = append(ids, it.ID)
				}
				return err
			}
			ref, _ := c.S.Get("numbers")
			var err error
			ids, err = e.ex.Resolve(tx, c.Sess, m, ref)
			return err
		})
		if err != nil {
			return nil, err
		}
		e.poll() // the reset takes what was counted up to now
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, id := range ids {
			if st := e.state[id]; st != nil {
				st[0].base, st[1].base = st[0].last, st[1].last
			}
			e.publishLocked(id)
		}
		return &control.Reply{Menu: m}, nil
	}
}

// Prearm installs the stored simple queues before any engine starts, by one pass of an
// engine of its own, and leaves what it applied in the store for the queue engine's
// Start to adopt. The engines start in order, each after the one before has passed, and
// the queue engine is late in that order (after the firewall, whose mark numbers it
// uses): a start that found no trees (after an upgrade from a routerd whose stop removed
// them, or a boot) left the traffic unshaped for the ~8 s until its first pass (issue
// 15). Mark numbers are the names' hashes here (the firewall's table is not loaded yet;
// a name whose hash collided gets its allocated number at the engine's pass), interface
// names the kernel's, and a queue whose target has no route yet (a boot, before
// /ip address) waits for the engine. Without queues it costs one read of the menu.
func Prearm(ex *control.Executor) error {
	items, err := ex.Items(Path)
	if err != nil || len(items) == 0 {
		return err
	}
	e := New(Options{})
	if err := e.open(ex); err != nil {
		return err
	}
	if k, ok := e.k.(netlinkKernel); ok {
		defer k.h.Close() // the engine opens its own at Start
	}
	e.loadApplied()
	err = e.Reconcile(context.Background())
	e.saveApplied()
	return err
}
