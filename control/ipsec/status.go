package ipsec

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
)

// registerChecks refuses, at add and set, algorithms the build cannot provide.
func (e *Engine) registerChecks() {
	e.wrap(ProfilePath, checkProfile)
	e.wrap(ProposalPath, checkProposal)
	e.wrap(PolicyPath, checkPolicy)
}

// The check sees only values the menu's types take: a value that names no algorithm
// at all is left to the generic command, which refuses it as RouterOS does ("input
// does not match any value of pfs-group"); "not supported by this build" is for the
// real algorithms the build lacks.
func (e *Engine) wrap(path string, check func(map[string]string) error) {
	m, _ := e.ex.Tree.Get(path)
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := e.ex.Generic(path, cmd)
		if !ok {
			continue
		}
		e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			props := map[string]string{}
			for _, a := range c.S.Args {
				if a.Flag || a.Unset {
					continue
				}
				if p, ok := m.Prop(a.Name); ok {
					if _, err := p.Type.Parse(a.Value); err != nil {
						return fn(ctx, c)
					}
				}
				props[a.Name] = a.Value
			}
			if err := check(props); err != nil {
				return nil, control.ArgError("%v", err)
			}
			return fn(ctx, c)
		})
	}
}

func (e *Engine) registerStatus() {
	e.ex.Provide(ActivePeersPath, e.activePeers)
	e.ex.Provide(InstalledSAPath, e.installedSA)
	e.ex.Provide(StatisticsPath, e.statistics)
	e.ex.Provide(PolicyPath, e.dynamicPolicies)
	e.ex.Provide(PeerPath, func(context.Context, *control.Session) ([]control.Row, error) {
		return e.tunnelRows(PeerPath), nil
	})
	e.ex.Provide(IdentityPath, func(context.Context, *control.Session) ([]control.Row, error) {
		return e.tunnelRows(IdentityPath), nil
	})
	// peer= may name a tunnel's dynamic peer; the write that checks it asks here, from
	// what the last pass published, instead of building the rows inside its transaction.
	e.ex.ProvideNames(PeerPath, e.hasTunnelPeer)
	e.ex.Handle(ActivePeersPath, "kill-connections", control.CommandSpec{},
		func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			n := e.d.Kill(noAddr)
			e.log.Info("ipsec: killed connections", "count", n)
			return &control.Reply{}, nil
		})
	// flush sa-type=all|ah|esp (RouterOS's default all). Every SA here is ESP: AH is
	// refused at policy add (ipsec-protocols=ah), so sa-type=ah finds nothing to remove.
	e.ex.Handle(InstalledSAPath, "flush", control.CommandSpec{Args: []string{"sa-type"}},
		func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			typ, ok := c.S.Get("sa-type")
			if !ok {
				typ = "all"
			}
			switch typ {
			case "all", "esp":
				e.d.FlushChildren()
			case "ah":
			default:
				return nil, control.ArgError("input does not match any value of sa-type")
			}
			return &control.Reply{}, nil
		})
}

// hasTunnelPeer reports whether a tunnel's ipsec-secret made a dynamic peer named name.
func (e *Engine) hasTunnelPeer(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tp := range e.tunnels {
		if tp.peer.Name == name {
			return true
		}
	}
	return false
}

func dur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return value.FormatDuration(d.Truncate(time.Second))
}

func (e *Engine) activePeers(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := e.ex.Tree.Get(ActivePeersPath)
	now := time.Now()
	var rows []control.Row
	for i, s := range e.d.Snapshot() {
		if s.State == "expired" {
			continue // an IKEv1 Phase 1 gone, only its IPsec SAs left (installed-sa)
		}
		flags := ""
		if !s.Initiator {
			flags += "R"
		}
		if s.NATT {
			flags += "N"
		}
		p := map[string]string{
			"remote-address": s.Remote.Addr().String(), "local-address": s.Local.Addr().String(),
			"port":  strconv.Itoa(int(s.Remote.Port())),
			"state": s.State, "side": "initiator", "ph2-total": strconv.Itoa(len(s.Children)),
			"rx-bytes": strconv.FormatUint(s.RxBytes, 10), "tx-bytes": strconv.FormatUint(s.TxBytes, 10),
			"rx-packets": strconv.FormatUint(s.RxPackets, 10), "tx-packets": strconv.FormatUint(s.TxPackets, 10),
			"last-seen": dur(now.Sub(s.LastSeen)), "id": s.RemoteID,
		}
		if !s.Initiator {
			p["side"] = "responder"
		}
		if s.VirtualIP.IsValid() {
			p["dynamic-address"] = s.VirtualIP.String()
		}
		if !s.Established.IsZero() {
			p["uptime"] = dur(now.Sub(s.Established))
		}
		rows = append(rows, control.Row{ID: uint64(i + 1), Menu: m, Props: p, Flags: flags})
	}
	return rows, nil
}

func (e *Engine) installedSA(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := e.ex.Tree.Get(InstalledSAPath)
	dp := e.Datapath()
	now := time.Now()
	var rows []control.Row
	both := []esp.Direction{esp.DirIn, esp.DirOut}
	for _, s := range e.d.Snapshot() {
		for i := range s.Children {
			rows = appendSARows(rows, m, dp, now, &s.Children[i], both, false)
		}
	}
	// A CHILD SA IKE deleted but the data path refused to remove is still installed,
	// tried again on every IKE tick: it shows as the reference's dead SA until it goes.
	for _, u := range e.d.Unremoved() {
		dirs := both
		if u.OutboundOnly {
			dirs = []esp.Direction{esp.DirOut}
		}
		rows = appendSARows(rows, m, dp, now, &u.ChildSA, dirs, true)
	}
	return rows, nil
}

// appendSARows appends installed-sa's rows of c, one per direction in dirs (row ids
// count on from the rows before). A dead SA (deleted by IKE, its removal refused) has
// state dead and no expires-in.
func appendSARows(rows []control.Row, m *menu.Menu, dp esp.Datapath, now time.Time, c *ike.ChildSA, dirs []esp.Direction, dead bool) []control.Row {
	for _, dir := range dirs {
		spi, src, dst := c.InSPI, c.Remote.Addr(), c.Local.Addr()
		if dir == esp.DirOut {
			spi, src, dst = c.OutSPI, c.Local.Addr(), c.Remote.Addr()
		}
		enc := encAlg(c.Suite)
		family := enc
		if i := strings.LastIndexByte(enc, '-'); i > 0 && strings.HasPrefix(enc, "aes-") {
			family = "aes-" + enc[i+1:]
		}
		auth := authAlg(c.Suite)
		if auth == "" {
			auth = "null"
		}
		age := now.Sub(c.Added)
		state := "mature"
		if c.Soft > 0 && age >= c.Soft {
			state = "dying"
		}
		p := map[string]string{
			"spi": fmt.Sprintf("0x%X", spi), "src-address": src.String(), "dst-address": dst.String(),
			"state": state, "auth-algorithm": auth, "enc-algorithm": family,
			"enc-key-size": strconv.Itoa(c.Suite.KeyBits), "add-lifetime": dur(c.Soft) + "/" + dur(c.Lifetime),
			"addtime": c.Added.Format("2006-01-02 15:04:05"), "replay": strconv.Itoa(esp.DefaultReplayWindow),
		}
		// Shown only to print show-sensitive (the menu marks them sensitive).
		if dir == esp.DirOut {
			p["enc-key"], p["auth-key"] = hex.EncodeToString(c.OutEncKey), hex.EncodeToString(c.OutIntegKey)
		} else {
			p["enc-key"], p["auth-key"] = hex.EncodeToString(c.InEncKey), hex.EncodeToString(c.InIntegKey)
		}
		if c.Suite.KeyBits == 0 {
			p["enc-key-size"] = strconv.Itoa(8 * (c.Suite.EncrKeyLen() - c.Suite.Encr.Salt))
		}
		if c.Lifetime > 0 && !dead {
			p["expires-in"] = dur(c.Soft - age)
		}
		if dp != nil {
			p["datapath"] = string(dp.Kind())
			if ct, err := dp.Counters(esp.Key{SPI: spi, Dst: dst}); err == nil {
				p["current-bytes"] = strconv.FormatUint(ct.Bytes, 10)
				if ct.State != "" {
					p["state"] = ct.State
				}
				if ct.ReceivePath != "" {
					p["datapath-receive"] = ct.ReceivePath
				}
			}
		}
		if dead {
			p["state"] = "dead"
		}
		rows = append(rows, control.Row{ID: uint64(len(rows) + 1), Menu: m, Props: p, Flags: "E"})
	}
	return rows
}

// dynamicPolicies lists the policies generated from templates (flags D and A).
func (e *Engine) dynamicPolicies(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	rows := e.tunnelRows(PolicyPath)
	n := uint64(1) << 40
	// A generated policy shows its template's proposal, as RouterOS prints it.
	proposal, level := map[uint64]string{}, map[uint64]string{}
	if its, _, err := e.items(PolicyPath); err == nil {
		for _, it := range its {
			proposal[it.ID], level[it.ID] = it.Props["proposal"], it.Props["level"]
		}
	}
	for _, s := range e.d.Snapshot() {
		for _, c := range s.Children {
			if !c.Policy.Dynamic {
				continue
			}
			tunnel := "yes"
			if !c.Tunnel {
				tunnel = "no"
			}
			for _, pr := range tsPairs(&c) {
				n++
				p := map[string]string{
					"src-address": pr.local.String(), "dst-address": pr.remote.String(),
					"src-port": selPort(pr.lsel), "dst-port": selPort(pr.rsel), "protocol": "all",
					"action": "encrypt", "level": "unique", "ipsec-protocols": "esp", "tunnel": tunnel,
					"sa-src-address": c.Local.Addr().String(), "sa-dst-address": c.Remote.Addr().String(),
					"ph2-count": "1", "ph2-state": "established",
					// The template's proposal ("default" for the default template).
					"proposal": "default",
				}
				if v := proposal[c.Policy.ID]; v != "" {
					p["proposal"] = v
				}
				// As the reference prints them: unique in tunnel mode (its road warrior
				// client, and the GRE-over-IPsec site answering by template), require in
				// transport mode (its L2TP server); a template's own level other than the
				// default require is kept.
				if !s.Received {
					if tunnel == "no" {
						p["level"] = "require"
					}
					if v := level[c.Policy.ID]; v != "" && v != "require" {
						p["level"] = v
					}
				}
				if pr.proto != 0 {
					p["protocol"] = protoName(pr.proto)
				}
				rows = append(rows, control.Row{ID: n, Props: p, Flags: e.policyFlags(uint64(generatedID(c.ReqID)), true, p), After: c.Policy.ID})
			}
		}
	}
	return rows, nil
}

func selPort(s ike.Selector) string {
	if s.StartPort == 0 && s.EndPort == 65535 {
		return "any"
	}
	return strconv.Itoa(int(s.StartPort))
}

func (e *Engine) statistics(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := e.ex.Tree.Get(StatisticsPath)
	dp := e.Datapath()
	p := map[string]string{}
	if dp != nil {
		p["datapath"] = string(dp.Kind())
		p["datapath-status"] = "ok"
		if err := e.datapathHealth(); err != nil {
			p["datapath-status"] = err.Error()
		}
		if r, ok := dp.(interface {
			ReceivePath() string
			SteeredPackets() (uint64, uint64)
		}); ok {
			p["datapath-receive"] = r.ReceivePath()
			pkts, dgrams := r.SteeredPackets()
			p["receive-steered-packets"] = strconv.FormatUint(pkts, 10)
			p["receive-steered-reads"] = strconv.FormatUint(dgrams, 10)
		}
	}
	for _, f := range e.statFields() {
		p[f.name] = strconv.FormatUint(f.v, 10)
	}
	return []control.Row{{ID: 1, Menu: m, Props: p}}, nil
}

type statField struct {
	name string
	v    uint64
}

// statFields are the reference's statistics counters: the data path's ESP counters plus
// the IKE messages dropped for the same reasons (a malformed message is a header error,
// one whose encrypted payload does not verify a protocol error, a replayed or stale
// message ID a sequence error). An IKE message for an unknown IKE SPI is in in-errors,
// not in-no-states: the reference's counters are the XFRM ones, with no IKE name, and
// in-no-states says an ESP packet met no SA (its SPI, address or protocol), which is
// what an operator reads it for; in-errors is the reference's catch-all for inbound
// errors no other counter matches.
func (e *Engine) statFields() []statField {
	var st esp.Statistics
	if dp := e.Datapath(); dp != nil {
		st = dp.Statistics()
	}
	ds := &e.d.Stats
	bad := ds.BadIntegrity.Load()
	ike := map[string]uint64{
		"in-header-errors":         ds.Malformed.Load() - bad,
		"in-state-protocol-errors": bad,
		"in-errors":                ds.NoSA.Load(),
		"in-state-sequence-errors": ds.ReplayedOrStale.Load(),
	}
	var out []statField
	for _, f := range esp.StatisticsFields(st) {
		name := f[0].(string)
		out = append(out, statField{name, f[1].(uint64) + ike[name]})
	}
	return out
}

var noAddr = ike.SAStatus{}.Remote.Addr()

// metrics exports IKE and ESP state to Prometheus.
type metrics struct{ e *Engine }

func newMetrics(e *Engine, reg prometheus.Registerer) *metrics {
	m := &metrics{e: e}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

var (
	descIKE       = prometheus.NewDesc("routerd_ipsec_ike_sas", "IKE SAs by state.", []string{"state"}, nil)
	descChild     = prometheus.NewDesc("routerd_ipsec_child_sas", "Installed CHILD SA pairs.", nil, nil)
	descUnremoved = prometheus.NewDesc("routerd_ipsec_unremoved_sas", "CHILD SA removals the data path refused, tried again until they succeed.", nil, nil)
	descIKECount  = prometheus.NewDesc("routerd_ipsec_ike_events_total", "IKE daemon events: rekeys, DPD failures, authentication failures, malformed messages...", []string{"event"}, nil)
	descStat      = prometheus.NewDesc("routerd_ipsec_statistics_total", "The /ip ipsec statistics counters.", []string{"name"}, nil)
	descESPBytes  = prometheus.NewDesc("routerd_ipsec_esp_bytes_total", "ESP bytes (inner packets) through the SAs by direction, removed SAs included.", []string{"dir"}, nil)
	descESPPkts   = prometheus.NewDesc("routerd_ipsec_esp_packets_total", "ESP packets through the SAs by direction, removed SAs included.", []string{"dir"}, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIKE, descChild, descUnremoved, descIKECount, descStat, descESPBytes, descESPPkts} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	e := m.e
	dp := e.Datapath()
	states := map[string]int{"established": 0, "half-open": 0, "message-1-sent": 0, "auth-sent": 0, "deleting": 0}
	children := 0
	var seen []espSeen
	for _, s := range e.d.Snapshot() {
		states[s.State]++
		children += len(s.Children)
		if dp != nil {
			for _, c := range s.Children {
				for _, k := range []espSeen{{esp.Key{SPI: c.InSPI, Dst: c.Local.Addr()}, esp.DirIn, esp.SACounters{}},
					{esp.Key{SPI: c.OutSPI, Dst: c.Remote.Addr()}, esp.DirOut, esp.SACounters{}}} {
					if ct, err := dp.Counters(k.key); err == nil {
						k.c = ct
						seen = append(seen, k)
					}
				}
			}
		}
	}
	tot := e.espTot.totals(seen)
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descIKE, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(descChild, prometheus.GaugeValue, float64(children))
	unremoved, _ := e.d.UnremovedSAs()
	ch <- prometheus.MustNewConstMetric(descUnremoved, prometheus.GaugeValue, float64(unremoved))
	for i, dir := range []string{"in", "out"} {
		ch <- prometheus.MustNewConstMetric(descESPBytes, prometheus.CounterValue, float64(tot[i].bytes), dir)
		ch <- prometheus.MustNewConstMetric(descESPPkts, prometheus.CounterValue, float64(tot[i].packets), dir)
	}
	st := &e.d.Stats
	for name, v := range map[string]uint64{
		"ike-rekey": st.IKERekeys.Load(), "child-rekey": st.ChildRekeys.Load(), "dpd-failure": st.DPDFailures.Load(),
		"auth-failed": st.AuthFailed.Load(), "malformed": st.Malformed.Load(), "no-proposal": st.NoProposal.Load(),
		"retransmit": st.Retransmits.Load(), "cookie-sent": st.CookiesSent.Load(), "ike-established": st.IKEEstablished.Load(),
		"child-established": st.ChildEstablished.Load(), "rx-packets": st.RxPackets.Load(), "tx-packets": st.TxPackets.Load(),
		"unknown-spi": st.NoSA.Load(), "unauth-reply-paced": st.RepliesPaced.Load(),
		"child-remove-refused": st.RemoveRefused.Load(), "child-install-refused": st.InstallRefused.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descIKECount, prometheus.CounterValue, float64(v), name)
	}
	for _, f := range e.statFields() {
		ch <- prometheus.MustNewConstMetric(descStat, prometheus.CounterValue, float64(f.v), f.name)
	}
}
