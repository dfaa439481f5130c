package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
)

// scope is one block's variables; a global declared in a block is bound by name.
type scope struct {
	vars    map[string]Value
	globals map[string]bool
	parent  *scope
}

// isGlobal reports whether name in this scope is bound to the global: a function's
// parameter shadows a global of the same name that the body declares (§5.7).
func (s *scope) isGlobal(name string) bool {
	if _, param := s.vars[name]; param {
		return false
	}
	return s.globals[name]
}

func (s *scope) lookup(name string) (*scope, bool) {
	for c := s; c != nil; c = c.parent {
		if _, ok := c.vars[name]; ok {
			return c, true
		}
		if c.globals[name] {
			return c, true
		}
	}
	return nil, false
}

// run is one execution of a unit.
type run struct {
	in  *Interp
	ctx context.Context
	c   *Console
	w   io.Writer
	// row is the item a where-expression is evaluated against.
	row *control.Row
	// locate: a run-time error of a top-level statement carries its position (RunFile).
	locate bool
}

// control flow signals
type returnSignal struct{ v Value }

func (returnSignal) Error() string { return "return" }

// quitSignal is quit: the whole run ends there, without an error.
type quitSignal struct{}

func (quitSignal) Error() string { return "quit" }

// Run parses src as one unit at the console's menu and runs it; output (print, :put,
// export) goes to w. A parse error anywhere runs nothing.
func (in *Interp) Run(ctx context.Context, c *Console, src string, w io.Writer) (err error) {
	return in.run(ctx, c, src, w, false)
}

// RunFile is Run for a script file run as one unit (/import without verbose): a run-time
// error is a *Error with the line and column of the top-level statement it stopped, as
// RouterOS reports an import's failure ("failure: already have such name (line 12
// column 1)"), so the operator finds the line without verbose=yes.
func (in *Interp) RunFile(ctx context.Context, c *Console, src string, w io.Writer) error {
	return in.run(ctx, c, src, w, true)
}

func (in *Interp) run(ctx context.Context, c *Console, src string, w io.Writer, locate bool) (err error) {
	stmts, path, err := Parse(src, c.Path, in.resolver())
	if err != nil {
		return err
	}
	c.Path = path
	// The unit's commands share one store transaction: an import of thousands of lines
	// costs one commit. A failing command wrote nothing, and what ran before it stays
	// applied, as RouterOS leaves it.
	if c.Sess == nil {
		c.Sess = &control.Session{}
	}
	if !c.Sess.InBatch() {
		if err := in.Ex.BeginBatch(c.Sess); err != nil {
			return err
		}
		defer func() {
			if cerr := in.Ex.EndBatch(c.Sess); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	r := &run{in: in, ctx: ctx, c: c, w: w, locate: locate}
	_, err = r.block(stmts, &scope{vars: map[string]Value{}})
	var ret returnSignal
	if errors.As(err, &ret) || errors.As(err, &quitSignal{}) {
		return nil
	}
	return err
}

// Eval runs src and returns the value of its last statement (used by tests and :parse).
func (in *Interp) Eval(ctx context.Context, c *Console, src string, w io.Writer) (Value, error) {
	stmts, _, err := Parse(src, c.Path, in.resolver())
	if err != nil {
		return nil, err
	}
	r := &run{in: in, ctx: ctx, c: c, w: w}
	return r.block(stmts, &scope{vars: map[string]Value{}})
}

func (r *run) block(stmts []Stmt, sc *scope) (Value, error) {
	top := r.locate
	r.locate = false // only the unit's own statements are located
	var last Value = Nothing{}
	for _, st := range stmts {
		if err := r.ctx.Err(); err != nil {
			return nil, &Error{Msg: "interrupted"}
		}
		if heapFull() {
			return nil, ErrNoMemory
		}
		v, err := r.stmt(st, sc)
		if err != nil {
			if top {
				err = located(err, st.pos())
			}
			return nil, err
		}
		last = v
	}
	return last, nil
}

// located gives a run-time error the position of the statement it stopped; parse errors
// and control flow keep theirs.
func located(err error, p Pos) error {
	var se *Error
	var ret returnSignal
	if errors.As(err, &ret) || errors.As(err, &quitSignal{}) || (errors.As(err, &se) && se.Line > 0) {
		return err
	}
	return &Error{Msg: err.Error(), Line: p.Line, Col: p.Col, Err: err}
}

func (r *run) stmt(st Stmt, sc *scope) (Value, error) {
	switch s := st.(type) {
	case *BlockStmt:
		return r.block(s.Stmts, &scope{vars: map[string]Value{}, parent: sc})
	case *CmdStmt:
		if s.Cmd == "" {
			if s.Block != nil {
				return r.block(s.Block, &scope{vars: map[string]Value{}, parent: sc})
			}
			return Nothing{}, nil
		}
		return r.command(s, sc, false)
	case *GlobalStmt:
		return r.global(s, sc)
	case *CallStmt:
		fn, err := r.eval(s.Fn, sc)
		if err != nil {
			return nil, err
		}
		return r.call(fn, s.Args, sc)
	case *ExprStmt:
		return r.eval(s.X, sc)
	}
	return nil, fmt.Errorf("unknown statement %T", st)
}

// command runs a menu command. In a substitution ([...]) print returns values instead of
// writing text.
func (r *run) command(s *CmdStmt, sc *scope, subst bool) (Value, error) {
	sen := &control.Sentence{Path: s.Path, Cmd: s.Cmd}
	if len(s.Args) > 0 {
		sen.Args = make([]control.Arg, 0, len(s.Args)) // an import's lines grow no slice
	}
	m, _ := r.in.Ex.Tree.Get(s.Path)
	for _, a := range s.Args {
		switch {
		case a.Flag:
			sen.Args = append(sen.Args, control.Arg{Name: a.Name, Flag: true})
		case a.Unset:
			sen.Args = append(sen.Args, control.Arg{Name: a.Name, Unset: true})
		default:
			v, err := r.eval(a.Value, sc)
			if err != nil {
				return nil, err
			}
			if code, ok := v.(*Code); ok {
				v = Str(code.Src)
			}
			sen.Args = append(sen.Args, control.Arg{Name: a.Name, Value: ToArg(v)})
		}
	}
	if !subst {
		sen.Out = r.w
		if s.Cmd == "print" && !hasFlag(sen, "as-value") {
			// print follow and interval= draw each update as it comes.
			sen.Emit = func(rep *control.Reply) error {
				live := &control.Reply{Menu: rep.Menu}
				for _, row := range rep.Rows {
					if row.Props[".dead"] == "" {
						live.Rows = append(live.Rows, row)
					}
				}
				if len(live.Rows) > 0 {
					Render(r.w, live, sen, r.c.Width)
				}
				return r.ctx.Err()
			}
		}
	}
	if s.Where != nil {
		sen.Filter = func(row *control.Row) (bool, error) {
			if err := whereNames(s.Where, row); err != nil {
				return false, err
			}
			sub := &run{in: r.in, ctx: r.ctx, c: r.c, w: r.w, row: row}
			v, err := sub.eval(s.Where, sc)
			if err != nil {
				return false, err
			}
			return sub.truth(v)
		}
	}
	rep, err := r.in.Ex.Exec(r.ctx, r.c.Sess, sen)
	if err != nil {
		return nil, control.AsError(err)
	}
	asValue := hasFlag(sen, "as-value")
	switch {
	case s.Cmd == "add":
		id, _ := control.ParseID(rep.Ret)
		return ID(id), nil
	case s.Cmd == "find":
		a := &Array{}
		for _, id := range rep.List {
			n, _ := control.ParseID(id)
			a.List = append(a.List, ID(n))
		}
		return a, nil
	case s.Cmd == "get":
		if len(rep.Rows) == 1 {
			a := rowArray(m, &rep.Rows[0])
			if !subst && r.c.Interactive {
				// get without a property at the prompt shows the item, as :put would.
				fmt.Fprintln(r.w, ToString(a))
			}
			return a, nil
		}
		name, _ := sen.Get("value-name")
		if m != nil {
			if p, ok := m.Prop(name); ok {
				return typed(p.Type, rep.Ret), nil
			}
		}
		return Str(rep.Ret), nil
	case s.Cmd == "print":
		if hasFlag(sen, "count-only") {
			n, _ := strconv.Atoi(rep.Ret)
			if !subst {
				fmt.Fprintln(r.w, n)
			}
			return Num(n), nil
		}
		if asValue || subst {
			a := &Array{}
			for i := range rep.Rows {
				a.List = append(a.List, rowArray(m, &rep.Rows[i]))
			}
			if !subst && r.c.Interactive {
				// print as-value at the prompt shows the array, as :put would.
				fmt.Fprintln(r.w, ToString(a))
			}
			return a, nil
		}
		if sen.Emit == nil || !sen.Streaming() {
			Render(r.w, rep, sen, r.c.Width)
		}
		return Nothing{}, nil
	}
	if rep.Text != "" && !subst {
		io.WriteString(r.w, rep.Text)
		if !strings.HasSuffix(rep.Text, "\n") {
			io.WriteString(r.w, "\n")
		}
	}
	if rep.Ret != "" {
		return Str(rep.Ret), nil
	}
	return Nothing{}, nil
}

func hasFlag(s *control.Sentence, name string) bool {
	for _, a := range s.Args {
		if a.Name == name {
			return a.Flag || a.Value == "yes" || a.Value == "true"
		}
	}
	return false
}

// rowArray is an item as `print as-value` and `get` without a property return it.
func rowArray(m *menu.Menu, row *control.Row) *Array {
	a := &Array{Keys: map[string]Value{".id": ID(row.ID)}}
	for k, v := range row.Props {
		var t value.Type
		if m != nil {
			if p, ok := m.Prop(k); ok {
				t = p.Type
			}
		}
		a.Keys[k] = typed(t, v)
	}
	return a
}

// eval evaluates an expression.
func (r *run) eval(x Expr, sc *scope) (Value, error) {
	switch e := x.(type) {
	case nil:
		return Nothing{}, nil
	case *Lit:
		return e.V, nil
	case *Word:
		if r.row != nil && e.S == ".id" {
			return ID(r.row.ID), nil // compares with *1 and with find's ids
		}
		if r.row != nil {
			if v, ok := r.row.Get(e.S); ok {
				var t value.Type
				if p, ok := r.row.Menu.Prop(e.S); ok {
					t = p.Type
				} else if v == "yes" || v == "no" {
					return Bool(v == "yes"), nil
				}
				return typed(t, v), nil
			}
			if r.row.Menu != nil {
				if _, ok := r.row.Menu.Prop(e.S); ok {
					return Nothing{}, nil // unset property: `where comment` is false
				}
			}
		}
		return Str(e.S), nil
	case *VarRef:
		if sc2, ok := sc.lookup(e.Name); ok {
			if sc2.isGlobal(e.Name) {
				if v, ok := r.in.Globals.Get(e.Name); ok {
					return v, nil
				}
				return Nothing{}, nil
			}
			return sc2.vars[e.Name], nil
		}
		// Variables injected by the caller (function arguments) and undeclared names.
		return Nothing{}, nil
	case *StrInterp:
		var b strings.Builder
		for _, p := range e.Parts {
			v, err := r.eval(p, sc)
			if err != nil {
				return nil, err
			}
			b.WriteString(ToString(v))
		}
		return Str(b.String()), nil
	case *Subst:
		switch s := e.S.(type) {
		case *CmdStmt:
			if s.Cmd == "" {
				return Nothing{}, nil
			}
			return r.command(s, sc, true)
		default:
			var buf strings.Builder
			sub := *r
			sub.w = &buf
			return sub.stmt(s, sc)
		}
	case *ArrayLit:
		a := &Array{}
		for i, it := range e.Items {
			v, err := r.eval(it, sc)
			if err != nil {
				return nil, err
			}
			if e.Keys[i] == "" {
				a.List = append(a.List, v)
			} else {
				a.Set(Str(e.Keys[i]), v)
			}
		}
		return a, nil
	case *CodeLit:
		return &Code{Src: e.Src, Stmts: e.Stmts, Path: r.c.Path}, nil
	case *Unary:
		v, err := r.eval(e.X, sc)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case "!":
			b, err := r.truth(v)
			return Bool(!b), err
		case "-":
			if t, ok := v.(Time); ok {
				return -t, nil
			}
			n, ok := toNum(v)
			if !ok {
				return nil, &Error{Msg: "cannot negate " + TypeOf(v)}
			}
			return Num(-n), nil
		case "~":
			if ip, ok := v.(IP); ok {
				b := netip.Addr(ip).AsSlice()
				for i := range b {
					b[i] = ^b[i]
				}
				a, _ := netip.AddrFromSlice(b)
				return IP(a), nil
			}
			n, _ := toNum(v)
			return Num(^n), nil
		}
	case *Binary:
		return r.binary(e, sc)
	}
	return nil, &Error{Msg: fmt.Sprintf("cannot evaluate %T", x)}
}

func (r *run) binary(e *Binary, sc *scope) (Value, error) {
	if e.Op == "->" {
		if v, ok, err := r.globalElement(e, sc); ok {
			return v, err
		}
	}
	l, err := r.eval(e.L, sc)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "&&", "and":
		b, err := r.truth(l)
		if err != nil || !b {
			return Bool(false), err
		}
		rv, err := r.eval(e.R, sc)
		if err != nil {
			return nil, err
		}
		b, err = r.truth(rv)
		return Bool(b), err
	case "||", "or":
		b, err := r.truth(l)
		if err != nil {
			return nil, err
		}
		if b {
			return Bool(true), nil
		}
		rv, err := r.eval(e.R, sc)
		if err != nil {
			return nil, err
		}
		b, err = r.truth(rv)
		return Bool(b), err
	case "->":
		var k Value
		if w, ok := e.R.(*Word); ok {
			k = Str(w.S)
		} else if k, err = r.eval(e.R, sc); err != nil {
			return nil, err
		}
		if a, ok := l.(*Array); ok {
			return a.Get(k), nil
		}
		return Nothing{}, nil
	}
	rv, err := r.eval(e.R, sc)
	if err != nil {
		return nil, err
	}
	return binop(e.Op, l, rv)
}

// whereNames refuses a where condition that stands on a name the menu does not have
// (`where disbled`): a word alone would otherwise be a non-empty string, true for every
// item, and `remove [find where disbled]` would empty the menu. Only words in condition
// positions are checked; the right side of `name=ether1` is a value.
func whereNames(x Expr, row *control.Row) error {
	switch e := x.(type) {
	case *Word:
		if _, ok := row.Get(e.S); ok {
			return nil
		}
		if row.Menu != nil {
			if _, ok := row.Menu.Prop(e.S); ok {
				return nil
			}
		}
		return &Error{Msg: "syntax error (no such property: " + e.S + ")"}
	case *Unary:
		if e.Op == "!" {
			return whereNames(e.X, row)
		}
	case *Binary:
		switch e.Op {
		case "&&", "and", "||", "or":
			if err := whereNames(e.L, row); err != nil {
				return err
			}
			return whereNames(e.R, row)
		}
	}
	return nil
}

// truth is the truth of a condition. In a where expression a property stands for "is
// set" (`where comment`, `where comment and disabled`), whatever its type; elsewhere it is
// toBool.
func (r *run) truth(v Value) (bool, error) {
	if r.row == nil {
		return toBool(v)
	}
	switch x := v.(type) {
	case Bool, Num, Nothing, Nil:
		return toBool(v)
	case Str:
		return x != "" && x != "no" && x != "false", nil
	}
	return true, nil
}

func binop(op string, l, r Value) (Value, error) {
	switch op {
	case "=":
		return Bool(equal(l, r)), nil
	case "!=":
		return Bool(!equal(l, r)), nil
	case "<", ">", "<=", ">=":
		c, ok := compare(l, r)
		if !ok {
			return Bool(false), nil
		}
		switch op {
		case "<":
			return Bool(c < 0), nil
		case ">":
			return Bool(c > 0), nil
		case "<=":
			return Bool(c <= 0), nil
		}
		return Bool(c >= 0), nil
	case "~":
		re, err := regexp.CompilePOSIX(ToString(r))
		if err != nil {
			return nil, &Error{Msg: "invalid regular expression"}
		}
		return Bool(re.MatchString(ToString(l))), nil
	case "in":
		return Bool(contains(l, r)), nil
	case ".":
		// An array with a string makes an element per element of the array, each
		// carrying the string: bounded as a whole, or 1000 elements with a 4 MiB
		// string would take 4 GB in one expression.
		if a, ok := r.(*Array); ok {
			return concatEach(a, ToString(l), true)
		}
		if a, ok := l.(*Array); ok {
			return concatEach(a, ToString(r), false)
		}
		ls, rs := ToString(l), ToString(r)
		if len(ls)+len(rs) > MaxValue {
			return nil, ErrValueTooLarge
		}
		return Str(ls + rs), nil
	case ",":
		out := &Array{}
		for _, v := range []Value{l, r} {
			if a, ok := v.(*Array); ok {
				out.List = append(out.List, a.List...)
				for k, x := range a.Keys {
					out.Set(Str(k), x)
				}
			} else {
				out.List = append(out.List, v)
			}
			if out.Len() > MaxElements {
				return nil, ErrTooManyElements
			}
		}
		return out, nil
	}
	return arith(op, l, r)
}

func arith(op string, l, r Value) (Value, error) {
	lt, lok := l.(Time)
	rt, rok := r.(Time)
	if lok || rok {
		if lok && rok {
			switch op {
			case "+":
				return lt + rt, nil
			case "-":
				return lt - rt, nil
			}
		}
		if n, ok := toNum(r); lok && ok {
			switch op {
			case "*":
				return lt * Time(n), nil
			case "/":
				if n == 0 {
					return nil, &Error{Msg: "division by zero"}
				}
				return lt / Time(n), nil
			}
		}
		if n, ok := toNum(l); rok && ok && op == "*" {
			return rt * Time(n), nil
		}
		return nil, &Error{Msg: fmt.Sprintf("cannot %s %s and %s", opName(op), TypeOf(l), TypeOf(r))}
	}
	if ip, ok := l.(IP); ok {
		a := netip.Addr(ip)
		if o, ok := r.(IP); ok {
			if op == "-" && a.Is4() && netip.Addr(o).Is4() {
				return Num(int64(ip4(a)) - int64(ip4(netip.Addr(o)))), nil
			}
			if op == "&" || op == "|" || op == "^" {
				return ipBits(op, a, netip.Addr(o)), nil
			}
			return nil, &Error{Msg: "cannot add ip address to ip address"}
		}
		if n, ok := toNum(r); ok && a.Is4() {
			switch op {
			case "+":
				return IP(fromIP4(ip4(a) + uint32(n))), nil
			case "-":
				return IP(fromIP4(ip4(a) - uint32(n))), nil
			}
		}
	}
	a, aok := toNum(l)
	b, bok := toNum(r)
	if !aok || !bok {
		if op == "+" {
			return nil, &Error{Msg: fmt.Sprintf("cannot add %s to %s", TypeOf(r), TypeOf(l))}
		}
		return nil, &Error{Msg: fmt.Sprintf("cannot %s %s and %s", opName(op), TypeOf(l), TypeOf(r))}
	}
	switch op {
	case "+":
		return Num(a + b), nil
	case "-":
		return Num(a - b), nil
	case "*":
		return Num(a * b), nil
	case "/", "%":
		if b == 0 {
			return nil, &Error{Msg: "division by zero"}
		}
		if op == "/" {
			return Num(a / b), nil
		}
		return Num(a % b), nil
	case "&":
		return Num(a & b), nil
	case "|":
		return Num(a | b), nil
	case "^":
		return Num(a ^ b), nil
	case "<<":
		return Num(a << uint(b)), nil
	case ">>":
		return Num(a >> uint(b)), nil
	}
	return nil, &Error{Msg: "unknown operator " + op}
}

func opName(op string) string {
	switch op {
	case "-":
		return "subtract"
	case "*":
		return "multiply"
	case "/":
		return "divide"
	}
	return "apply " + op + " to"
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func fromIP4(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func ipBits(op string, a, b netip.Addr) Value {
	x, y := a.AsSlice(), b.AsSlice()
	if len(x) != len(y) {
		return Nothing{}
	}
	for i := range x {
		switch op {
		case "&":
			x[i] &= y[i]
		case "|":
			x[i] |= y[i]
		case "^":
			x[i] ^= y[i]
		}
	}
	out, _ := netip.AddrFromSlice(x)
	return IP(out)
}

func equal(l, r Value) bool {
	if c, ok := compare(l, r); ok {
		return c == 0
	}
	if la, ok := l.(*Array); ok {
		if ra, ok := r.(*Array); ok {
			return ToString(la) == ToString(ra)
		}
		// An empty find result compares equal to "", a single one to its id
		// (`remove [find where .id=$x]` with x from another find).
		if len(la.List) == 1 && len(la.Keys) == 0 {
			return equal(la.List[0], r)
		}
		return la.Len() == 0 && ToString(r) == ""
	}
	if _, ok := r.(*Array); ok {
		return equal(r, l)
	}
	return ToString(l) == ToString(r)
}

// compare orders two values of comparable types.
func compare(l, r Value) (int, bool) {
	switch a := l.(type) {
	case Num:
		if b, ok := toNum(r); ok {
			return cmp3(int64(a), b), true
		}
	case Time:
		if b, ok := r.(Time); ok {
			return cmp3(int64(a), int64(b)), true
		}
	case IP:
		if b, ok := r.(IP); ok {
			return netip.Addr(a).Compare(netip.Addr(b)), true
		}
	case Str:
		switch b := r.(type) {
		case Str:
			return strings.Compare(string(a), string(b)), true
		case Num:
			if n, ok := toNum(a); ok {
				return cmp3(n, int64(b)), true
			}
		}
	case Bool:
		if b, ok := r.(Bool); ok {
			if a == b {
				return 0, true
			}
			return 1, true
		}
	case Nothing:
		if _, ok := r.(Nothing); ok {
			return 0, true
		}
	}
	return 0, false
}

func cmp3(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func contains(l, r Value) bool {
	var pf netip.Prefix
	switch x := r.(type) {
	case Prefix:
		pf = netip.Prefix(x)
	case Str:
		p, err := netip.ParsePrefix(string(x))
		if err != nil {
			return false
		}
		pf = p
	case *Array:
		found := false
		x.each(func(_, v Value) bool { found = equal(l, v); return !found })
		return found
	default:
		return false
	}
	switch x := l.(type) {
	case IP:
		return pf.Contains(netip.Addr(x))
	case Prefix:
		p := netip.Prefix(x)
		return p.Bits() >= pf.Bits() && pf.Contains(p.Addr())
	case Str:
		if p, err := netip.ParsePrefix(string(x)); err == nil {
			return p.Bits() >= pf.Bits() && pf.Contains(p.Addr())
		}
		if a, err := netip.ParseAddr(string(x)); err == nil {
			return pf.Contains(a)
		}
	}
	return false
}

// call runs a function value with arguments: named ones become variables, unnamed ones
// $1, $2 ...
func (r *run) call(fn Value, args []*ArgNode, sc *scope) (Value, error) {
	code, ok := fn.(*Code)
	if !ok {
		return nil, &Error{Msg: "cannot call " + TypeOf(fn)}
	}
	inner := &scope{vars: map[string]Value{}}
	n := 1
	for _, a := range args {
		v, err := r.eval(a.Value, sc)
		if err != nil {
			return nil, err
		}
		if v, err = hold(v); err != nil {
			return nil, err
		}
		if a.Name == "" {
			inner.vars[strconv.Itoa(n)] = v
			n++
		} else {
			inner.vars[a.Name] = v
		}
	}
	sub, err := r.deeper()
	if err != nil {
		return nil, err
	}
	v, err := sub.block(code.Stmts, inner)
	var ret returnSignal
	if errors.As(err, &ret) {
		return ret.v, nil
	}
	return v, err
}

// argsOf splits global command arguments into unnamed values and named ones.
func (r *run) argsOf(args []*ArgNode, sc *scope) ([]Expr, map[string]Expr) {
	var pos []Expr
	named := map[string]Expr{}
	for _, a := range args {
		if a.Name == "" {
			pos = append(pos, a.Value)
		} else {
			named[a.Name] = a.Value
		}
	}
	return pos, named
}

// hold checks v against the value limits and makes it a variable's own (see own).
func hold(v Value) (Value, error) {
	v = own(v)
	if _, _, err := measure(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// setElement is `:set ($a->k1->k2...) v`: the path's keys are evaluated left to right,
// then v, and v is written into $a, a local or a global (see setPath). A path that does
// not start at a variable writes into a value nobody holds: it is evaluated, and
// nothing is kept.
func (r *run) setElement(target *Binary, vx Expr, sc *scope) (Value, error) {
	var kx []Expr
	x := Expr(target)
	for {
		b, ok := x.(*Binary)
		if !ok || b.Op != "->" {
			break
		}
		if len(kx) >= MaxArrayDepth {
			return nil, ErrArrayTooDeep
		}
		kx = append(kx, b.R)
		x = b.L
	}
	slices.Reverse(kx)
	keys := make([]Value, len(kx))
	for i, e := range kx {
		if w, ok := e.(*Word); ok {
			keys[i] = Str(w.S)
			continue
		}
		k, err := r.eval(e, sc)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	v, err := r.eval(vx, sc)
	if err != nil {
		return nil, err
	}
	ref, isVar := x.(*VarRef)
	if !isVar {
		if _, err := r.eval(x, sc); err != nil {
			return nil, err
		}
		return Nothing{}, nil
	}
	holder, ok := sc.lookup(ref.Name)
	if !ok {
		return nil, errNotArray
	}
	if holder.isGlobal(ref.Name) {
		return Nothing{}, r.in.Globals.SetElement(ref.Name, keys, v, r.c.Sess)
	}
	root, _, err := setPath(holder.vars[ref.Name], keys, v, nil)
	if err != nil {
		return nil, err
	}
	holder.vars[ref.Name] = root
	return Nothing{}, nil
}

// globalElement reads `$g->k1->k2...` of a global g without handing out all of g:
// reading an element of a big global map (a counter per address) would otherwise
// freeze the map, and the next write of an element would copy it (see Globals). ok is
// false when the path does not start at a global.
func (r *run) globalElement(e *Binary, sc *scope) (Value, bool, error) {
	var kx []Expr
	x := Expr(e)
	for {
		b, ok := x.(*Binary)
		if !ok || b.Op != "->" {
			break
		}
		kx = append(kx, b.R)
		x = b.L
	}
	ref, ok := x.(*VarRef)
	if !ok {
		return nil, false, nil
	}
	holder, ok := sc.lookup(ref.Name)
	if !ok || !holder.isGlobal(ref.Name) {
		return nil, false, nil
	}
	slices.Reverse(kx)
	keys := make([]Value, len(kx))
	for i, k := range kx {
		if w, ok := k.(*Word); ok {
			keys[i] = Str(w.S)
			continue
		}
		v, err := r.eval(k, sc)
		if err != nil {
			return nil, true, err
		}
		keys[i] = v
	}
	return r.in.Globals.Element(ref.Name, keys), true, nil
}

// varName reads a variable name argument (:local NAME, :set NAME).
func varName(x Expr) (string, bool) {
	switch e := x.(type) {
	case *Word:
		return e.S, true
	case *Lit:
		if s, ok := e.V.(Str); ok {
			return string(s), true
		}
		return ToString(e.V), true
	case *VarRef:
		return e.Name, true
	}
	return "", false
}

func (r *run) global(s *GlobalStmt, sc *scope) (Value, error) {
	pos, named := r.argsOf(s.Args, sc)
	ev := func(x Expr) (Value, error) { return r.eval(x, sc) }
	arg := func(i int, name string) Expr {
		if x, ok := named[name]; ok && name != "" {
			return x
		}
		if i >= 0 && i < len(pos) {
			return pos[i]
		}
		return nil
	}
	switch s.Name {
	case "put":
		v, err := ev(arg(0, "message"))
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(r.w, ToString(v))
		return Nothing{}, nil
	case "log":
		level := "info"
		msgX := arg(1, "message")
		if len(pos) > 0 {
			if w, ok := varName(pos[0]); ok {
				level = w
			}
		}
		if len(pos) == 1 && named["message"] == nil {
			msgX = nil
		}
		switch level {
		case "debug", "info", "warning", "error":
		default:
			return nil, &Error{Msg: "bad log level " + level, Line: s.P.Line, Col: s.P.Col}
		}
		v, err := ev(msgX)
		if err != nil {
			return nil, err
		}
		if r.in.Log != nil {
			r.in.Log("script,"+level, ToString(v))
		}
		return Nothing{}, nil
	case "local", "global":
		name, ok := varName(arg(0, ""))
		if !ok {
			return nil, &Error{Msg: "syntax error", Line: s.P.Line, Col: s.P.Col}
		}
		// The value is unnamed, or do={...} for a function (`:global add2 do={...}`).
		if s.Name == "global" {
			if sc.globals == nil {
				sc.globals = map[string]bool{}
			}
			sc.globals[name] = true
			if x := arg(1, "do"); x != nil {
				v, err := ev(x)
				if err != nil {
					return nil, err
				}
				if err := r.in.Globals.SetBy(name, v, r.c.Sess); err != nil {
					return nil, err
				}
			}
			return Nothing{}, nil
		}
		v, err := ev(arg(1, "do"))
		if err != nil {
			return nil, err
		}
		if v, err = hold(v); err != nil {
			return nil, err
		}
		sc.vars[name] = v
		return Nothing{}, nil
	case "set":
		target := arg(0, "")
		if b, ok := target.(*Binary); ok && b.Op == "->" {
			return r.setElement(b, arg(1, ""), sc)
		}
		name, ok := varName(target)
		if !ok {
			return nil, &Error{Msg: "syntax error", Line: s.P.Line, Col: s.P.Col}
		}
		owner, ok := sc.lookup(name)
		if !ok {
			return nil, &Error{Msg: "no such variable " + name}
		}
		if len(pos) < 2 {
			if owner.isGlobal(name) {
				r.in.Globals.Delete(name)
			} else {
				delete(owner.vars, name)
			}
			return Nothing{}, nil
		}
		v, err := ev(pos[1])
		if err != nil {
			return nil, err
		}
		if owner.isGlobal(name) {
			if err := r.in.Globals.SetBy(name, v, r.c.Sess); err != nil {
				return nil, err
			}
		} else {
			if v, err = hold(v); err != nil {
				return nil, err
			}
			owner.vars[name] = v
		}
		return Nothing{}, nil
	case "if":
		c, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		b, err := toBool(c)
		if err != nil {
			return nil, err
		}
		if b {
			return r.runCode(named["do"], sc)
		}
		if named["else"] != nil {
			return r.runCode(named["else"], sc)
		}
		return Nothing{}, nil
	case "while":
		for i := 0; ; i++ {
			c, err := ev(arg(0, ""))
			if err != nil {
				return nil, err
			}
			if b, err := toBool(c); err != nil || !b {
				return Nothing{}, err
			}
			if _, err := r.runCode(named["do"], sc); err != nil {
				return nil, err
			}
			if err := r.ctx.Err(); err != nil {
				return nil, &Error{Msg: "interrupted"}
			}
		}
	case "do":
		body := arg(0, "command")
		if named["on-error"] != nil {
			v, err := r.runCode(body, sc)
			var e *Error
			var ce *control.Error
			if err != nil && (errors.As(err, &e) || errors.As(err, &ce)) {
				return r.runCode(named["on-error"], sc)
			}
			return v, err
		}
		for {
			if _, err := r.runCode(body, sc); err != nil {
				return nil, err
			}
			if named["while"] == nil {
				return Nothing{}, nil
			}
			c, err := ev(named["while"])
			if err != nil {
				return nil, err
			}
			if b, err := toBool(c); err != nil || !b {
				return Nothing{}, err
			}
			if err := r.ctx.Err(); err != nil {
				return nil, &Error{Msg: "interrupted"}
			}
		}
	case "for":
		name, _ := varName(arg(0, ""))
		from, to, err := r.numPair(named["from"], named["to"], sc)
		if err != nil {
			return nil, err
		}
		step := int64(1)
		if from > to {
			step = -1
		}
		if named["step"] != nil {
			sv, err := ev(named["step"])
			if err != nil {
				return nil, err
			}
			step, _ = toNum(sv)
			if step == 0 {
				return nil, &Error{Msg: "step cannot be 0"}
			}
		}
		for i := from; (step > 0 && i <= to) || (step < 0 && i >= to); i += step {
			inner := &scope{vars: map[string]Value{name: Num(i)}, parent: sc}
			if _, err := r.runCodeIn(named["do"], inner); err != nil {
				return nil, err
			}
			if err := r.ctx.Err(); err != nil {
				return nil, &Error{Msg: "interrupted"}
			}
		}
		return Nothing{}, nil
	case "foreach":
		spec, _ := varName(arg(0, ""))
		coll, err := ev(named["in"])
		if err != nil {
			return nil, err
		}
		kname, vname := "", spec
		if i := strings.IndexByte(spec, ','); i >= 0 {
			kname, vname = spec[:i], spec[i+1:]
		}
		a, ok := coll.(*Array)
		if !ok {
			a = &Array{List: []Value{coll}}
			if _, isNothing := coll.(Nothing); isNothing {
				a.List = nil
			}
		}
		var ferr error
		a.each(func(k, v Value) bool {
			// The loop variable is the element's copy: a write to it leaves the array.
			inner := &scope{vars: map[string]Value{vname: own(v)}, parent: sc}
			if kname != "" {
				inner.vars[kname] = k
			}
			_, ferr = r.runCodeIn(named["do"], inner)
			return ferr == nil
		})
		return Nothing{}, ferr
	case "error":
		v, err := ev(arg(0, "message"))
		if err != nil {
			return nil, err
		}
		return nil, &Error{Msg: ToString(v)}
	case "quit":
		return nil, quitSignal{}
	case "return":
		v, err := ev(arg(0, "value"))
		if err != nil {
			return nil, err
		}
		return nil, returnSignal{v}
	case "onerror":
		name, _ := varName(arg(0, ""))
		body := named["in"]
		if body == nil {
			body = arg(1, "")
		}
		_, err := r.runCode(body, sc)
		if err == nil {
			return Bool(false), nil
		}
		var ret returnSignal
		if errors.As(err, &ret) || errors.As(err, &quitSignal{}) {
			return nil, err
		}
		inner := &scope{vars: map[string]Value{name: Str(errText(err))}, parent: sc}
		if _, err := r.runCodeIn(named["do"], inner); err != nil {
			return nil, err
		}
		return Bool(true), nil
	case "delay":
		v, err := ev(arg(0, "delay-time"))
		if err != nil {
			return nil, err
		}
		d := time.Second
		switch x := v.(type) {
		case Time:
			d = time.Duration(x)
		case Num:
			d = time.Duration(x) * time.Second
		default:
			if dd, err := value.ParseDuration(ToString(v)); err == nil {
				d = dd
			}
		}
		// A long script must not hold the store's writer across a sleep; a dry run
		// (one transaction, rolled back) does not sleep at all.
		if err := r.in.Ex.FlushBatch(r.c.Sess); err != nil {
			return nil, err
		}
		if r.c.Sess.DryRun {
			return Nothing{}, nil
		}
		select {
		case <-time.After(d):
		case <-r.ctx.Done():
			return nil, &Error{Msg: "interrupted"}
		}
		return Nothing{}, nil
	case "len":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case *Array:
			return Num(x.Len()), nil
		case Nothing, Nil:
			return Num(0), nil
		}
		return Num(len(ToString(v))), nil
	case "typeof":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		return Str(TypeOf(v)), nil
	case "tostr":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		return Str(ToString(v)), nil
	case "tonum":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		if n, ok := toNum(v); ok {
			return Num(n), nil
		}
		return Nothing{}, nil
	case "tobool":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		b, err := toBool(v)
		if err != nil {
			return Nothing{}, nil
		}
		return Bool(b), nil
	case "totime":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		if t, ok := v.(Time); ok {
			return t, nil
		}
		if d, err := value.ParseDuration(ToString(v)); err == nil {
			return Time(d), nil
		}
		return Nothing{}, nil
	case "toip", "toip6":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(ToString(v)); err == nil && (a.Is4() == (s.Name == "toip")) {
			return IP(a), nil
		}
		return Nothing{}, nil
	case "toid":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		if id, ok := control.ParseID(ToString(v)); ok {
			return ID(id), nil
		}
		return Nothing{}, nil
	case "toarray":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		if a, ok := v.(*Array); ok {
			return a, nil
		}
		a := &Array{}
		if s := ToString(v); s != "" {
			for _, part := range strings.Split(s, ",") {
				if c := classify(part); c != nil {
					a.List = append(a.List, c)
				} else {
					a.List = append(a.List, Str(part))
				}
			}
		}
		return a, nil
	case "pick":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		sv, err := ev(arg(1, ""))
		if err != nil {
			return nil, err
		}
		start, _ := toNum(sv)
		end := start + 1
		hasEnd := arg(2, "") != nil
		if hasEnd {
			ev2, err := ev(arg(2, ""))
			if err != nil {
				return nil, err
			}
			end, _ = toNum(ev2)
		}
		if a, ok := v.(*Array); ok {
			if !hasEnd {
				return a.Get(Num(start)), nil
			}
			out := &Array{}
			for i := start; i < end && int(i) < len(a.List); i++ {
				if i >= 0 {
					out.List = append(out.List, a.List[i])
				}
			}
			return out, nil
		}
		str := ToString(v)
		if start < 0 {
			start = 0
		}
		if end > int64(len(str)) {
			end = int64(len(str))
		}
		if start >= end {
			return Str(""), nil
		}
		return Str(str[start:end]), nil
	case "find":
		hay, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		needle, err := ev(arg(1, ""))
		if err != nil {
			return nil, err
		}
		from := int64(-1)
		if x := arg(2, ""); x != nil {
			fv, err := ev(x)
			if err != nil {
				return nil, err
			}
			from, _ = toNum(fv)
		}
		if a, ok := hay.(*Array); ok {
			for i, v := range a.List {
				if int64(i) > from && equal(v, needle) {
					return Num(i), nil
				}
			}
			return Nil{}, nil
		}
		s := ToString(hay)
		start := int(from + 1)
		if start < 0 {
			start = 0
		}
		if start <= len(s) {
			if i := strings.Index(s[start:], ToString(needle)); i >= 0 {
				return Num(start + i), nil
			}
		}
		return Nil{}, nil
	case "timestamp":
		return Time(time.Since(time.Unix(0, 0))), nil
	case "nothing":
		return Nothing{}, nil
	case "jobname":
		return Str(""), nil
	case "range":
		f, t, err := r.numPair(arg(0, "from"), arg(1, "to"), sc)
		if err != nil {
			return nil, err
		}
		a := &Array{}
		for i := f; i <= t && i-f < 100000; i++ {
			a.List = append(a.List, Num(i))
		}
		return a, nil
	case "rndnum":
		f, t, err := r.numPair(named["from"], named["to"], sc)
		if err != nil {
			return nil, err
		}
		if t < f {
			return nil, &Error{Msg: "invalid range"}
		}
		return Num(f + rand.Int64N(t-f+1)), nil
	case "time":
		start := time.Now()
		if _, err := r.runCode(arg(0, ""), sc); err != nil {
			return nil, err
		}
		return Time(time.Since(start)), nil
	case "parse":
		v, err := ev(arg(0, ""))
		if err != nil {
			return nil, err
		}
		stmts, _, err := Parse(ToString(v), r.c.Path, r.in.resolver())
		if err != nil {
			return nil, err
		}
		return &Code{Src: ToString(v), Stmts: stmts, Path: r.c.Path}, nil
	case "environment":
		for _, n := range r.in.Globals.Names() {
			v, _ := r.in.Globals.Get(n)
			fmt.Fprintf(r.w, "%s=%s\n", n, ToString(v))
		}
		return Nothing{}, nil
	case "beep", "terminal", "lock":
		return Nothing{}, nil
	}
	if v, ok, err := r.moreGlobal(s.Name, pos, named, sc); ok {
		return v, err
	}
	return nil, &Error{Msg: "not supported: :" + s.Name}
}

// numPair evaluates two numeric arguments (from= and to= of :for, :range, :rndnum).
func (r *run) numPair(a, b Expr, sc *scope) (int64, int64, error) {
	av, err := r.eval(a, sc)
	if err != nil {
		return 0, 0, err
	}
	bv, err := r.eval(b, sc)
	if err != nil {
		return 0, 0, err
	}
	x, _ := toNum(av)
	y, _ := toNum(bv)
	return x, y, nil
}

func errText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return control.AsError(err).Msg
}

// runCode runs a do={...} argument (or any expression yielding code) in a new scope.
func (r *run) runCode(x Expr, sc *scope) (Value, error) {
	return r.runCodeIn(x, &scope{vars: map[string]Value{}, parent: sc})
}

func (r *run) runCodeIn(x Expr, sc *scope) (Value, error) {
	if x == nil {
		return Nothing{}, nil
	}
	if c, ok := x.(*CodeLit); ok {
		return r.block(c.Stmts, sc)
	}
	v, err := r.eval(x, sc.parent)
	if err != nil {
		return nil, err
	}
	if c, ok := v.(*Code); ok {
		sub, err := r.deeper()
		if err != nil {
			return nil, err
		}
		return sub.block(c.Stmts, sc)
	}
	return v, nil
}

// maxDepth bounds nested runs of code values (function calls, do=$f): a script that
// recurses without end fails instead of exhausting the daemon's stack.
const maxDepth = 1000

// depthKey holds the nesting depth in the run's context, so that it follows the run into
// where filters and into scripts started by commands.
type depthKey struct{}

// deeper returns a copy of r one level deeper, or an error past maxDepth.
func (r *run) deeper() (*run, error) {
	d, _ := r.ctx.Value(depthKey{}).(int)
	if d >= maxDepth {
		return nil, &Error{Msg: "maximum call depth exceeded"}
	}
	sub := *r
	sub.ctx = context.WithValue(r.ctx, depthKey{}, d+1)
	return &sub, nil
}
