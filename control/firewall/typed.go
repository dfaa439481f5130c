package firewall

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// ruleItem is what every rule of /ip firewall filter, nat, mangle and raw (and /ipv6's)
// has, as the menu schema decodes it (engine.Decode): every property the compiler applies
// or refuses with a reason. The compiler reads RouterOS's words, so the fields keep the stored text;
// a property without a field here never reaches the compiler and is listed by
// cmd/routerd's TestUnhandledProperties (hw-offload, which has no effect here).
type ruleItem struct {
	Chain                   string `prop:"chain"`
	Action                  string `prop:"action"`
	SrcAddress              string `prop:"src-address"`
	DstAddress              string `prop:"dst-address"`
	SrcAddressList          string `prop:"src-address-list"`
	DstAddressList          string `prop:"dst-address-list"`
	SrcAddressType          string `prop:"src-address-type"`
	DstAddressType          string `prop:"dst-address-type"`
	Protocol                string `prop:"protocol"`
	SrcPort                 string `prop:"src-port"`
	DstPort                 string `prop:"dst-port"`
	Port                    string `prop:"port"`
	InInterface             string `prop:"in-interface"`
	OutInterface            string `prop:"out-interface"`
	InInterfaceList         string `prop:"in-interface-list"`
	OutInterfaceList        string `prop:"out-interface-list"`
	InBridgePort            string `prop:"in-bridge-port"`
	OutBridgePort           string `prop:"out-bridge-port"`
	InBridgePortList        string `prop:"in-bridge-port-list"`
	OutBridgePortList       string `prop:"out-bridge-port-list"`
	PacketMark              string `prop:"packet-mark"`
	IPsecPolicy             string `prop:"ipsec-policy"`
	ICMPOptions             string `prop:"icmp-options"`
	TCPFlags                string `prop:"tcp-flags"`
	TCPMSS                  string `prop:"tcp-mss"`
	PacketSize              string `prop:"packet-size"`
	TTL                     string `prop:"ttl"`
	DSCP                    string `prop:"dscp"`
	TOS                     string `prop:"tos"`
	Limit                   string `prop:"limit"`
	DstLimit                string `prop:"dst-limit"`
	Nth                     string `prop:"nth"`
	Random                  string `prop:"random"`
	PerConnectionClassifier string `prop:"per-connection-classifier"`
	Time                    string `prop:"time"`
	SrcMACAddress           string `prop:"src-mac-address"`
	Fragment                string `prop:"fragment"`
	Content                 string `prop:"content"`
	Priority                string `prop:"priority"`
	JumpTarget              string `prop:"jump-target"`
	RejectWith              string `prop:"reject-with"`
	Log                     string `prop:"log"`
	LogPrefix               string `prop:"log-prefix"`
	AddressList             string `prop:"address-list"`
	AddressListTimeout      string `prop:"address-list-timeout"`
	ToAddresses             string `prop:"to-addresses"`
	ToPorts                 string `prop:"to-ports"`
	NewConnectionMark       string `prop:"new-connection-mark"`
	NewPacketMark           string `prop:"new-packet-mark"`
	NewRoutingMark          string `prop:"new-routing-mark"`
	NewDSCP                 string `prop:"new-dscp"`
	NewTTL                  string `prop:"new-ttl"`
	NewMSS                  string `prop:"new-mss"`
	Comment                 string `prop:"comment"`
	Disabled                string `prop:"disabled"`
}

// connItem is what every table but raw adds: matchers of the connection tracking
// entry and of the routing mark, which raw runs before (menu.rawLacks).
type connItem struct {
	ConnectionState    string `prop:"connection-state"`
	ConnectionNATState string `prop:"connection-nat-state"`
	ConnectionMark     string `prop:"connection-mark"`
	RoutingMark        string `prop:"routing-mark"`
	ConnectionType     string `prop:"connection-type"`
	ConnectionLimit    string `prop:"connection-limit"`
	ConnectionBytes    string `prop:"connection-bytes"`
}

// mangleItem adds what only mangle has.
type mangleItem struct {
	ruleItem
	connItem
	Passthrough string `prop:"passthrough"`
	NewPriority string `prop:"new-priority"`
}

// natItem adds what only nat has.
type natItem struct {
	ruleItem
	connItem
	RandomisePorts string `prop:"randomise-ports"`
	SameNotByDst   string `prop:"same-not-by-dst"`
}

// filterItem is a filter rule.
type filterItem struct {
	ruleItem
	connItem
}

// filter4Item, raw4Item, mangle4Item and nat4Item add what only IPv4 has.
type filter4Item struct {
	filterItem
	IPv4Options string `prop:"ipv4-options"`
}

type raw4Item struct {
	ruleItem
	IPv4Options string `prop:"ipv4-options"`
}

type mangle4Item struct {
	mangleItem
	IPv4Options string `prop:"ipv4-options"`
}

type nat4Item struct {
	natItem
	IPv4Options string `prop:"ipv4-options"`
}

// listItem is an address-list entry.
type listItem struct {
	List     string `prop:"list"`
	Address  string `prop:"address"`
	Timeout  string `prop:"timeout"`
	Disabled bool   `prop:"disabled"`
}

// layer7Item is a /ip firewall layer7-protocol pattern: only its name is used (the
// rules naming it are invalid: Linux has no layer 7 match).
type layer7Item struct {
	Name string `prop:"name"`
}

// servicePortItem is a /ip firewall service-port row (sip-direct-media and sip-timeout
// are the kernel SIP helper's module parameters, which routerd does not set).
type servicePortItem struct {
	Name     string `prop:"name"`
	Ports    string `prop:"ports"`
	Disabled bool   `prop:"disabled"`
}

// filter6Item, raw6Item, mangle6Item and nat6Item add what only IPv6 has.
type filter6Item struct {
	filterItem
	HopLimit string `prop:"hop-limit"`
	Headers  string `prop:"headers"`
}

type raw6Item struct {
	ruleItem
	HopLimit string `prop:"hop-limit"`
	Headers  string `prop:"headers"`
}

type mangle6Item struct {
	mangleItem
	HopLimit    string `prop:"hop-limit"`
	Headers     string `prop:"headers"`
	NewHopLimit string `prop:"new-hop-limit"`
}

type nat6Item struct {
	natItem
	HopLimit string `prop:"hop-limit"`
	Headers  string `prop:"headers"`
}

// ruleExample is the struct a rule menu's items decode into.
func ruleExample(v6 bool, table string) any {
	switch {
	case table == "mangle" && !v6:
		return &mangle4Item{}
	case table == "mangle":
		return &mangle6Item{}
	case table == "nat" && !v6:
		return &nat4Item{}
	case table == "nat":
		return &nat6Item{}
	case table == "raw" && !v6:
		return &raw4Item{}
	case table == "raw":
		return &raw6Item{}
	case !v6:
		return &filter4Item{}
	}
	return &filter6Item{}
}

// decodeItem decodes a rule through the menu's schema into the compiler's words: the
// properties the menu's rule struct (ruleExample) names, the menu's defaults filled in,
// unset and empty ones left out, the schema's unsupported properties refused.
//
// Every field of those structs is a string, which engine.Decode stores as it is, so
// the decoded rule is the menu's defaults overlaid with the item's own properties the
// struct names: ruleSchemaOf takes both from engine.Decode once per menu and struct,
// and an item costs a map of its size rather than a reflective walk of ~70 fields and
// another to read them back (an import decodes 10,000 rules). TestDecodeItemSchema
// checks it against engine.Decode.
func decodeItem(m *menu.Menu, v6 bool, table string, it store.Item) (map[string]string, error) {
	sc := ruleSchemaOf(m, v6, table)
	for _, p := range sc.unsupported {
		if s, set := it.Props[p.Name]; set && s != "" && s != p.Default {
			return nil, fmt.Errorf("%s: %s: %w", p.Name, p.Unsupported, engine.ErrUnsupported)
		}
	}
	out := make(map[string]string, len(sc.defaults)+len(it.Props))
	for _, d := range sc.defaults {
		out[d.k] = d.v
	}
	for k, v := range it.Props {
		if !sc.fields[k] {
			continue
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// ruleSchema is what decoding a rule menu's items takes from its schema.
type ruleSchema struct {
	fields      map[string]bool // the properties the struct has a field for
	defaults    []kv            // what an item without properties decodes to
	unsupported []*menu.Prop    // properties the schema refuses unless default
}

type kv struct{ k, v string }

type schemaKey struct {
	m    *menu.Menu
	kind int // exampleKind
}

var ruleSchemas sync.Map // schemaKey -> *ruleSchema

// ruleSchemaOf builds a menu's ruleSchema once, through engine.Decode itself (which
// also checks that the menu has every property the struct names).
func ruleSchemaOf(m *menu.Menu, v6 bool, table string) *ruleSchema {
	k := schemaKey{m, exampleKind(v6, table)}
	if sc, ok := ruleSchemas.Load(k); ok {
		return sc.(*ruleSchema)
	}
	dst := ruleExample(v6, table)
	rv := reflect.ValueOf(dst).Elem()
	sc := &ruleSchema{fields: map[string]bool{}}
	for _, f := range reflect.VisibleFields(rv.Type()) {
		tag, ok := f.Tag.Lookup("prop")
		if !ok || !f.IsExported() {
			continue
		}
		if f.Type.Kind() != reflect.String {
			panic(fmt.Sprintf("firewall: %s field %s is not a string: decodeItem stores values as they are", rv.Type(), f.Name))
		}
		sc.fields[tag] = true
	}
	if err := engine.Decode(m, store.Item{Props: map[string]string{}}, dst); err != nil {
		panic(fmt.Sprintf("firewall: %s: the defaults do not decode: %v", m.Path, err))
	}
	for _, f := range stringFields(rv.Type()) {
		if v := rv.FieldByIndex(f.index).String(); v != "" {
			sc.defaults = append(sc.defaults, kv{f.prop, v})
		}
	}
	for i := range m.Props {
		if m.Props[i].Unsupported != "" {
			sc.unsupported = append(sc.unsupported, &m.Props[i])
		}
	}
	ruleSchemas.Store(k, sc)
	return sc
}

func exampleKind(v6 bool, table string) int {
	k := 0
	if v6 {
		k = 1
	}
	switch table {
	case "mangle":
		k += 2
	case "nat":
		k += 4
	case "raw":
		k += 6
	}
	return k
}

type stringField struct {
	prop  string
	index []int
}

var stringFieldCache sync.Map // reflect.Type -> []stringField

// stringFields lists a struct type's string fields tagged prop, once per type.
func stringFields(t reflect.Type) []stringField {
	if fs, ok := stringFieldCache.Load(t); ok {
		return fs.([]stringField)
	}
	var fs []stringField
	for _, f := range reflect.VisibleFields(t) {
		if tag, ok := f.Tag.Lookup("prop"); ok && f.Type.Kind() == reflect.String {
			fs = append(fs, stringField{tag, f.Index})
		}
	}
	stringFieldCache.Store(t, fs)
	return fs
}

// TypedItems names, for each menu the engine applies, the struct its items decode into
// (engine.Typed), so the properties it leaves unhandled are listed in review.
func TypedItems() map[string]any {
	out := map[string]any{ServicePortPath: servicePortItem{}, TrackingPath: trackingProps(), menu.Layer7Path: layer7Item{}}
	for _, v6 := range []bool{false, true} {
		for _, t := range menu.FirewallTables {
			out[rulePath(v6, t)] = ruleExample(v6, t)
		}
		out[listPath(v6)] = listItem{}
	}
	return out
}
