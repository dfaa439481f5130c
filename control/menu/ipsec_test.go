package menu

import (
	"slices"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/value"
)

func TestIpsecMenusWellFormed(t *testing.T) {
	ms := ipsecMenus()
	tree := NewTree(ms...)
	declared := map[string]int{}
	for i, m := range ms {
		if _, dup := declared[m.Path]; dup {
			t.Errorf("%s declared twice", m.Path)
		}
		declared[m.Path] = i
		if got, ok := tree.Get(m.Path); !ok || got != m {
			t.Errorf("%s not in the tree", m.Path)
		}
		if !strings.HasPrefix(m.Path, "/ip/ipsec/") {
			t.Errorf("%s: not under /ip/ipsec", m.Path)
		}
	}
	all := map[string]int{}
	for i, m := range declarations() {
		all[m.Path] = i
	}
	for _, m := range ms {
		names := map[string]bool{}
		for _, p := range m.Props {
			where := m.Path + " " + p.Name
			if names[p.Name] {
				t.Errorf("%s: property declared twice", where)
			}
			names[p.Name] = true
			if p.Type == nil {
				t.Errorf("%s: no type", where)
				continue
			}
			if p.Desc == "" {
				t.Errorf("%s: no description", where)
			}
			if p.Name == "name" && !p.Unique {
				t.Errorf("%s: name must be unique", where)
			}
			if p.Name == "disabled" && p.Default != "no" {
				t.Errorf("%s: default %q, want no", where, p.Default)
			}
			if (m.Kind == Status || (m.Kind == Single && m.NoExport)) && !p.ReadOnly {
				t.Errorf("%s: property of a read-only menu is not read-only", where)
			}
			if p.Default != "" && !(p.Auto && p.Default == "auto") {
				got, err := p.Type.Parse(p.Default)
				if err != nil || got != p.Default {
					t.Errorf("%s: default %q parses to %q, %v", where, p.Default, got, err)
				}
			}
			if p.Ref != "" && !strings.HasPrefix(p.Ref, "/ip/ipsec/") {
				// A menu outside IPsec (/ip/pool) must come before it in the whole tree.
				if ri, ok := all[p.Ref]; !ok {
					t.Errorf("%s: ref %s is not declared", where, p.Ref)
				} else if ri >= all[m.Path] {
					t.Errorf("%s: ref %s is declared after %s", where, p.Ref, m.Path)
				}
			} else if p.Ref != "" {
				ri, ok := declared[p.Ref]
				if _, inTree := tree.Get(p.Ref); !ok || !inTree {
					t.Errorf("%s: ref %s is not declared", where, p.Ref)
				} else if ri >= declared[m.Path] {
					t.Errorf("%s: ref %s is declared after %s", where, p.Ref, m.Path)
				}
				// A referencing default must name a built-in item or be an extra word.
				if p.Default != "" && !slices.Contains(p.RefExtra, p.Default) && !hasBuiltin(tree, p.Ref, p.Default) {
					t.Errorf("%s: default %q is neither a built-in %s item nor an extra word", where, p.Default, p.Ref)
				}
			} else if len(p.RefExtra) > 0 {
				t.Errorf("%s: RefExtra without Ref", where)
			}
		}
		letters := map[byte]bool{}
		for _, f := range m.Flags {
			if letters[f.Letter] {
				t.Errorf("%s: flag letter %c twice", m.Path, f.Letter)
			}
			letters[f.Letter] = true
		}
		for _, c := range m.Columns {
			if !names[c] {
				t.Errorf("%s: column %s is not a property", m.Path, c)
			}
		}
		if len(m.Builtin) > 0 && m.Kind != List && m.Kind != Fixed {
			t.Errorf("%s: built-in items on a menu of kind %d", m.Path, m.Kind)
		}
		for i, b := range m.Builtin {
			if np := m.NameProp(); np != "" && b[np] == "" {
				t.Errorf("%s: built-in %d has no %s", m.Path, i, np)
			}
			for k, v := range b {
				p, ok := m.Prop(k)
				if !ok {
					t.Errorf("%s: built-in %d sets unknown property %s", m.Path, i, k)
					continue
				}
				if p.ReadOnly {
					t.Errorf("%s: built-in %d sets read-only property %s", m.Path, i, k)
				}
				if got, err := p.Type.Parse(v); err != nil || got != v {
					t.Errorf("%s: built-in %d: %s=%q parses to %q, %v", m.Path, i, k, v, got, err)
				}
				if p.Ref != "" && !slices.Contains(p.RefExtra, v) && !hasBuiltin(tree, p.Ref, v) {
					t.Errorf("%s: built-in %d: %s=%s names no built-in %s item", m.Path, i, k, v, p.Ref)
				}
			}
		}
	}
}

func hasBuiltin(tree *Tree, path, name string) bool {
	m, ok := tree.Get(path)
	if !ok {
		return false
	}
	for _, b := range m.Builtin {
		if b[m.NameProp()] == name {
			return true
		}
	}
	return false
}

func TestIpsecMenusPresent(t *testing.T) {
	kinds := map[string]Kind{
		"/ip/ipsec/profile":       List,
		"/ip/ipsec/proposal":      List,
		"/ip/ipsec/key":           List,
		"/ip/ipsec/peer":          List,
		"/ip/ipsec/peer/profile":  List, // RouterOS 6.43, renamed to /ip/ipsec/profile
		"/ip/ipsec/mode-config":   List,
		"/ip/ipsec/policy/group":  List,
		"/ip/ipsec/policy":        List,
		"/ip/ipsec/identity":      List,
		"/ip/ipsec/user":          List,
		"/ip/ipsec/settings":      Single,
		"/ip/ipsec/user/settings": Single, // RouterOS 6, moved to /ip/ipsec/settings
		"/ip/ipsec/statistics":    Single,
		"/ip/ipsec/active-peers":  Status,
		"/ip/ipsec/installed-sa":  Status,
	}
	for path, k := range kinds {
		if m := declMenu(t, path); m.Kind != k {
			t.Errorf("%s: kind %d, want %d", path, m.Kind, k)
		}
	}
	if n := len(ipsecMenus()); n != len(kinds) {
		t.Errorf("%d menus declared, want %d", n, len(kinds))
	}
	if m, _ := NewTree(ipsecMenus()...).Get("/ip/ipsec"); m == nil || m.Kind != Dir {
		t.Errorf("/ip/ipsec is not a directory")
	}
	if !declMenu(t, "/ip/ipsec/policy").Ordered {
		t.Errorf("policies must keep their order")
	}
}

// Spot checks against shared/reference/10-ip-ipsec.txt.
func TestIpsecMenusManual(t *testing.T) {
	defaults := []struct{ path, prop, def string }{
		{"/ip/ipsec/profile", "dh-group", "modp1024,modp2048"},
		{"/ip/ipsec/profile", "dpd-interval", "8s"},
		{"/ip/ipsec/profile", "dpd-maximum-failures", "4"},
		{"/ip/ipsec/profile", "enc-algorithm", "aes-128"},
		{"/ip/ipsec/profile", "lifetime", "1d"},
		{"/ip/ipsec/profile", "proposal-check", "obey"},
		{"/ip/ipsec/proposal", "enc-algorithms", "aes-256-cbc,aes-192-cbc,aes-128-cbc"},
		{"/ip/ipsec/proposal", "auth-algorithms", "sha1"},
		{"/ip/ipsec/proposal", "lifetime", "30m"},
		{"/ip/ipsec/proposal", "pfs-group", "modp1024"},
		{"/ip/ipsec/peer", "exchange-mode", "main"},
		{"/ip/ipsec/peer", "port", "500"},
		{"/ip/ipsec/peer", "address", "0.0.0.0/0"},
		{"/ip/ipsec/peer", "send-initial-contact", "yes"},
		{"/ip/ipsec/peer", "profile", "default"},
		{"/ip/ipsec/policy", "action", "encrypt"},
		{"/ip/ipsec/policy", "level", "require"},
		{"/ip/ipsec/policy", "src-port", "any"},
		{"/ip/ipsec/policy", "dst-address", "0.0.0.0/32"},
		{"/ip/ipsec/policy", "ipsec-protocols", "esp"},
		{"/ip/ipsec/policy", "group", "default"},
		{"/ip/ipsec/identity", "auth-method", "pre-shared-key"},
		{"/ip/ipsec/identity", "mode-config", "none"},
		{"/ip/ipsec/identity", "my-id", "auto"},
		{"/ip/ipsec/identity", "generate-policy", "no"},
		{"/ip/ipsec/identity", "eap-methods", "eap-tls"},
		{"/ip/ipsec/identity", "policy-template-group", "default"},
	}
	for _, d := range defaults {
		if p := declProp(t, d.path, d.prop); p.Default != d.def {
			t.Errorf("%s %s: default %q, want %q", d.path, d.prop, p.Default, d.def)
		}
	}

	enums := []struct {
		path, prop string
		ok         []string
		bad        []string
	}{
		{"/ip/ipsec/peer", "exchange-mode", []string{"aggressive", "base", "main", "ike2"}, []string{"ike1", "main-l2tp"}},
		{"/ip/ipsec/policy", "level", []string{"require", "unique", "use"}, []string{"none"}},
		{"/ip/ipsec/policy", "action", []string{"discard", "encrypt", "none"}, []string{"drop"}},
		{"/ip/ipsec/identity", "auth-method", []string{"digital-signature", "eap", "eap-radius", "pre-shared-key",
			"pre-shared-key-xauth", "rsa-key", "rsa-signature-hybrid"}, []string{"psk"}},
		{"/ip/ipsec/identity", "generate-policy", []string{"no", "port-override", "port-strict"}, []string{"yes"}},
		{"/ip/ipsec/identity", "eap-methods", []string{"eap-mschapv2", "eap-peap,eap-tls"}, []string{"eap-md5"}},
		{"/ip/ipsec/identity", "remote-id", []string{"ignore", "fqdn:vpn.example.com", "key-id:CN=a"}, []string{"fqdn:", "host"}},
		{"/ip/ipsec/identity", "my-id", []string{"address:192.0.2.1", "user-fqdn:user@domain.com"}, []string{"ignore", "address:x"}},
		{"/ip/ipsec/profile", "dh-group", []string{"ecp256,modp2048,modp1024", "modp8192", "curve25519"}, []string{"modp999"}},
		{"/ip/ipsec/profile", "enc-algorithm", []string{"aes-256,aes-192,aes-128", "chacha20poly1305", "aes-256-gcm"}, []string{"aes-128-cbc"}},
		{"/ip/ipsec/profile", "dpd-interval", []string{"disable-dpd", "2m"}, []string{"never"}},
		{"/ip/ipsec/profile", "dpd-maximum-failures", []string{"1", "100"}, []string{"0", "101"}},
		{"/ip/ipsec/proposal", "enc-algorithms", []string{"aes-128-gcm", "aes-128-cbc", "null", "chacha20poly1305"}, []string{"aes-128"}},
		{"/ip/ipsec/proposal", "auth-algorithms", []string{"null", "sha256,sha1", "sha384"}, []string{"sha224"}},
		{"/ip/ipsec/proposal", "pfs-group", []string{"none", "ecp521", "curve25519"}, []string{"modp1024,modp2048"}},
		{"/ip/ipsec/policy", "dst-port", []string{"any", "1701"}, []string{"65536", "all"}},
		{"/ip/ipsec/policy", "protocol", []string{"all", "udp", "47"}, []string{"256"}},
		{"/ip/ipsec/peer", "address", []string{"192.168.80.1/32", "n.mynetname.net", "::/0"}, []string{"1.2.3.256", "a b"}},
		{"/ip/ipsec/mode-config", "address-prefix-length", []string{"32"}, []string{"33", "0"}},
		{"/ip/ipsec/mode-config", "split-include", []string{"192.168.99.1/32", "10.5.8.0/24,192.168.55.0/24"}, nil},
	}
	for _, e := range enums {
		p := declProp(t, e.path, e.prop)
		for _, v := range e.ok {
			if _, err := p.Type.Parse(v); err != nil {
				t.Errorf("%s %s=%s: %v", e.path, e.prop, v, err)
			}
		}
		for _, v := range e.bad {
			if got, err := p.Type.Parse(v); err == nil {
				t.Errorf("%s %s=%s accepted as %q", e.path, e.prop, v, got)
			}
		}
	}

	refs := []struct{ path, prop, ref string }{
		{"/ip/ipsec/peer", "profile", "/ip/ipsec/profile"},
		{"/ip/ipsec/policy", "proposal", "/ip/ipsec/proposal"},
		{"/ip/ipsec/policy", "peer", "/ip/ipsec/peer"},
		{"/ip/ipsec/policy", "group", "/ip/ipsec/policy/group"},
		{"/ip/ipsec/identity", "peer", "/ip/ipsec/peer"},
		{"/ip/ipsec/identity", "mode-config", "/ip/ipsec/mode-config"},
		{"/ip/ipsec/identity", "policy-template-group", "/ip/ipsec/policy/group"},
		{"/ip/ipsec/identity", "key", "/ip/ipsec/key"},
		{"/ip/ipsec/identity", "remote-key", "/ip/ipsec/key"},
	}
	for _, r := range refs {
		if p := declProp(t, r.path, r.prop); p.Ref != r.ref {
			t.Errorf("%s %s: ref %q, want %q", r.path, r.prop, p.Ref, r.ref)
		}
	}

	for _, s := range []struct{ path, prop string }{
		{"/ip/ipsec/identity", "secret"},
		{"/ip/ipsec/identity", "password"},
		{"/ip/ipsec/installed-sa", "enc-key"},
		{"/ip/ipsec/installed-sa", "auth-key"},
	} {
		if !declProp(t, s.path, s.prop).Sensitive {
			t.Errorf("%s %s is not sensitive", s.path, s.prop)
		}
	}
	for _, s := range []struct{ path, prop string }{
		{"/ip/ipsec/policy", "ph2-count"},
		{"/ip/ipsec/key", "key-size"},
		{"/ip/ipsec/statistics", "in-errors"},
		{"/ip/ipsec/active-peers", "uptime"},
	} {
		if !declProp(t, s.path, s.prop).ReadOnly {
			t.Errorf("%s %s is not read-only", s.path, s.prop)
		}
	}

	policy := declMenu(t, "/ip/ipsec/policy")
	var letters string
	for _, f := range policy.Flags {
		letters += string(f.Letter)
	}
	if letters != "TXDIA*" {
		t.Errorf("policy flags %q, want TXDIA*", letters)
	}
	if len(policy.Builtin) != 1 || policy.Builtin[0]["template"] != "yes" || policy.Builtin[0]["group"] != "default" {
		t.Errorf("policy built-in items %v, want the default template", policy.Builtin)
	}
	for path, name := range map[string]string{
		"/ip/ipsec/profile":      "default",
		"/ip/ipsec/proposal":     "default",
		"/ip/ipsec/policy/group": "default",
		"/ip/ipsec/mode-config":  "request-only",
	} {
		if !hasBuiltin(NewTree(ipsecMenus()...), path, name) {
			t.Errorf("%s: no built-in %q", path, name)
		}
	}
	if !slices.Contains(declMenu(t, "/ip/ipsec/key").Commands, "generate-key") {
		t.Errorf("key menu lacks generate-key")
	}
}

var _ value.Type = ipsecID{}
var _ value.Type = HostName{}
