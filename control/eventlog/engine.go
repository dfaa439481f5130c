package eventlog

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/menu"
)

// Menu paths the logging engine applies.
const (
	RulesPath    = menu.LoggingPath
	ActionsPath  = menu.LoggingActionPath
	identityPath = IdentityPath
)

// IdentityPath is /system/identity: its name prefixes remote log lines.
const IdentityPath = menu.IdentityPath

// ruleItem is one /system logging item as the engine applies it.
type ruleItem struct {
	Topics   string `prop:"topics"`
	Action   string `prop:"action"`
	Prefix   string `prop:"prefix"`
	Regex    string `prop:"regex"`
	Disabled bool   `prop:"disabled"`
}

// actionItem is one /system logging action item as the engine applies it.
type actionItem struct {
	Name             string     `prop:"name"`
	Target           string     `prop:"target"`
	MemoryLines      int        `prop:"memory-lines"`
	MemoryStopOnFull bool       `prop:"memory-stop-on-full"`
	DiskFileName     string     `prop:"disk-file-name"`
	DiskLines        int        `prop:"disk-lines-per-file"`
	DiskCount        int        `prop:"disk-file-count"`
	DiskStopOnFull   bool       `prop:"disk-stop-on-full"`
	Remote           string     `prop:"remote"` // an address or a host name
	RemotePort       uint16     `prop:"remote-port"`
	Src              netip.Addr `prop:"src-address"`
	Protocol         string     `prop:"remote-protocol"`
	Format           string     `prop:"remote-log-format"`
	CEFDelim         string     `prop:"cef-event-delimiter"`
	BSD              bool       `prop:"bsd-syslog"`
	Facility         string     `prop:"syslog-facility"`
	Severity         string     `prop:"syslog-severity"`
	TimeFormat       string     `prop:"syslog-time-format"`
}

// TypedItems are the structs the engine decodes each menu into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{RulesPath: ruleItem{}, ActionsPath: actionItem{}}
}

// facilities are syslog's facility numbers by name.
var facilities = map[string]int{"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17,
	"local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}

// Engine applies /system logging and its actions to a Buffer: which entries reach /log,
// the disk files, routerd's standard error and a remote syslog server.
type Engine struct {
	buf     *Buffer
	dataDir string
	ex      *control.Executor
	eh      *engine.Handle
	ctx     context.Context
	hosts   *hostname.Resolver // remote= host names

	mu      sync.Mutex
	applied *Config
	errs    map[string]error
}

// NewEngine returns the logging engine of buf; disk actions write under dataDir/files.
func NewEngine(buf *Buffer, dataDir string) *Engine {
	if buf == nil {
		buf = New(0)
	}
	return &Engine{buf: buf, dataDir: dataDir}
}

// Spec declares the menus the engine applies; the identity names bsd-syslog's host.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "logging", Menus: []string{RulesPath, ActionsPath}, Watch: []string{identityPath}}
}

// Start keeps the executor, and has a pass run when what remote= names resolve to may
// have changed (/ip dns, a record's TTL).
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.eh, e.ctx = h.Ex, h, ctx
	e.hosts = hostname.Of(h)
	e.hosts.OnChange(h.Kick)
	return nil
}

// Reconcile decodes the rules and actions and hands the buffer a new routing when they
// changed; an action that cannot work (disk file, remote address) prints invalid.
func (e *Engine) Reconcile(ctx context.Context) error {
	am, _ := e.ex.Tree.Get(ActionsPath)
	rm, _ := e.ex.Tree.Get(RulesPath)
	actions, err := e.ex.Items(ActionsPath)
	if err != nil {
		return fmt.Errorf("read actions: %w", err)
	}
	rules, err := e.ex.Items(RulesPath)
	if err != nil {
		return fmt.Errorf("read rules: %w", err)
	}
	c := Config{}
	if ids, err := e.ex.Items(identityPath); err == nil && len(ids) > 0 {
		c.Host = ids[0].Props["name"]
	}
	// Actions and rules are numbered apart (both from *1): each has its own map, or an
	// action's failure shows on the rule that has its id. A rule whose action fails
	// stays valid, as in RouterOS: the action says why (a rule cannot mend it).
	invalid, ruleInvalid := map[uint64]string{}, map[uint64]string{}
	shown := map[uint64]map[string]string{} // actual-remote of the actions whose remote is a name
	actionIDs := map[string]uint64{}
	for _, it := range actions {
		var a actionItem
		if err := engine.Decode(am, it, &a); err != nil {
			invalid[it.ID] = err.Error()
			continue
		}
		actionIDs[a.Name] = it.ID
		remote, err := e.remoteAddr(ctx, a)
		if err != nil {
			invalid[it.ID] = err.Error()
			continue
		}
		if _, notAddr := netip.ParseAddr(a.Remote); notAddr != nil && remote.IsValid() {
			shown[it.ID] = map[string]string{"actual-remote": remote.String()}
		}
		act := Action{Name: a.Name, Target: a.Target, MemoryLines: a.MemoryLines, MemoryStopOnFull: a.MemoryStopOnFull,
			DiskLines: a.DiskLines, DiskCount: a.DiskCount, DiskStopOnFull: a.DiskStopOnFull,
			Remote: netip.AddrPortFrom(remote, a.RemotePort), Src: a.Src, BSD: a.BSD,
			TCP: a.Protocol == "tcp", Format: a.Format, CEFDelim: a.CEFDelim,
			Facility: facilities[a.Facility], Severity: a.Severity, TimeFormat: a.TimeFormat}
		if a.Target == "disk" {
			p, err := diskPath(e.dataDir, a.DiskFileName)
			if err != nil {
				invalid[it.ID] = err.Error()
				continue
			}
			act.DiskFile = p
		}
		if a.Target == "email" {
			// Kept and exported as RouterOS writes it; shown invalid rather than dropped.
			invalid[it.ID] = "target=email: " + menu.EmailActionNoEffect
			continue
		}
		if a.Target == "remote" && (!remote.IsValid() || remote.IsUnspecified()) {
			// RouterOS's default remote action has no server; rules naming it log nowhere.
			continue
		}
		c.Actions = append(c.Actions, act)
	}
	for _, it := range rules {
		var r ruleItem
		if err := engine.Decode(rm, it, &r); err != nil {
			ruleInvalid[it.ID] = err.Error()
			continue
		}
		if r.Disabled {
			continue
		}
		rule := ParseRule(r.Topics, r.Action, r.Prefix)
		if err := rule.SetRegex(r.Regex); err != nil {
			ruleInvalid[it.ID] = err.Error()
			continue
		}
		rule.Re = nil // compiled by SetConfig; the string is what is compared
		c.Rules = append(c.Rules, rule)
	}
	e.mu.Lock()
	changed := e.applied == nil || !reflect.DeepEqual(*e.applied, c)
	if changed {
		e.applied = &c
		run := c
		run.Go = func(fn func(context.Context)) { e.eh.Go(e.ctx, fn) }
		e.errs = e.buf.SetConfig(run)
	}
	errs := e.errs
	e.mu.Unlock()
	for name, err := range errs {
		if id, ok := actionIDs[name]; ok {
			invalid[id] = err.Error()
		}
	}
	for _, it := range actions {
		e.publish(ActionsPath, it.ID, invalid[it.ID], shown[it.ID])
	}
	for _, it := range rules {
		e.publish(RulesPath, it.ID, ruleInvalid[it.ID], nil)
	}
	return nil
}

func (e *Engine) publish(path string, id uint64, why string, props map[string]string) {
	st := control.ItemState{Props: props}
	if why != "" {
		st.Invalid, st.Status = true, why
	}
	e.ex.State.Set(path, id, st)
}

// remoteAddr is the syslog server of a remote action: its remote= address, or the
// address its host name resolves to through /ip dns (RouterOS 7 exports write names
// there), of src-address's family when one is set, else IPv4 before IPv6. The resolver
// keeps the last answer through a DNS outage; a name that never resolved is an error.
func (e *Engine) remoteAddr(ctx context.Context, a actionItem) (netip.Addr, error) {
	if a.Target != "remote" {
		return netip.Addr{}, nil
	}
	if a.Remote == "" {
		return netip.IPv4Unspecified(), nil
	}
	if addr, err := netip.ParseAddr(a.Remote); err == nil {
		return addr, nil
	}
	addrs, err := e.hosts.Lookup(ctx, "ip", a.Remote)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve remote %s: %w", a.Remote, err)
	}
	want6 := a.Src.IsValid() && !a.Src.IsUnspecified() && a.Src.Is6()
	want4 := a.Src.IsValid() && !a.Src.IsUnspecified() && a.Src.Is4()
	for _, six := range []bool{false, true} {
		if (six && want4) || (!six && want6) {
			continue
		}
		for _, addr := range addrs {
			if addr.Is6() == six {
				return addr, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("cannot resolve remote %s: no address of src-address %s's family", a.Remote, a.Src)
}

// diskPath is where a disk action's files go: inside the file store, never outside it.
func diskPath(dataDir, name string) (string, error) {
	if name == "" {
		name = "log"
	}
	clean := filepath.Clean("/" + name)
	if clean == "/" || strings.HasSuffix(name, "/") {
		return "", fmt.Errorf("disk-file-name %q names no file", name)
	}
	return filepath.Join(dataDir, "files", clean), nil
}
