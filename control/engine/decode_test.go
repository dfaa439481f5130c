package engine_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

type decoded struct {
	Name     string         `prop:"name"`
	Disabled bool           `prop:"disabled"`
	MTU      uint16         `prop:"mtu"`
	Keep     time.Duration  `prop:"keepalive"`
	Remote   netip.Addr     `prop:"remote-address"`
	Nets     []netip.Prefix `prop:"allowed"`
}

var decMenu = &menu.Menu{Path: "/test/dec", Kind: menu.List, Props: []menu.Prop{
	{Name: "name", Type: value.String()},
	{Name: "disabled", Type: value.Bool(), Default: "no"},
	{Name: "mtu", Type: value.Int(0, 65535), Default: "1476"},
	{Name: "keepalive", Type: value.Time(0, time.Hour), Default: "10s"},
	{Name: "remote-address", Type: value.IP()},
	{Name: "allowed", Type: value.AddrList()},
	{Name: "dscp", Type: value.String(), Default: "inherit"},
	{Name: "comment", Type: value.String()},
	{Name: "running", Type: value.Bool(), ReadOnly: true},
}}

func TestDecode(t *testing.T) {
	var d decoded
	err := engine.Decode(decMenu, store.Item{ID: 1, Props: map[string]string{
		"name": "gre1", "remote-address": "198.18.0.2", "allowed": "198.18.0.0/24,198.18.1.1", "keepalive": "1m"}}, &d)
	if err != nil {
		t.Fatal(err)
	}
	want := decoded{Name: "gre1", MTU: 1476, Keep: time.Minute, Remote: netip.MustParseAddr("198.18.0.2"),
		Nets: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("198.18.1.1/32")}}
	if d.Name != want.Name || d.MTU != want.MTU || d.Keep != want.Keep || d.Remote != want.Remote || !slices.Equal(d.Nets, want.Nets) || d.Disabled {
		t.Errorf("decoded %+v, want %+v", d, want)
	}
	// A value an older store holds that no longer converts names the property.
	err = engine.Decode(decMenu, store.Item{Props: map[string]string{"mtu": "70000"}}, &d)
	if err == nil || !strings.HasPrefix(err.Error(), "mtu: ") {
		t.Errorf("out of range mtu: %v", err)
	}
	if u := engine.Unhandled(decMenu, decoded{}); !slices.Equal(u, []string{"dscp"}) {
		t.Errorf("unhandled %v, want [dscp]", u)
	}
}

// TestDecodeUnsupported: an item setting a property declared Unsupported does not
// decode, whatever struct the engine decodes into, and the error carries the reason; at
// its default, or unset, it decodes. Such a property is not listed as unhandled.
func TestDecodeUnsupported(t *testing.T) {
	m := &menu.Menu{Path: "/test/uns", Kind: menu.List, Props: []menu.Prop{
		{Name: "name", Type: value.String()},
		{Name: "content", Type: value.String(), Unsupported: "content matching has no kernel support"},
		{Name: "p2p", Type: value.String(), Default: "all-p2p", Unsupported: "no P2P matching"},
	}}
	var d struct {
		Name string `prop:"name"`
	}
	err := engine.Decode(m, store.Item{Props: map[string]string{"name": "r", "content": "x"}}, &d)
	if !errors.Is(err, engine.ErrUnsupported) || err.Error() != "content: content matching has no kernel support: not supported" {
		t.Errorf("content=x: %v", err)
	}
	for _, props := range []map[string]string{{"name": "r"}, {"name": "r", "p2p": "all-p2p", "content": ""}} {
		if err := engine.Decode(m, store.Item{Props: props}, &d); err != nil || d.Name != "r" {
			t.Errorf("%v: %v", props, err)
		}
	}
	if u := engine.Unhandled(m, d); len(u) != 0 {
		t.Errorf("unhandled %v", u)
	}
	p, _ := m.Prop("content")
	if got := p.Effect(); got != "not supported: content matching has no kernel support (an item setting it is not applied)" {
		t.Errorf("effect %q", got)
	}
}

func TestDecodeUnknownPropertyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a field naming an undeclared property did not panic")
		}
	}()
	var bad struct {
		X string `prop:"no-such"`
	}
	engine.Decode(decMenu, store.Item{}, &bad)
}
