package tftp

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Rule is one compiled /ip tftp access rule.
type Rule struct {
	ID       uint64
	Nets     []netip.Prefix // empty: every client
	Re       *regexp.Regexp
	Real     string // empty: the requested name itself
	Need     []int  // groups of Re that must take part in the match
	Allow    bool
	ReadOnly bool
	Rollover bool
}

// ruleItem is one /ip tftp item as the engine applies it, decoded through the menu's
// schema (engine.Decode).
type ruleItem struct {
	Nets     []netip.Prefix `prop:"ip-addresses"`
	Req      string         `prop:"req-filename"`
	Real     string         `prop:"real-filename"`
	Allow    bool           `prop:"allow"`
	ReadOnly bool           `prop:"read-only"`
	Rollover bool           `prop:"allow-rollover"`
	Disabled bool           `prop:"disabled"`
}

// settingsItem is /ip tftp settings as the engine applies it.
type settingsItem struct {
	MaxBlock int `prop:"max-block-size"`
}

// ruleMenu is the declaration of /ip tftp, for CompileRule.
var ruleMenu = sync.OnceValue(func() *menu.Menu {
	m, _ := menu.Default().Get(Path)
	return m
})

// CompileRule builds a rule from the stored properties of one /ip tftp item.
func CompileRule(id uint64, props map[string]string) (*Rule, error) {
	var ri ruleItem
	if err := engine.Decode(ruleMenu(), store.Item{ID: id, Props: props}, &ri); err != nil {
		return nil, err
	}
	return compileRule(id, ri)
}

func compileRule(id uint64, ri ruleItem) (*Rule, error) {
	r := &Rule{ID: id, Nets: ri.Nets, Allow: ri.Allow, ReadOnly: ri.ReadOnly, Rollover: ri.Rollover}
	expr := ri.Req
	if expr == "" {
		expr = ".*"
	}
	re, err := regexp.CompilePOSIX(expr)
	if err != nil {
		return nil, fmt.Errorf("req-filename: bad regular expression: %w", err)
	}
	r.Re = re
	r.Real, r.Need = splitGroups(ri.Real)
	for _, g := range r.Need {
		if g > re.NumSubexp() {
			return nil, fmt.Errorf("real-filename: req-filename has no group \\%d", g)
		}
	}
	return r, nil
}

// splitGroups takes the trailing \N group numbers off a real-filename:
// "/sata1/ccc.bin\0" is the file /sata1/ccc.bin, served when group 0 matched.
func splitGroups(s string) (string, []int) {
	var need []int
	for len(s) >= 2 && s[len(s)-2] == '\\' && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' {
		need = append([]int{int(s[len(s)-1] - '0')}, need...)
		s = s[:len(s)-2]
	}
	return s, need
}

// Match reports whether the rule applies to a request for name from addr, and the file
// name it resolves to.
func (r *Rule) Match(addr netip.Addr, name string) (string, bool) {
	if len(r.Nets) > 0 {
		addr = addr.Unmap()
		in := false
		for _, p := range r.Nets {
			if p.Contains(addr) {
				in = true
				break
			}
		}
		if !in {
			return "", false
		}
	}
	loc := r.Re.FindStringSubmatchIndex(name)
	if loc == nil {
		return "", false
	}
	for _, g := range r.Need {
		if loc[2*g] < 0 {
			return "", false
		}
	}
	if r.Real == "" {
		return name, true
	}
	return r.Real, true
}

// String describes the rule for logs.
func (r *Rule) String() string {
	return "*" + strings.ToUpper(strconv.FormatUint(r.ID, 16))
}

// decide returns the first rule matching the request and the resolved name.
func decide(rules []*Rule, addr netip.Addr, name string) (*Rule, string) {
	for _, r := range rules {
		if real, ok := r.Match(addr, name); ok {
			return r, real
		}
	}
	return nil, ""
}
