package radius

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	rad "github.com/routerd/routerd/radius"
)

// Menu paths this engine applies.
const (
	Path         = menu.RadiusPath
	IncomingPath = menu.RadiusIncomingPath
)

// serverItem is one /radius entry as decoded.
type serverItem struct {
	AcctBackup bool          `prop:"accounting-backup"`
	AcctPort   uint16        `prop:"accounting-port"`
	Address    netip.Addr    `prop:"address"`
	AuthPort   uint16        `prop:"authentication-port"`
	CalledID   string        `prop:"called-id"`
	Disabled   bool          `prop:"disabled"`
	Domain     string        `prop:"domain"`
	Protocol   string        `prop:"protocol"`
	Realm      string        `prop:"realm"`
	RequireMA  string        `prop:"require-message-auth"`
	Secret     string        `prop:"secret"`
	Service    []string      `prop:"service"`
	Src        netip.Addr    `prop:"src-address"`
	Timeout    time.Duration `prop:"timeout"`
}

// Engine applies /radius.
type Engine struct {
	ex     *control.Executor
	client *rad.Client

	mu      sync.Mutex
	applied map[uint64]serverItem
	order   []uint64
	invalid map[uint64]string
}

// New returns the /radius engine; its client is offered to later engines as *radius.Client.
func New() *Engine {
	return &Engine{client: rad.NewClient(slog.Default().With("topic", "radius")), applied: map[uint64]serverItem{}, invalid: map[uint64]string{}}
}

// Client is the RADIUS client the engine configures.
func (e *Engine) Client() *rad.Client { return e.client }

// Spec declares the menus.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "radius", Menus: []string{Path, IncomingPath}}
}

// TypedItems names the struct /radius items decode into.
func (e *Engine) TypedItems() map[string]any { return map[string]any{Path: serverItem{}} }

// Start offers the client.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex = h.Ex
	engine.Offer(h, e.client)
	e.client.Notify = e.publish
	return nil
}

// Reconcile hands the client the enabled servers when they changed, and shows counters.
func (e *Engine) Reconcile(ctx context.Context) error {
	items, err := e.ex.Items(Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", Path, err)
	}
	m, _ := e.ex.Tree.Get(Path)
	want := map[uint64]serverItem{}
	var order []uint64
	invalid := map[uint64]string{}
	var servers []rad.Server
	for _, it := range items {
		var si serverItem
		if err := engine.Decode(m, it, &si); err != nil {
			invalid[it.ID] = err.Error()
			continue
		}
		order = append(order, it.ID)
		want[it.ID] = si
		switch {
		case si.Disabled:
			continue
		case si.Protocol == "radsec":
			invalid[it.ID] = "protocol=radsec is not implemented; use udp"
			continue
		case si.Secret == "":
			invalid[it.ID] = "no secret"
			continue
		}
		s := rad.DefaultServer()
		s.ID, s.Addr, s.AuthPort, s.AcctPort = it.ID, si.Address, si.AuthPort, si.AcctPort
		s.Secret, s.Timeout, s.Src, s.Services = []byte(si.Secret), si.Timeout, si.Src, si.Service
		s.Realm, s.CalledID, s.AcctBackup = si.Realm, si.CalledID, si.AcctBackup
		s.RequireMessageAuth = si.RequireMA != "no"
		if si.Src.IsValid() && !si.Src.IsUnspecified() && si.Src.Is4() != si.Address.Is4() {
			invalid[it.ID] = "src-address and address are of different families"
			continue
		}
		servers = append(servers, s)
	}
	e.mu.Lock()
	changed := !slices.Equal(order, e.order) || !reflect.DeepEqual(want, e.applied)
	e.applied, e.order, e.invalid = want, order, invalid
	e.mu.Unlock()
	if changed {
		e.client.SetServers(servers)
	}
	for _, id := range order {
		e.publish(id)
	}
	for id, why := range invalid {
		if !slices.Contains(order, id) {
			e.ex.State.Set(Path, id, control.ItemState{Invalid: true, Status: why})
		}
	}
	return nil
}

// publish writes one server's counters and status.
func (e *Engine) publish(id uint64) {
	e.mu.Lock()
	why, bad := e.invalid[id]
	e.mu.Unlock()
	st := control.ItemState{Invalid: bad, Status: why, Props: map[string]string{}}
	if k := e.client.Counters(id); k != nil {
		for name, v := range map[string]int64{
			"requests": k.Requests.Load(), "accepts": k.Accepts.Load(), "rejects": k.Rejects.Load(),
			"challenges": k.Challenges.Load(), "resends": k.Resends.Load(), "timeouts": k.Timeouts.Load(),
			"bad-replies": k.BadReplies.Load(), "acct-requests": k.AcctRequests.Load(), "acct-responses": k.AcctResponses.Load(),
		} {
			st.Props[name] = strconv.FormatInt(v, 10)
		}
	}
	e.ex.State.Set(Path, id, st)
}
