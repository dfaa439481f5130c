package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

var testTypes = map[string]leafSpec{
	"default-small": {Kind: "pfifo", Limit: 10},
	"sfq-x":         {Kind: "sfq"},
}

// decodeProps decodes props as the engine does: through the menu schema, then decode.
func decodeProps(id uint64, props map[string]string, types map[string]leafSpec) (*Spec, error) {
	m, _ := menu.Default().Get(Path)
	var si simpleItem
	if err := engine.Decode(m, store.Item{ID: id, Props: props}, &si); err != nil {
		return nil, err
	}
	return decode(id, si, types)
}

func TestDecode(t *testing.T) {
	// The scheduler example: v2-era interface= and dst-address=, limit-at only.
	s, err := decodeProps(1, map[string]string{"name": "Cust0", "interface": "ether1",
		"dst-address": "192.168.0.0/24", "limit-at": "64k/64k"}, testTypes)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Ifaces) != 1 || s.Ifaces[0] != "ether1" || s.Targets[0].String() != "192.168.0.0/24" {
		t.Errorf("targets %v %v", s.Ifaces, s.Targets)
	}
	if s.Down.Rate != 64000 || s.Down.Ceil != 64000 || s.Down.Prio != 7 || s.Down.Leaf.Limit != 10 {
		t.Errorf("down %+v", s.Down)
	}
	s, err = decodeProps(2, map[string]string{"target": "10.0.0.2", "limit-at": "1M/2M", "max-limit": "4M/8M",
		"priority": "1/8", "burst-limit": "6M/10M", "burst-threshold": "3M/6M", "burst-time": "8s/16s"}, testTypes)
	if err != nil {
		t.Fatal(err)
	}
	if s.Up.Rate != 1e6 || s.Up.Ceil != 4e6 || s.Down.Rate != 2e6 || s.Down.Ceil != 8e6 || s.Up.Prio != 0 ||
		s.Up.BurstLimit != 6e6 || s.Down.BurstTime != 16*time.Second || s.Targets[0].Bits() != 32 {
		t.Errorf("spec %+v", s)
	}
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"target": "10.0.0.2", "limit-at": "2M/2M", "max-limit": "1M/1M"}, "limit-at is above max-limit"},
		{map[string]string{"target": "2001:db8::1"}, "IPv6 targets"},
		{map[string]string{}, "no target"},
		{map[string]string{"target": "10.0.0.2", "queue": "nosuch/nosuch"}, "no queue type nosuch"},
		{map[string]string{"target": "10.0.0.2", "priority": "9/9"}, "priority"},
		{map[string]string{"target": "10.0.0.2", "time": "8h-30h"}, "time"},
		{map[string]string{"target": "10.0.0.2", "time": "8h-17h,funday"}, "unknown day"},
	} {
		if _, err := decodeProps(3, tc.props, testTypes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.props, err, tc.want)
		}
	}
}

func TestWindow(t *testing.T) {
	w, err := parseWindow("8h-17h,mon,tue")
	if err != nil {
		t.Fatal(err)
	}
	mon9 := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{mon9, true},
		{mon9.Add(8 * time.Hour), false},
		{mon9.Add(-2 * time.Hour), false},
		{mon9.Add(72 * time.Hour), false}, // Thursday
	} {
		if got := w.active(tc.at); got != tc.want {
			t.Errorf("%v: %v", tc.at, got)
		}
	}
	night, _ := parseWindow("22h-6h")
	if !night.active(mon9.Add(14*time.Hour)) || night.active(mon9) {
		t.Error("window across midnight")
	}
}
