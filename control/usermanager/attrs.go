package usermanager

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"layeh.com/radius"
)

// attrDef is one attribute User Manager can put in an Access-Accept.
type attrDef struct {
	vendor uint32 // 0: standard
	typ    byte
	kind   string // "string", "ip", "int"
}

const vendorMikrotik = 14988

// dictionary holds the attributes attributes= may name (RouterOS's names).
var dictionary = map[string]attrDef{
	"Framed-IP-Address":         {0, 8, "ip"},
	"Framed-IP-Netmask":         {0, 9, "ip"},
	"Filter-Id":                 {0, 11, "string"},
	"Framed-MTU":                {0, 12, "int"},
	"Reply-Message":             {0, 18, "string"},
	"Framed-Route":              {0, 22, "string"},
	"Class":                     {0, 25, "string"},
	"Session-Timeout":           {0, 27, "int"},
	"Idle-Timeout":              {0, 28, "int"},
	"Acct-Interim-Interval":     {0, 85, "int"},
	"Framed-Pool":               {0, 88, "string"},
	"Mikrotik-Rate-Limit":       {vendorMikrotik, 8, "string"},
	"Mikrotik-Group":            {vendorMikrotik, 3, "string"},
	"Mikrotik-Address-List":     {vendorMikrotik, 19, "string"},
	"Mikrotik-Wireless-VLANID":  {vendorMikrotik, 26, "int"},
	"Mikrotik-Wireless-Comment": {vendorMikrotik, 21, "string"},
}

// attr is one parsed Name:value.
type attr struct {
	def attrDef
	val radius.Attribute
}

// parseAttrs turns attributes= entries into attributes, or says which entry is wrong.
func parseAttrs(list []string) ([]attr, error) {
	var out []attr
	for _, s := range list {
		name, val, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("attribute %q is not Name:value", s)
		}
		d, ok := dictionary[name]
		if !ok {
			return nil, fmt.Errorf("unknown attribute %q", name)
		}
		var a radius.Attribute
		switch d.kind {
		case "ip":
			ip, err := netip.ParseAddr(val)
			if err != nil || !ip.Is4() {
				return nil, fmt.Errorf("attribute %s: %q is not an IPv4 address", name, val)
			}
			b := ip.As4()
			a = b[:]
		case "int":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %q is not a number", name, val)
			}
			a = radius.NewInteger(uint32(n))
		default:
			if len(val) == 0 || len(val) > 247 {
				return nil, fmt.Errorf("attribute %s: value length %d", name, len(val))
			}
			a = radius.Attribute(val)
		}
		out = append(out, attr{def: d, val: a})
	}
	return out, nil
}

// add puts the attributes into p.
func addAttrs(p *radius.Packet, as []attr) {
	for _, a := range as {
		if a.def.vendor == 0 {
			p.Add(radius.Type(a.def.typ), a.val)
			continue
		}
		v := append([]byte{a.def.typ, byte(len(a.val) + 2)}, a.val...)
		if vs, err := radius.NewVendorSpecific(a.def.vendor, v); err == nil {
			p.Add(26, vs)
		}
	}
}
