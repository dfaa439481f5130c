package ipsettings

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
)

// Menu paths this engine applies.
const (
	Path   = menu.Settings4Path
	Path6  = menu.Settings6Path
	itemID = 1 // the one item of a Single menu
)

// ErrSharedLimit says a parameter is one value for the whole machine, not the namespace.
var ErrSharedLimit = errors.New("the kernel's neighbour table limit is shared by every network namespace; routerd runs in a child one")

// param maps one property to the sysctl files it sets.
type param struct {
	prop string
	// files are globs under /proc/sys.
	files []string
	// conv turns the canonical property value into the file's text.
	conv func(string) (string, error)
	// global: the file is the machine's, written only from the initial namespace.
	global bool
}

func boolean(v string) (string, error) {
	if v == "yes" {
		return "1", nil
	}
	return "0", nil
}

func enum(m map[string]string) func(string) (string, error) {
	return func(v string) (string, error) {
		s, ok := m[v]
		if !ok {
			return "", fmt.Errorf("%q: %w", v, value.ErrInvalid)
		}
		return s, nil
	}
}

func same(v string) (string, error) { return v, nil }

func millis(v string) (string, error) {
	d, err := value.ParseDuration(v)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(d.Milliseconds(), 10), nil
}

func hex(v string) (string, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
	return strconv.FormatUint(n, 10), err
}

var hashPolicy = enum(map[string]string{"l3": "0", "l4": "1", "l3-inner": "2"})

// conf4 is a per-interface IPv4 parameter: all, default and every interface.
func conf4(name string) []string { return []string{"net/ipv4/conf/*/" + name} }
func conf6(name string) []string { return []string{"net/ipv6/conf/*/" + name} }

// params4 are /ip settings' applied properties in the order they are written.
var params4 = []param{
	// ip_forward resets every interface's forwarding; conf/all/forwarding is the same knob.
	{prop: "ip-forward", files: []string{"net/ipv4/ip_forward"}, conv: boolean},
	{prop: "send-redirects", files: conf4("send_redirects"), conv: boolean},
	{prop: "accept-source-route", files: conf4("accept_source_route"), conv: boolean},
	{prop: "accept-redirects", files: conf4("accept_redirects"), conv: boolean},
	{prop: "secure-redirects", files: conf4("secure_redirects"), conv: boolean},
	{prop: "rp-filter", files: conf4("rp_filter"), conv: enum(map[string]string{"no": "0", "strict": "1", "loose": "2"})},
	{prop: "tcp-syncookies", files: []string{"net/ipv4/tcp_syncookies"}, conv: boolean},
	{prop: "max-neighbor-entries", files: []string{"net/ipv4/neigh/default/gc_thresh3"}, conv: same, global: true},
	{prop: "arp-timeout", files: []string{"net/ipv4/neigh/*/base_reachable_time_ms"}, conv: millis},
	{prop: "icmp-errors-use-inbound-interface-address", files: []string{"net/ipv4/icmp_errors_use_inbound_ifaddr"}, conv: boolean},
	{prop: "icmp-rate-limit", files: []string{"net/ipv4/icmp_ratelimit"}, conv: same},
	{prop: "icmp-rate-mask", files: []string{"net/ipv4/icmp_ratemask"}, conv: hex},
	{prop: "tcp-timestamps", files: []string{"net/ipv4/tcp_timestamps"}, conv: enum(map[string]string{"disable": "0", "random-offset": "1", "enable": "2"})},
	{prop: "ipv4-multipath-hash-policy", files: []string{"net/ipv4/fib_multipath_hash_policy"}, conv: hashPolicy},
}

// params6 are /ipv6 settings' applied properties; disable-ipv6 first so that a re-enabled
// interface gets the rest.
var params6 = []param{
	// conf/all/disable_ipv6 sets every interface's when it changes; not per interface,
	// where the tunnel engine keeps IPv6 off its hidden device.
	{prop: "disable-ipv6", files: []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"}, conv: boolean},
	// conf/all/forwarding sets every interface's.
	{prop: "forward", files: []string{"net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"}, conv: boolean},
	{prop: "accept-redirects", files: conf6("accept_redirects"), conv: enum(map[string]string{"no": "0", "yes-if-forwarding-disabled": "1"})},
	{prop: "accept-router-advertisements", files: conf6("accept_ra"), conv: enum(map[string]string{"no": "0", "yes-if-forwarding-disabled": "1", "yes": "2"})},
	{prop: "max-neighbor-entries", files: []string{"net/ipv6/neigh/default/gc_thresh3"}, conv: same, global: true},
	{prop: "soft-max-neighbor-entries", files: []string{"net/ipv6/neigh/default/gc_thresh2"}, conv: same, global: true},
	{prop: "min-neighbor-entries", files: []string{"net/ipv6/neigh/default/gc_thresh1"}, conv: same, global: true},
	// gc_stale_time is the namespace's: default and every interface's table.
	{prop: "stale-neighbor-timeout", files: []string{"net/ipv6/neigh/*/gc_stale_time"}, conv: same},
	// addr_gen_mode 1 (none): no automatic link-local address; conf/all sets every
	// interface's, default the new ones'.
	{prop: "disable-link-local-address", files: conf6("addr_gen_mode"), conv: boolean},
	{prop: "multipath-hash-policy", files: []string{"net/ipv6/fib_multipath_hash_policy"}, conv: hashPolicy},
}

// FastPathStatus is what /ip settings and /ipv6 settings print of the fast path.
type FastPathStatus struct {
	Active4, Active6                   bool
	Packets4, Bytes4, Packets6, Bytes6 uint64
	FastTrackActive4, FastTrackActive6 bool
	FastTrack4, FastTrackBytes4        uint64
	FastTrack6, FastTrackBytes6        uint64
	// FastTrackNote says what FastTrack leaves to the kernel while it is on (connections
	// through bridge ports); print shows it as the status.
	FastTrackNote4, FastTrackNote6 string
}

// FastPath is the service the fast path engine offers (engine.Offer) for the counters.
type FastPath func() FastPathStatus

// Options say where the sysctls are.
type Options struct {
	// Proc is /proc/sys (default); the initial namespace is told by comparing
	// /proc/self/ns/net with /proc/1/ns/net.
	Proc string
}

// Engine applies /ip settings and /ipv6 settings.
type Engine struct {
	ex   *control.Executor
	eh   *engine.Handle
	opts Options
	// mu guards the last published states, which print refreshes with the fast path's
	// counters.
	mu     sync.Mutex
	states map[string]control.ItemState
	// initNS: routerd runs in the machine's namespace and owns the global limits.
	initNS bool

	// checked remembers, per parameter, the value last applied and the per-interface
	// files found holding it since, so that a resync reads only new interfaces' files
	// (with 2,000 tunnel interfaces every pass read tens of thousands of files); all
	// and default are read every pass, and every file again each fullCheck passes.
	checked map[string]*checkedParam
	writes  int // files written, for the tests
	passes  int
	// dirs caches, for one pass, the entries of the folders a parameter's pattern
	// ranges over (net/ipv4/conf/*: one per interface), read once instead of a glob's
	// stat per interface per parameter.
	dirs map[string][]string
}

// fullCheck is how many passes go by between reads of every interface's files: a value
// changed behind routerd's back on one interface is put back within about a minute.
const fullCheck = 12

type checkedParam struct {
	want  string
	files map[string]bool
	// shown is, per file, what the kernel showed right after routerd wrote want: some
	// knobs keep another unit and show the value rounded (icmp_ratelimit and
	// base_reachable_time_ms are kept in jiffies: 10 ms reads back as 12 with HZ=250),
	// so a later read that shows the same is routerd's value, not a change behind its
	// back to write again at every full check.
	shown map[string]string
}

// New returns the engine, for an engine host to run.
func New(opts Options) *Engine {
	if opts.Proc == "" {
		opts.Proc = "/proc/sys"
	}
	return &Engine{opts: opts}
}

// Spec declares the menus; a new interface kicks a pass so it gets the parameters.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "ip-settings", Menus: []string{Path, Path6}, Watch: []string{link.IfacePath}}
}

// Start finds out whether routerd owns the machine-wide parameters.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.eh = h.Ex, h
	e.ex.Provide(Path, e.refresh(Path))
	e.ex.Provide(Path6, e.refresh(Path6))
	self, err1 := os.Readlink("/proc/self/ns/net")
	init, err2 := os.Readlink("/proc/1/ns/net")
	e.initNS = err1 == nil && err2 == nil && self == init
	return nil
}

// TypedItems names the properties the parameter tables apply (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	names := func(ps []param) engine.Props {
		var out engine.Props
		for _, p := range ps {
			out = append(out, p.prop)
		}
		return out
	}
	return map[string]any{Path: names(params4), Path6: names(params6)}
}

// Reconcile writes every parameter whose file differs; unchanged files are not written.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.passes++
	e.dirs = nil
	e.apply(Path, params4)
	e.apply(Path6, params6)
	return nil
}

// fastPathProps are the read-only counters of a settings menu: no/0 without a fast path
// engine.
func (e *Engine) fastPathProps(path string) map[string]string {
	var st FastPathStatus
	if e.eh != nil {
		if fp, ok := engine.Lookup[FastPath](e.eh); ok {
			st = fp()
		}
	}
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	if path == Path6 {
		return map[string]string{"ipv6-fast-path-active": yn(st.Active6), "ipv6-fast-path-packets": u(st.Packets6),
			"ipv6-fast-path-bytes": u(st.Bytes6), "ipv6-fasttrack-active": yn(st.FastTrackActive6),
			"ipv6-fasttrack-packets": u(st.FastTrack6), "ipv6-fasttrack-bytes": u(st.FastTrackBytes6)}
	}
	return map[string]string{
		"ipv4-fast-path-active": yn(st.Active4), "ipv4-fast-path-packets": u(st.Packets4), "ipv4-fast-path-bytes": u(st.Bytes4),
		"ipv4-fasttrack-active": yn(st.FastTrackActive4), "ipv4-fasttrack-packets": u(st.FastTrack4),
		"ipv4-fasttrack-bytes": u(st.FastTrackBytes4),
	}
}

// refresh publishes the item's state with the fast path's counters as they are now.
func (e *Engine) refresh(path string) control.Source {
	return func(context.Context, *control.Session) ([]control.Row, error) {
		e.publish(path, nil)
		return nil, nil
	}
}

// publish sets the item's state: st when given (a pass), else the last one, with the
// fast path's counters read now.
func (e *Engine) publish(path string, st *control.ItemState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.states == nil {
		e.states = map[string]control.ItemState{}
	}
	cur := e.states[path]
	if st != nil {
		cur = *st
	}
	props := map[string]string{}
	for k, v := range cur.Props {
		props[k] = v
	}
	for k, v := range e.fastPathProps(path) {
		props[k] = v
	}
	cur.Props = props
	e.states[path] = cur
	if note := e.fastTrackNote(path); note != "" {
		if cur.Status != "" {
			note = cur.Status + "; " + note
		}
		cur.Status = note // shown, not kept: the next publish reads the fast path again
	}
	e.ex.State.Set(path, itemID, cur)
}

// fastTrackNote is the fast path's FastTrackNote of the menu's family.
func (e *Engine) fastTrackNote(path string) string {
	if e.eh == nil {
		return ""
	}
	fp, ok := engine.Lookup[FastPath](e.eh)
	if !ok {
		return ""
	}
	if st := fp(); path == Path6 {
		return st.FastTrackNote6
	} else {
		return st.FastTrackNote4
	}
}

// apply converges one menu's parameters and publishes what could not be applied as the
// item's status.
func (e *Engine) apply(path string, params []param) {
	props := map[string]string{}
	if items, err := e.ex.Items(path); err == nil && len(items) > 0 {
		props = items[0].Props
	}
	m, _ := e.ex.Tree.Get(path)
	var problems []string
	for _, p := range params {
		v, ok := props[p.prop]
		if !ok {
			d, _ := m.Prop(p.prop)
			v = d.Default
		}
		if err := e.set(p, v); err != nil {
			if !ok && errors.Is(err, ErrSharedLimit) {
				continue // left at its default: the machine's own limit stands, nothing to say
			}
			problems = append(problems, p.prop+": "+err.Error())
		}
	}
	st := control.ItemState{}
	if len(problems) > 0 {
		st.Status = "not applied: " + strings.Join(problems, "; ")
	}
	e.publish(path, &st)
}

// holds reports whether every file of p that exists holds want (and one does).
func (e *Engine) holds(p param, want string) bool {
	found := 0
	for _, g := range p.files {
		for _, f := range e.expand(g) {
			cur, err := os.ReadFile(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil || strings.TrimSpace(string(cur)) != want {
				return false
			}
			found++
		}
	}
	return found > 0
}

// set writes v to p's files where they hold something else.
func (e *Engine) set(p param, v string) error {
	want, err := p.conv(v)
	if err != nil {
		return err
	}
	if p.global && !e.initNS {
		if e.holds(p, want) {
			return nil // the machine has the value asked for
		}
		return ErrSharedLimit
	}
	var files []string
	for _, g := range p.files {
		files = append(files, e.expand(g)...)
	}
	// all and default first: some kernels copy them into the interfaces.
	slices.SortStableFunc(files, func(a, b string) int { return rank(a) - rank(b) })
	key := strings.Join(p.files, ",")
	prev := e.checked[key]
	var shown map[string]string
	if prev != nil && prev.want == want {
		shown = prev.shown
	}
	if prev == nil || prev.want != want || e.passes%fullCheck == 0 {
		prev = &checkedParam{want: want, files: map[string]bool{}}
	}
	next := &checkedParam{want: want, files: map[string]bool{}, shown: map[string]string{}}
	var errs []error
	found := 0
	for _, f := range files {
		if v, ok := shown[f]; ok {
			next.shown[f] = v
		}
		if prev.files[f] && rank(f) != 0 {
			next.files[f] = true // holds want since it was read or written
			found++
			continue
		}
		cur, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // an interface that went, or a knob this kernel lacks
		}
		found++
		if c := strings.TrimSpace(string(cur)); err == nil && (c == want || c != "" && shown[f] == c) {
			next.files[f] = true
			continue
		}
		if err := os.WriteFile(f, []byte(want), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", strings.TrimPrefix(f, e.opts.Proc+"/"), err))
			continue
		}
		e.writes++
		if b, err := os.ReadFile(f); err == nil {
			next.shown[f] = strings.TrimSpace(string(b))
		}
		next.files[f] = true
	}
	if found == 0 {
		return fmt.Errorf("%w: no %s in this kernel", os.ErrNotExist, strings.Join(p.files, ", "))
	}
	if e.checked == nil {
		e.checked = map[string]*checkedParam{}
	}
	e.checked[key] = next
	return errors.Join(errs...)
}

// expand lists the files of pattern g under Proc: g as it is, or, with one "*" segment,
// one file per entry of the folder before it (listed once per pass).
func (e *Engine) expand(g string) []string {
	dir, rest, ok := strings.Cut(g, "/*/")
	if !ok {
		return []string{filepath.Join(e.opts.Proc, g)}
	}
	dir = filepath.Join(e.opts.Proc, dir)
	if e.dirs == nil {
		e.dirs = map[string][]string{}
	}
	names, ok := e.dirs[dir]
	if !ok {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			names = append(names, ent.Name())
		}
		e.dirs[dir] = names
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, filepath.Join(dir, n, rest))
	}
	return out
}

func rank(f string) int {
	if strings.Contains(f, "/all/") || strings.Contains(f, "/default/") {
		return 0
	}
	return 1
}
