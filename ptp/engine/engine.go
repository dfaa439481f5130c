package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/node"
	"github.com/routerd/routerd/ptp/steer"
	"github.com/routerd/routerd/ptp/ts"
)

// Clock choices of --ptp-clock.
const (
	ClockAuto    = "auto"
	ClockSystem  = "system"
	ClockVirtual = "virtual"
)

// ErrClockOption: --ptp-clock got an unknown value.
var ErrClockOption = errors.New("--ptp-clock must be auto, system or virtual")

// Options are the daemon's PTP flags.
type Options struct {
	Clock         string
	VirtualOffset time.Duration
	VirtualDrift  float64 // ppb
	// BPFFS is the daemon's --bpffs folder; the steering program pins under BPFFS/ptp.
	BPFFS string
}

// Check validates the options.
func (o Options) Check() error {
	switch o.Clock {
	case "", ClockAuto, ClockSystem, ClockVirtual:
		return nil
	}
	return fmt.Errorf("%w, not %q", ErrClockOption, o.Clock)
}

const (
	pathPTP    = menu.PTPPath
	pathPort   = menu.PTPPortPath
	pathStatus = menu.PTPStatusPath
)

// Engine runs the instances.
type Engine struct {
	ex   *control.Executor
	h    *engine.Handle
	life context.Context // Start's: instances run under it
	opts Options
	// names translates RouterOS interface names to kernel link names and back (the link
	// engine's): instances open their ports by kernel name.
	names *link.Names
	log   *slog.Logger
	sys   System // the machine (osSystem) unless a test set a fake

	mu        sync.Mutex
	instances map[uint64]*instance // by /system/ptp item id
	virtual   *clock.Virtual
	steer     Steerer // opened when a bridge port first needs it
	steerErr  error
	// unsteer: ports whose Detach failed (name → ifindex), tried again every pass,
	// whose error they are until it succeeds.
	unsteer map[string]int
}

type instance struct {
	key    string
	name   string
	n      Node
	cancel context.CancelFunc
	dead   atomic.Bool // Run returned (a panic): the next pass starts it again
	done   chan struct{}
	// steered: bridge ports whose PTP ptp/steer keeps from the bridge, name → ifindex.
	steered map[string]int
}

// New returns the PTP engine, for an engine host to run.
func New(opts Options) *Engine {
	if opts.Clock == "" {
		opts.Clock = ClockAuto
	}
	return &Engine{opts: opts, log: slog.Default(), sys: osSystem{}, instances: map[uint64]*instance{},
		unsteer: map[string]int{}}
}

// Spec declares the PTP menus. Interfaces come and go (another engine may create them
// later): the periodic pass retries inactive profiles.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "ptp", Menus: []string{pathPTP, pathPort, pathStatus}, Resync: 5 * time.Second}
}

// Start checks the options and registers the engine's command, sources and metrics.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	if err := e.opts.Check(); err != nil {
		return err
	}
	e.ex, e.h, e.life = h.Ex, h, ctx
	e.names, _ = engine.Lookup[*link.Names](h)
	if e.opts.Clock == ClockVirtual {
		e.virtual = clock.NewVirtual(e.opts.VirtualOffset, e.opts.VirtualDrift)
	}
	ex := e.ex
	ex.Handle(pathPTP, "monitor", control.CommandSpec{Positional: []string{"numbers"},
		Flags: []string{"once", "as-value", "without-paging"}, Args: []string{"interval", "do"}}, e.monitor)
	ex.Provide(pathStatus, e.status)
	ex.Provide(pathPTP, e.refresh)
	if h.Metrics != nil {
		if err := h.Metrics.Register(&collector{e}); err != nil {
			return fmt.Errorf("ptp metrics: %w", err)
		}
	}
	return nil
}

// Reconcile starts, restarts and stops instances as the configuration says.
func (e *Engine) Reconcile(context.Context) error {
	return e.apply()
}

// Close stops every instance (their goroutines have ended with the engine's context).
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, in := range e.instances {
		e.stop(id, in)
	}
	if e.steer != nil {
		// The program stays pinned for the next start.
		return errors.Join(e.detachPending(), e.steer.Close())
	}
	return nil
}

// want is the instance one /system ptp item asks for.
type want struct {
	id       uint64
	name     string
	settings node.Settings
	ports    []string
	portIDs  []uint64
	bridged  []bool // per port: a bridge port (its transport and steering differ)
	localPri []uint8
	disabled bool
}

func (w want) key() string {
	s := w.settings
	opt := func(p *uint8) string {
		if p == nil {
			return "auto"
		}
		return strconv.Itoa(int(*p))
	}
	var t, d string
	if s.Transport != nil {
		t = string(*s.Transport)
	}
	if s.Delay != nil {
		d = string(*s.Delay)
	}
	return strings.Join([]string{s.Profile, opt(s.Domain), t, d, strings.Join(w.ports, ","), fmt.Sprint(w.bridged), fmt.Sprint(w.localPri)}, "|")
}

func parseUint8(v string) *uint8 {
	if v == "" || v == "auto" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 255 {
		return nil
	}
	u := uint8(n)
	return &u
}

// profileItem is a /system ptp item, decoded through the menu's schema (engine.Decode).
type profileItem struct {
	Name      string `prop:"name"`
	Profile   string `prop:"profile"`
	Priority1 string `prop:"priority1"` // 0-255 or auto
	Priority2 string `prop:"priority2"`
	Domain    string `prop:"domain"`
	Transport string `prop:"transport"`  // or auto
	DelayMode string `prop:"delay-mode"` // or auto
	Disabled  bool   `prop:"disabled"`
}

// portItem is a /system ptp port item, decoded.
type portItem struct {
	Interface     string `prop:"interface"`
	PTP           string `prop:"ptp"`
	LocalPriority uint8  `prop:"local-priority"`
	Disabled      bool   `prop:"disabled"`
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{pathPTP: profileItem{}, pathPort: portItem{}}
}

// read decodes the profiles and ports; bad says, by item, why one does not decode.
func (e *Engine) read() (ws []want, ports []store.Item, bad map[string]map[uint64]string, err error) {
	profiles, err := e.ex.Items(pathPTP)
	if err != nil {
		return nil, nil, nil, err
	}
	if ports, err = e.ex.Items(pathPort); err != nil {
		return nil, nil, nil, err
	}
	pm, _ := e.ex.Tree.Get(pathPTP)
	qm, _ := e.ex.Tree.Get(pathPort)
	bad = map[string]map[uint64]string{pathPTP: {}, pathPort: {}}
	var decoded []portItem
	var portIDs []uint64
	for _, it := range ports {
		var pi portItem
		if err := engine.Decode(qm, it, &pi); err != nil {
			bad[pathPort][it.ID] = err.Error()
			continue
		}
		decoded = append(decoded, pi)
		portIDs = append(portIDs, it.ID)
	}
	for _, it := range profiles {
		var p profileItem
		if err := engine.Decode(pm, it, &p); err != nil {
			bad[pathPTP][it.ID] = err.Error()
			continue
		}
		w := want{id: it.ID, name: p.Name, disabled: p.Disabled}
		w.settings = node.Settings{Profile: p.Profile, Priority1: parseUint8(p.Priority1),
			Priority2: parseUint8(p.Priority2), Domain: parseUint8(p.Domain)}
		if v := p.Transport; v != "" && v != "auto" {
			m := ts.Mode(v)
			w.settings.Transport = &m
		}
		if v := p.DelayMode; v != "" && v != "auto" {
			d := node.DelayMode(v)
			w.settings.Delay = &d
		}
		for i, pt := range decoded {
			if pt.PTP == w.name && !pt.Disabled {
				kname := e.names.Kernel(pt.Interface)
				w.ports = append(w.ports, kname)
				w.portIDs = append(w.portIDs, portIDs[i])
				// An interface that is not there is no bridge port; the instance's
				// start says it is missing.
				br, _ := e.sys.BridgePort(kname)
				w.bridged = append(w.bridged, br)
				lp := uint8(128)
				if pt.LocalPriority > 0 {
					lp = pt.LocalPriority
				}
				w.localPri = append(w.localPri, lp)
			}
		}
		ws = append(ws, w)
	}
	return ws, ports, bad, nil
}

// apply converges the running instances to the configuration.
func (e *Engine) apply() error {
	ws, ports, bad, err := e.read()
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[uint64]bool{}
	portStatus := map[uint64]string{}
	for id, why := range bad[pathPTP] {
		// Kept running as last applied (when it ran): the store holds what an older
		// routerd wrote, and the item says why it is not applied.
		seen[id] = true
		e.ex.State.Set(pathPTP, id, control.ItemState{Invalid: true, Status: why})
	}
	for _, w := range ws {
		seen[w.id] = true
		in := e.instances[w.id]
		if w.disabled || len(w.ports) == 0 {
			if in != nil {
				e.stop(w.id, in)
			}
			e.ex.State.Set(pathPTP, w.id, control.ItemState{Props: map[string]string{"inactive": "yes"}})
			continue
		}
		prof, err := node.Resolve(w.settings)
		if err != nil {
			e.ex.State.Set(pathPTP, w.id, control.ItemState{Status: err.Error(), Props: map[string]string{"inactive": "yes"}})
			continue
		}
		if in != nil && in.key == w.key() && !in.dead.Load() {
			in.n.SetPriorities(prof.Priority1, prof.Priority2)
			continue
		}
		if in != nil {
			e.stop(w.id, in)
		}
		n, status := e.start(w, prof)
		if n == nil {
			e.ex.State.Set(pathPTP, w.id, control.ItemState{Status: status, Props: map[string]string{"inactive": "yes"}})
			for _, id := range w.portIDs {
				portStatus[id] = status
			}
			continue
		}
		rctx, cancel := context.WithCancel(e.life)
		in = &instance{key: w.key(), name: w.name, n: n, cancel: cancel, done: make(chan struct{})}
		in.steered, status = e.steerPorts(w)
		e.instances[w.id] = in
		// The node parses packets from the network: a panic there is recovered by the
		// host, which marks the items and kicks a pass that starts the instance again.
		e.h.Go(rctx, func(ctx context.Context) {
			defer close(in.done)
			defer in.dead.Store(true)
			n.Run(ctx)
		})
		e.ex.State.Set(pathPTP, w.id, control.ItemState{Status: status})
	}
	for id, in := range e.instances {
		if !seen[id] {
			e.stop(id, in)
			e.ex.State.Clear(pathPTP, id)
		}
	}
	for _, pt := range ports {
		if why := bad[pathPort][pt.ID]; why != "" {
			e.ex.State.Set(pathPort, pt.ID, control.ItemState{Invalid: true, Status: why})
		} else if s := portStatus[pt.ID]; s != "" {
			e.ex.State.Set(pathPort, pt.ID, control.ItemState{Status: s})
		} else {
			e.ex.State.Clear(pathPort, pt.ID)
		}
	}
	return e.detachPending()
}

func (e *Engine) stop(id uint64, in *instance) {
	in.cancel()
	<-in.done
	for name, ifindex := range in.steered {
		e.unsteer[name] = ifindex
	}
	delete(e.instances, id) // its ports are detached at the pass's end (apply) or by Close
}

// detachPending detaches the ports stop left steered (e.mu held); a port that fails
// stays pending, and its error is returned.
func (e *Engine) detachPending() error {
	var errs []error
	for name, ifindex := range e.unsteer {
		if err := e.steer.Detach(ifindex, name); err != nil {
			errs = append(errs, fmt.Errorf("PTP still kept from the bridge on %s: %w", name, err))
			continue
		}
		delete(e.unsteer, name)
	}
	return errors.Join(errs...)
}

// steerPorts attaches ptp/steer to the instance's bridge ports; a non-empty status says
// which could not be steered (their PTP is then bridged as well as terminated).
func (e *Engine) steerPorts(w want) (map[string]int, string) {
	out := map[string]int{}
	var errs []string
	for i, name := range w.ports {
		if !w.bridged[i] {
			continue
		}
		if e.steer == nil && e.steerErr == nil {
			e.steer, e.steerErr = e.sys.OpenSteer(e.opts.BPFFS)
			if e.steerErr != nil {
				e.log.Warn("ptp: steering unavailable; PTP on bridge ports is also bridged", "err", e.steerErr)
			}
		}
		if e.steerErr != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, e.steerErr))
			continue
		}
		ifindex, err := e.sys.IfIndex(name)
		if err == nil {
			err = e.steer.Attach(ifindex, name)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		delete(e.unsteer, name) // steered again: not to be detached
		out[name] = ifindex
	}
	if len(errs) > 0 {
		return out, "PTP is not kept from the bridge on " + strings.Join(errs, "; ")
	}
	return out, ""
}

// steerStats reads the steering counters of every steered port, by item id and port.
func (e *Engine) steerStats() map[uint64]map[string]steer.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[uint64]map[string]steer.Stats{}
	for id, in := range e.instances {
		for name, ifindex := range in.steered {
			st, err := e.steer.Stats(ifindex)
			if err != nil {
				continue
			}
			if out[id] == nil {
				out[id] = map[string]steer.Stats{}
			}
			out[id][name] = st
		}
	}
	return out
}

// start opens an instance; a nil node comes with the reason. A non-empty status with a
// node says what was left out (ports that could not open).
func (e *Engine) start(w want, prof node.Profile) (Node, string) {
	clk, hw, err := e.clockFor(w.ports)
	if err != nil {
		return nil, err.Error()
	}
	n, err := e.sys.NewNode(node.Config{Name: w.name, Profile: prof, Ports: w.ports, LocalPriority: w.localPri, Clock: clk, Hardware: hw, Log: e.log})
	if err != nil {
		e.log.Warn("ptp: instance not started", "ptp", w.name, "err", err)
		return nil, err.Error()
	}
	e.log.Info("ptp: instance started", "ptp", w.name, "profile", prof.Name, "ports", w.ports,
		"clock", clk.Name(), "hardware-timestamps", hw, "transport", prof.Transport, "delay-mode", prof.Delay)
	return n, ""
}

// clockFor chooses the local clock: the virtual one when asked; with auto, the PHC of
// the first port that has one (hardware timestamps), else the system clock.
func (e *Engine) clockFor(ports []string) (clock.Clock, bool, error) {
	switch e.opts.Clock {
	case ClockVirtual:
		return e.virtual, false, nil
	case ClockSystem:
		return clock.System(), false, nil
	}
	for _, p := range ports {
		info, err := e.sys.TSInfo(p)
		if err != nil || !info.Hardware {
			continue
		}
		c, err := e.sys.OpenPHC(info.PHC)
		if err != nil {
			e.log.Warn("ptp: PHC", "port", p, "err", err)
			continue
		}
		return c, true, nil
	}
	return clock.System(), false, nil
}

// snapshots returns the running instances' state by item id.
func (e *Engine) snapshots() map[uint64]node.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[uint64]node.Snapshot, len(e.instances))
	for id, in := range e.instances {
		out[id] = in.n.Snapshot()
	}
	return out
}

// Names of the monitor fields, in the reference's order.
var monitorFields = []string{"name", "clock-id", "priority1", "priority2", "i-am-gm", "gm-clock-id", "gm-priority1",
	"gm-priority2", "master-clock-id", "slave-port", "freq-drift", "offset", "hw-offset", "slave-port-delay",
	"timestamping", "clock"}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// fields renders a snapshot as monitor shows it (units as in the reference).
func fields(s node.Snapshot) map[string]string {
	return map[string]string{
		"name": s.Name, "clock-id": s.ClockID, "priority1": strconv.Itoa(int(s.Priority1)),
		"priority2": strconv.Itoa(int(s.Priority2)), "i-am-gm": yesNo(s.IAmGM), "gm-clock-id": s.GMClockID,
		"gm-priority1": strconv.Itoa(int(s.GMPriority1)), "gm-priority2": strconv.Itoa(int(s.GMPriority2)),
		"master-clock-id": s.MasterClockID, "slave-port": s.SlavePort,
		"freq-drift": fmt.Sprintf("%d ppb", s.FreqDrift), "offset": fmt.Sprintf("%d ns", s.Offset),
		"hw-offset": fmt.Sprintf("%d ns", s.HWOffset), "slave-port-delay": fmt.Sprintf("%d ns", s.SlavePortDelay),
		"timestamping": s.Timestamping, "clock": s.Clock,
	}
}

// refresh copies the instances' state into the items' read-only properties, so that get
// and API print with proplist can read them.
func (e *Engine) refresh(context.Context, *control.Session) ([]control.Row, error) {
	for id, s := range e.snapshots() {
		st, _ := e.ex.State.Get(pathPTP, id)
		props := map[string]string{}
		for k, v := range fields(s) {
			if k != "name" {
				props[k] = strings.TrimSuffix(strings.TrimSuffix(v, " ppb"), " ns")
			}
		}
		st.Props = props
		e.ex.State.Set(pathPTP, id, st)
	}
	return nil, nil
}

// monitor prints the instance's state: one sample with `once` or without a terminal or
// stream, else a sample every interval on the console's terminal, or as a row to the
// API's or REST's stream (Sentence.Emit), until ctx ends.
func (e *Engine) monitor(ctx context.Context, c *control.Call) (*control.Reply, error) {
	ref, _ := c.S.Get("numbers")
	if ref == "" {
		return nil, &control.Error{Msg: "expected item id", Category: control.CatMissing}
	}
	if c.S.Has("do") {
		return nil, control.Failure("do= is not supported by /system ptp monitor")
	}
	every := time.Second
	if v, ok := c.S.Get("interval"); ok {
		d, err := value.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, control.ArgError("invalid value for argument interval: %s", v)
		}
		every = d
	}
	rep, err := e.ex.Exec(ctx, c.Sess, &control.Sentence{Path: pathPTP, Cmd: "get", Args: []control.Arg{{Name: "number", Value: ref}}})
	if err != nil {
		return nil, err
	}
	if len(rep.Rows) != 1 {
		return nil, control.ErrNoSuchItem
	}
	id := rep.Rows[0].ID
	out, err := e.sample(id)
	if err != nil {
		return nil, err
	}
	if (c.S.Out == nil && c.S.Emit == nil) || c.S.Bool("once") {
		out.Menu = c.Menu
		return out, nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if c.S.Out != nil {
			if _, err := io.WriteString(c.S.Out, out.Text+"\n"); err != nil {
				return nil, err
			}
		} else {
			// The API and REST: a row per sample.
			out.Menu = c.Menu
			if err := c.S.Emit(out); err != nil {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			return &control.Reply{Menu: c.Menu}, nil
		case <-t.C:
		}
		if out, err = e.sample(id); err != nil {
			return nil, err
		}
	}
}

// sample renders one monitor sample of the instance of item id.
func (e *Engine) sample(id uint64) (*control.Reply, error) {
	s, ok := e.snapshots()[id]
	if !ok {
		reason := "profile is not running"
		if st, ok := e.ex.State.Get(pathPTP, id); ok && st.Status != "" {
			reason = st.Status
		}
		return nil, control.Failure("%s", reason)
	}
	f := fields(s)
	width := 0
	for _, k := range monitorFields {
		width = max(width, len(k))
	}
	var b strings.Builder
	for _, k := range monitorFields {
		fmt.Fprintf(&b, "%*s: %s\n", width+2, k, f[k])
	}
	out := control.Row{ID: id, Props: f, Keys: slices.Clone(monitorFields)}
	return &control.Reply{Rows: []control.Row{out}, Text: b.String()}, nil
}

func (e *Engine) status(context.Context, *control.Session) ([]control.Row, error) {
	snaps := e.snapshots()
	steered := e.steerStats()
	ids := make([]uint64, 0, len(snaps))
	for id := range snaps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var rows []control.Row
	for _, id := range ids {
		s := snaps[id]
		for _, p := range s.Ports {
			props := map[string]string{"ptp": s.Name, "interface": e.names.RouterOS(p.Interface), "state": p.State,
				"delay": strconv.FormatInt(p.Delay, 10)}
			if p.Gptp {
				props["as-capable"] = yesNo(p.AsCapable)
				props["neighbor-rate-ratio"] = strconv.FormatFloat(p.NeighborRateRatio, 'f', 9, 64)
			}
			if st, ok := steered[id][p.Interface]; ok {
				props["steered-event"] = strconv.FormatUint(st.Event, 10)
				props["steered-general"] = strconv.FormatUint(st.General, 10)
			}
			rows = append(rows, control.Row{ID: uint64(len(rows) + 1), Props: props})
		}
	}
	return rows, nil
}
