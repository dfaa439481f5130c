package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Decode fills the struct dst points to from item it of menu m, once, through the menu's
// schema: each field tagged `prop:"NAME"` gets property NAME (its default when the item
// does not set it), converted to the field's type:
//
//	string                     as stored
//	bool                       yes/no (true/false)
//	int, int64, uint16 ...     decimal
//	time.Duration              RouterOS duration syntax (10s, 1d2h, 00:01:00)
//	netip.Addr, netip.Prefix   an address, a prefix (a bare address is a host prefix)
//	[]string, []netip.Prefix   comma lists
//
// An empty value leaves the field at its zero value. A value that does not convert is an
// error naming the property, for the engine to show on the item: the schema validated it on
// the way in, so that happens only with a store written by an older routerd. A field tagged
// with a property the menu does not declare is a programming error and panics, so a typo
// fails the engine's first test.
//
// An item that sets a property the menu declares Unsupported (to other than its default)
// does not decode: the error (ErrUnsupported) carries the declaration's reason, so every
// engine shows such an item invalid instead of applying it without that property.
func Decode(m *menu.Menu, it store.Item, dst any) error {
	for _, p := range unsupportedOf(m) {
		if s, set := it.Props[p.Name]; set && s != "" && s != p.Default {
			return fmt.Errorf("%s: %s: %w", p.Name, p.Unsupported, ErrUnsupported)
		}
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("engine.Decode: %T is not a pointer to a struct", dst))
	}
	v = v.Elem()
	fs := fieldsOf(v.Type())
	ps := propsOf(m, v.Type(), fs)
	for i, f := range fs {
		p := ps[i]
		s, set := it.Props[f.prop]
		if !set {
			s = p.Default
		}
		if err := setField(v.FieldByIndex(f.index), s); err != nil {
			return fmt.Errorf("%s: %w", f.prop, err)
		}
	}
	return nil
}

// ErrUnsupported: an item sets a property this system cannot carry out (menu.Prop.Unsupported).
var ErrUnsupported = errors.New("not supported")

var unsupportedCache sync.Map // *menu.Menu -> []*menu.Prop

// unsupportedOf lists m's Unsupported properties (cached: Decode runs per item).
func unsupportedOf(m *menu.Menu) []*menu.Prop {
	if ps, ok := unsupportedCache.Load(m); ok {
		return ps.([]*menu.Prop)
	}
	var ps []*menu.Prop
	for i := range m.Props {
		if m.Props[i].Unsupported != "" {
			ps = append(ps, &m.Props[i])
		}
	}
	unsupportedCache.Store(m, ps)
	return ps
}

// Props names the properties a table-driven engine applies (each row of its table maps
// one property to the kernel), for TypedItems where a struct would only repeat the table.
type Props []string

// Unhandled lists the writable properties of m that no field of the struct type of
// example handles (or, for Props, that it does not name), sorted: what an engine's typed
// item leaves unapplied (comment is never applied and not listed, nor are the RouterOS 6
// properties a migration moves to another menu before any engine sees them, Prop.V6).
func Unhandled(m *menu.Menu, example any) []string {
	handled := map[string]bool{"comment": true}
	if ps, ok := example.(Props); ok {
		for _, p := range ps {
			if _, ok := m.Prop(p); !ok {
				panic(fmt.Sprintf("engine.Unhandled: %s has no property %q", m.Path, p))
			}
			handled[p] = true
		}
	} else {
		t := reflect.TypeOf(example)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for _, f := range fieldsOf(t) {
			handled[f.prop] = true
		}
	}
	var out []string
	for _, p := range m.Props {
		if !p.ReadOnly && p.V6 == "" && p.Unsupported == "" && !handled[p.Name] {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

type field struct {
	name, prop string
	index      []int
}

var fieldCache sync.Map // reflect.Type -> []field

// propCache holds each (menu, struct type)'s properties in field order: an engine decodes
// thousands of items of one menu a pass (firewall rules have some 80 properties, and
// Menu.Prop searches the list).
var propCache sync.Map // propKey -> []*menu.Prop

type propKey struct {
	m *menu.Menu
	t reflect.Type
}

func propsOf(m *menu.Menu, t reflect.Type, fs []field) []*menu.Prop {
	k := propKey{m, t}
	if ps, ok := propCache.Load(k); ok {
		return ps.([]*menu.Prop)
	}
	ps := make([]*menu.Prop, len(fs))
	for i, f := range fs {
		p, ok := m.Prop(f.prop)
		if !ok {
			panic(fmt.Sprintf("engine.Decode: %s has no property %q (field %s)", m.Path, f.prop, f.name))
		}
		ps[i] = p
	}
	propCache.Store(k, ps)
	return ps
}

func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for _, sf := range reflect.VisibleFields(t) {
		if tag, ok := sf.Tag.Lookup("prop"); ok && sf.IsExported() {
			fs = append(fs, field{name: sf.Name, prop: tag, index: sf.Index})
		}
	}
	fieldCache.Store(t, fs)
	return fs
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
)

func setField(f reflect.Value, s string) error {
	if s == "" {
		f.SetZero()
		return nil
	}
	switch f.Type() {
	case durationType:
		d, err := value.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration", s)
		}
		f.SetInt(int64(d))
		return nil
	case addrType:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q is not an address", s)
		}
		f.Set(reflect.ValueOf(a))
		return nil
	case prefixType:
		p, err := parsePrefix(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(p))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		switch s {
		case "yes", "true":
			f.SetBool(true)
		case "no", "false":
			f.SetBool(false)
		default:
			return fmt.Errorf("%q is not yes or no", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number in range", s)
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number in range", s)
		}
		f.SetUint(n)
	case reflect.Slice:
		parts := strings.Split(s, ",")
		out := reflect.MakeSlice(f.Type(), len(parts), len(parts))
		for i, part := range parts {
			if err := setField(out.Index(i), strings.TrimSpace(part)); err != nil {
				return err
			}
		}
		f.Set(out)
	default:
		panic(fmt.Sprintf("engine.Decode: no conversion to %s", f.Type()))
	}
	return nil
}

// parsePrefix reads a prefix, or an address as its host prefix, masked.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a prefix", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix", s)
	}
	return p.Masked(), nil
}
