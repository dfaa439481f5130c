package queue

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control/value"
)

// unlimited is the rate of "0" (no limit): 10 Gbit/s, above what one veth carries.
const unlimited = 10_000_000_000

// dirSpec is one direction of a queue.
type dirSpec struct {
	Rate, Ceil     uint64 // bits/s: limit-at (or ceil), max-limit (or unlimited)
	BurstLimit     uint64
	BurstThreshold uint64
	BurstTime      time.Duration
	Prio           uint32
	Leaf           leafSpec
}

// leafSpec is a queue type's qdisc.
type leafSpec struct {
	Kind  string // pfifo, bfifo, sfq, red, none
	Limit uint32 // packets (pfifo, red) or bytes (bfifo)
	// sfq and red parameters
	Perturb, Allot                      uint32
	RedMin, RedMax, RedBurst, RedAvgPkt uint32
}

// Spec is one simple queue, decoded.
type Spec struct {
	ID       uint64
	Name     string
	Parent   string
	Ifaces   []string       // interfaces named by target= or interface=
	Targets  []netip.Prefix // clients
	Dst      netip.Prefix   // optional
	DstIface string
	Up, Down dirSpec
	Marks    []string
	Window   *window
	Disabled bool
}

// window is time=: active from Start to End (time of day) on Days.
type window struct {
	Start, End time.Duration
	Days       map[time.Weekday]bool
}

func (w *window) active(now time.Time) bool {
	if w == nil {
		return true
	}
	if len(w.Days) > 0 && !w.Days[now.Weekday()] {
		return false
	}
	tod := time.Duration(now.Hour())*time.Hour + time.Duration(now.Minute())*time.Minute + time.Duration(now.Second())*time.Second
	if w.Start <= w.End {
		return tod >= w.Start && tod < w.End
	}
	return tod >= w.Start || tod < w.End
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parseWindow reads time=: "8h-17h,mon,tue" or "08:00:00-17:00:00,sat,sun".
func parseWindow(s string) (*window, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	from, to, ok := strings.Cut(parts[0], "-")
	if !ok {
		return nil, fmt.Errorf("time: expected start-end,days")
	}
	w := &window{Days: map[time.Weekday]bool{}}
	var err error
	if w.Start, err = value.ParseDuration(from); err != nil {
		return nil, fmt.Errorf("time: bad start %q", from)
	}
	if w.End, err = value.ParseDuration(to); err != nil {
		return nil, fmt.Errorf("time: bad end %q", to)
	}
	if w.Start > 24*time.Hour || w.End > 24*time.Hour {
		return nil, fmt.Errorf("time: a time of day is at most 24h")
	}
	for _, d := range parts[1:] {
		wd, ok := weekdays[strings.TrimSpace(d)]
		if !ok {
			return nil, fmt.Errorf("time: unknown day %q", d)
		}
		w.Days[wd] = true
	}
	return w, nil
}

// pair splits "a/b" (one value alone is both).
func pair(s string) (string, string) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return s, s
	}
	return a, b
}

// simpleItem is one /queue simple item as configured, decoded through the menu schema.
// Pair values (upload/download) stay strings until decode splits them.
type simpleItem struct {
	Name           string `prop:"name"`
	Target         string `prop:"target"`
	Dst            string `prop:"dst"`
	Interface      string `prop:"interface"`
	DstAddress     string `prop:"dst-address"`
	Parent         string `prop:"parent"`
	Priority       string `prop:"priority"`
	Queue          string `prop:"queue"`
	LimitAt        string `prop:"limit-at"`
	MaxLimit       string `prop:"max-limit"`
	BurstLimit     string `prop:"burst-limit"`
	BurstThreshold string `prop:"burst-threshold"`
	BurstTime      string `prop:"burst-time"`
	PacketMarks    string `prop:"packet-marks"`
	Time           string `prop:"time"`
	Disabled       bool   `prop:"disabled"`
}

// typeItem is one /queue type item as configured.
type typeItem struct {
	Name            string `prop:"name"`
	Kind            string `prop:"kind"`
	PfifoLimit      uint32 `prop:"pfifo-limit"`
	BfifoLimit      uint32 `prop:"bfifo-limit"`
	SfqPerturb      uint32 `prop:"sfq-perturb"`
	SfqAllot        uint32 `prop:"sfq-allot"`
	RedLimit        uint32 `prop:"red-limit"`
	RedMinThreshold uint32 `prop:"red-min-threshold"`
	RedMaxThreshold uint32 `prop:"red-max-threshold"`
	RedBurst        uint32 `prop:"red-burst"`
	RedAvgPacket    uint32 `prop:"red-avg-packet"`
}

// decode turns an item into a Spec; types maps queue type names to leaves.
func decode(id uint64, p simpleItem, types map[string]leafSpec) (*Spec, error) {
	s := &Spec{ID: id, Name: p.Name, Parent: p.Parent, Disabled: p.Disabled}
	if s.Parent == "none" {
		s.Parent = ""
	}
	addTarget := func(t string) error {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil
		}
		if pf, err := netip.ParsePrefix(t); err == nil {
			s.Targets = append(s.Targets, pf.Masked())
			return nil
		}
		if a, err := netip.ParseAddr(t); err == nil {
			s.Targets = append(s.Targets, netip.PrefixFrom(a, a.BitLen()))
			return nil
		}
		s.Ifaces = append(s.Ifaces, t)
		return nil
	}
	for _, t := range strings.Split(p.Target, ",") {
		addTarget(t)
	}
	addTarget(p.DstAddress)
	if v := p.Interface; v != "" && v != "all" {
		s.Ifaces = append(s.Ifaces, v)
	}
	if d := p.Dst; d != "" {
		if pf, err := netip.ParsePrefix(d); err == nil {
			s.Dst = pf.Masked()
		} else if a, err := netip.ParseAddr(d); err == nil {
			s.Dst = netip.PrefixFrom(a, a.BitLen())
		} else {
			s.DstIface = d
		}
	}
	for _, t := range append(append([]netip.Prefix{}, s.Targets...), s.Dst) {
		if t.IsValid() && !t.Addr().Is4() {
			return s, fmt.Errorf("IPv6 targets are not supported yet (u32 IPv6 matching)")
		}
	}
	if s.DstIface != "" {
		return s, fmt.Errorf("dst=%s: an interface as dst is not supported yet", s.DstIface)
	}
	if len(s.Targets) == 0 && len(s.Ifaces) == 0 {
		return s, fmt.Errorf("no target")
	}
	if m := p.PacketMarks; m != "" {
		s.Marks = strings.Split(m, ",")
	}
	w, err := parseWindow(p.Time)
	if err != nil {
		return s, err
	}
	s.Window = w
	rates := func(prop, v string) (uint64, uint64, error) {
		if v == "" {
			return 0, 0, nil
		}
		up, down, err := value.ParseRatePair(v)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", prop, err)
		}
		return up, down, nil
	}
	var lu, ld, mu, md, blu, bld, btu, btd uint64
	if lu, ld, err = rates("limit-at", p.LimitAt); err != nil {
		return s, err
	}
	if mu, md, err = rates("max-limit", p.MaxLimit); err != nil {
		return s, err
	}
	if blu, bld, err = rates("burst-limit", p.BurstLimit); err != nil {
		return s, err
	}
	if btu, btd, err = rates("burst-threshold", p.BurstThreshold); err != nil {
		return s, err
	}
	bt1, bt2 := pair(p.BurstTime)
	var btimeU, btimeD time.Duration
	if bt1 != "" {
		if btimeU, err = value.ParseDuration(bt1); err != nil {
			return s, fmt.Errorf("burst-time: %w", err)
		}
		if btimeD, err = value.ParseDuration(bt2); err != nil {
			return s, fmt.Errorf("burst-time: %w", err)
		}
	}
	pr1, pr2 := pair(p.Priority)
	prio := func(x string) (uint32, error) {
		if x == "" {
			return 7, nil
		}
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || n > 8 {
			return 0, fmt.Errorf("priority: expected 1..8")
		}
		return uint32(n - 1), nil
	}
	pu, err := prio(pr1)
	if err != nil {
		return s, err
	}
	pd, err := prio(pr2)
	if err != nil {
		return s, err
	}
	q1, q2 := pair(p.Queue)
	if q1 == "" {
		q1, q2 = "default-small", "default-small"
	}
	leafU, ok := types[q1]
	if !ok {
		return s, fmt.Errorf("queue: no queue type %s", q1)
	}
	leafD, ok := types[q2]
	if !ok {
		return s, fmt.Errorf("queue: no queue type %s", q2)
	}
	mk := func(limit, max, bl, bth uint64, bt time.Duration, pr uint32, leaf leafSpec) (dirSpec, error) {
		d := dirSpec{Prio: pr, Leaf: leaf, BurstLimit: bl, BurstThreshold: bth, BurstTime: bt}
		if max != 0 && limit > max {
			return d, fmt.Errorf("limit-at is above max-limit")
		}
		if bl != 0 && max != 0 && bl < max {
			return d, fmt.Errorf("burst-limit is below max-limit")
		}
		// A queue with only limit-at is held to it, as the v2-era scheduler example
		// expects (see docs/queues.md); max-limit alone is both guarantee and cap.
		switch {
		case max != 0 && limit != 0:
			d.Rate, d.Ceil = limit, max
		case max != 0:
			d.Rate, d.Ceil = max, max
		case limit != 0:
			d.Rate, d.Ceil = limit, limit
		default:
			d.Rate, d.Ceil = unlimited, unlimited
		}
		return d, nil
	}
	if s.Up, err = mk(lu, mu, blu, btu, btimeU, pu, leafU); err != nil {
		return s, err
	}
	if s.Down, err = mk(ld, md, bld, btd, btimeD, pd, leafD); err != nil {
		return s, err
	}
	return s, nil
}

// decodeType turns a /queue type item into the leaf it makes; the menu's defaults fill
// what the item does not set.
func decodeType(p typeItem) leafSpec {
	l := leafSpec{Kind: p.Kind}
	switch l.Kind {
	case "pfifo":
		l.Limit = p.PfifoLimit
	case "bfifo":
		l.Limit = p.BfifoLimit
	case "sfq":
		l.Perturb, l.Allot = p.SfqPerturb, p.SfqAllot
	case "red":
		l.Limit = p.RedLimit
		l.RedMin, l.RedMax = p.RedMinThreshold, p.RedMaxThreshold
		l.RedBurst, l.RedAvgPkt = p.RedBurst, p.RedAvgPacket
	}
	return l
}
