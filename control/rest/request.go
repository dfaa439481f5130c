package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control/api"
	"github.com/routerd/routerd/control/menu"
)

// Prefix is where the REST API lives.
const Prefix = "/rest"

// maxBody bounds a request body; the largest real ones are scripts added with PUT.
const maxBody = 1 << 20

// op is what an HTTP request does to a menu.
type op int

const (
	opPrint   op = iota // GET on a menu: print
	opGetOne            // GET on an item: print that item
	opAdd               // PUT on a menu: add, then print the new item
	opSet               // PATCH on an item or a single menu: set
	opRemove            // DELETE on an item: remove
	opCommand           // POST on menu/command: the command
)

// call is a parsed REST request: what to run, on which menu and item, with which
// arguments. It is transport-free so that the parser can be fuzzed on its own.
type call struct {
	op    op
	menu  *menu.Menu
	cmd   string // the command of opCommand
	ref   string // the item of opGetOne, opSet, opRemove: an .id (*1A) or a name
	attrs []api.Attr
	// proplist limits the properties of printed rows (comma list); hasProplist tells an
	// empty .proplist from none.
	proplist    string
	hasProplist bool
	queries     []string // API query words without '?'
}

// reqError is a request rejected before it reaches the executor.
type reqError struct {
	status int
	detail string
}

func (e *reqError) Error() string { return e.detail }

func badRequest(format string, args ...any) *reqError {
	return &reqError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// parse maps an HTTP request onto a call. path is the escaped URL path (it starts with
// Prefix), rawQuery the undecoded query string, body the request body.
func parse(tree *menu.Tree, method, path, rawQuery string, body []byte) (*call, error) {
	rest, ok := strings.CutPrefix(path, Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, &reqError{http.StatusNotFound, "no such path"}
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/")
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, "/")
	}
	for i, s := range segs {
		if s == "" {
			return nil, badRequest("no such command prefix")
		}
		// Segments are split before they are unescaped, so that an item whose name holds
		// "/" is addressed as %2F (/interface/ether1%2F1).
		u, err := url.PathUnescape(s)
		if err != nil || strings.ContainsRune(u, 0) {
			return nil, badRequest("invalid escape in the path")
		}
		segs[i] = u
	}
	menuAt := func(segs []string) (*menu.Menu, bool) {
		if len(segs) == 0 {
			return tree.Get("")
		}
		return tree.Get("/" + strings.Join(segs, "/"))
	}
	c := &call{}
	switch method {
	case http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if m, ok := menuAt(segs); ok && len(segs) > 0 {
			c.menu = m
		} else if len(segs) > 1 {
			m, ok := menuAt(segs[:len(segs)-1])
			if !ok || !holdsItems(m) {
				return nil, badRequest("no such command prefix")
			}
			c.menu, c.ref = m, segs[len(segs)-1]
		} else {
			return nil, badRequest("no such command prefix")
		}
	case http.MethodPost:
		if len(segs) == 0 {
			return nil, badRequest("no such command")
		}
		m, ok := menuAt(segs[:len(segs)-1])
		if !ok {
			return nil, badRequest("no such command prefix")
		}
		c.menu, c.cmd, c.op = m, segs[len(segs)-1], opCommand
	default:
		return nil, &reqError{http.StatusMethodNotAllowed, "method not allowed"}
	}

	switch method {
	case http.MethodGet:
		c.op = opPrint
		if c.ref != "" {
			c.op = opGetOne
		}
		if err := c.fromQuery(rawQuery); err != nil {
			return nil, err
		}
		if len(body) > 0 {
			return nil, badRequest("GET takes no body")
		}
		return c, nil
	case http.MethodPut:
		if c.ref != "" {
			return nil, badRequest("PUT adds to a menu: no item in the path")
		}
		c.op = opAdd
	case http.MethodPatch:
		if c.ref == "" && c.menu.Kind != menu.Single {
			return nil, badRequest("PATCH sets one item: give its .id in the path")
		}
		c.op = opSet
	case http.MethodDelete:
		if c.ref == "" {
			return nil, badRequest("DELETE removes one item: give its .id in the path")
		}
		c.op = opRemove
		if len(bytes.TrimSpace(body)) > 0 {
			return nil, badRequest("DELETE takes no body")
		}
		return c, nil
	}
	if rawQuery != "" {
		return nil, badRequest("arguments go in the JSON body")
	}
	if err := c.fromBody(body); err != nil {
		return nil, err
	}
	return c, nil
}

// holdsItems reports whether the menu has items a path can name.
func holdsItems(m *menu.Menu) bool {
	return m.Kind == menu.List || m.Kind == menu.Fixed || m.Kind == menu.Status
}

// fromQuery reads GET's query string: name=value filters on equality (as the API's
// ?name=value) and .proplist limits the properties.
func (c *call) fromQuery(rawQuery string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return badRequest("bad query string: %v", err)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := q[k]
		switch {
		case k == ".proplist":
			c.proplist, c.hasProplist = strings.Join(vs, ","), true
		case k == "" || strings.HasPrefix(k, "."):
			if k == ".id" {
				for _, v := range vs {
					c.queries = append(c.queries, ".id="+v)
				}
				continue
			}
			return badRequest("unknown parameter %s", k)
		default:
			for _, v := range vs {
				c.queries = append(c.queries, k+"="+v)
			}
		}
	}
	return nil
}

// fromBody reads a JSON object of arguments. Values are strings; numbers and booleans
// are taken as their text, since clients serialise them natively. ".proplist" is a list
// or a comma string, ".query" a list of API query words.
func (c *call) fromBody(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return badRequest("bad JSON body: %v", jsonText(err))
	}
	if dec.More() {
		return badRequest("bad JSON body: more than one value")
	}
	if obj == nil {
		return badRequest("bad JSON body: expected an object")
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		raw := obj[k]
		switch k {
		case ".proplist":
			l, err := stringList(raw)
			if err != nil {
				return badRequest("bad value of .proplist: %v", err)
			}
			c.proplist, c.hasProplist = strings.Join(l, ","), true
		case ".query":
			l, err := stringList(raw)
			if err != nil {
				return badRequest("bad value of .query: %v", err)
			}
			for _, q := range l {
				if q == "" {
					return badRequest("bad value of .query: empty query word")
				}
			}
			c.queries = append(c.queries, l...)
		case "":
			return badRequest("empty argument name")
		default:
			v, err := scalar(raw)
			if err != nil {
				return badRequest("bad value of %s: %v", k, err)
			}
			if strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
				return badRequest("bad argument %s", k)
			}
			c.attrs = append(c.attrs, api.Attr{Name: k, Value: v})
		}
	}
	return nil
}

// scalar reads a JSON string, number or boolean as text.
func scalar(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", errors.New(jsonText(err))
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return parseNumber(x.String())
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("expected a string, number or boolean")
}

// parseNumber turns a JSON number into the decimal text the executor takes. Fractions
// and exponents are refused, as RouterOS refuses them.
func parseNumber(s string) (string, error) {
	if strings.ContainsAny(s, ".eE") {
		return "", fmt.Errorf("only integers are accepted")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "", fmt.Errorf("integer out of range")
	}
	return strconv.FormatInt(n, 10), nil
}

// stringList reads a list of strings, or one comma-separated string.
func stringList(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return nil, nil
		}
		return strings.Split(s, ","), nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("expected a list of strings")
	}
	for _, e := range l {
		if strings.ContainsRune(e, 0) {
			return nil, fmt.Errorf("NUL in a string")
		}
	}
	return l, nil
}

// jsonText words a JSON syntax error without Go type names.
func jsonText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("expected an object at offset %d", te.Offset)
	}
	return err.Error()
}
