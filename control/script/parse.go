package script

import (
	"sort"
	"strings"

	"github.com/routerd/routerd/control"
)

// Resolver is what the parser needs to know of the menu tree: path and command words are
// resolved while parsing, as RouterOS does, so that an unknown word fails the whole unit
// before anything runs.
type Resolver interface {
	Children(path string) []string
	Commands(path string) []string
	Command(path, cmd string) (control.CommandSpec, bool)
	// Props lists the property names usable as arguments of commands with Props set.
	Props(path string) []string
	// IsCode reports whether a property holds script source (source=, on-event=).
	IsCode(path, prop string) bool
}

// globals are the global commands (§5.6); they may be written without ':' where no menu
// word shadows them.
var globals = map[string]bool{
	"put": true, "log": true, "delay": true, "local": true, "global": true, "set": true,
	"if": true, "while": true, "do": true, "for": true, "foreach": true, "error": true,
	"return": true, "onerror": true, "retry": true, "execute": true, "parse": true,
	"find": true, "pick": true, "len": true, "typeof": true, "toarray": true, "tobool": true,
	"toid": true, "toip": true, "toip6": true, "tonum": true, "tostr": true, "totime": true,
	"resolve": true, "time": true, "timestamp": true, "environment": true, "jobname": true,
	"nothing": true, "range": true, "rndnum": true, "rndstr": true, "beep": true,
	"terminal": true, "tonsec": true, "convert": true, "lock": true, "serialize": true,
	"deserialize": true, "grep": true, "tocrlf": true, "tolf": true,
	// quit is the console's /quit; RouterOS's exported scripts end with it.
	"quit": true,
}

// unnamedCode are the global commands whose unnamed {} argument is code (`:do {...}`,
// `:time {...}`, `:onerror e {...} do=`); elsewhere an unnamed {} is an array literal
// (`:local a {1;2;3}`, `:put [:len {a=1;b=2}]`).
var unnamedCode = map[string]bool{"do": true, "execute": true, "time": true, "retry": true, "onerror": true}

// emptyBraces reports whether the cursor is at {} with only blanks inside.
func (p *parser) emptyBraces() bool {
	j := p.i + 1
	for j < len(p.src) && (p.src[j] == ' ' || p.src[j] == '\t') {
		j++
	}
	return j < len(p.src) && p.src[j] == '}'
}

// codeArgs are arguments of global commands whose {} value is code, not an array.
var codeArgs = map[string]bool{"do": true, "else": true, "on-error": true, "in": true, "command": true}

type parser struct {
	src   string
	i     int
	res   Resolver
	named map[string][]string // argNames by menu and command
	path  string              // current menu while parsing
	lines []int               // offsets of line starts, built on the first error or position
	depth int                 // nesting of blocks, substitutions, parentheses and unary operators
	// inParen counts the parentheses around the cursor: there line ends are blanks, also
	// inside a command substitution (`([/system` newline `identity get name] . "x")`, as
	// the manual's backup-by-mail example writes it). A code block resets it.
	inParen int
}

// Limits on what one unit may hold. Parsing and running are recursive, so nesting
// costs Go stack: without a bound, a few megabytes of `[` overflow it and take the
// daemon down with every session. Real scripts nest a handful of levels.
const (
	// MaxNesting bounds blocks, [substitutions], (parentheses), arrays and unary
	// operators inside each other.
	MaxNesting = 128
	// MaxOperands bounds the operands of one chain of binary operators (a+b+c...),
	// which evaluation walks recursively too.
	MaxOperands = 512
	// MaxSource bounds the text of one unit (a console line, a script's source, an
	// import file).
	MaxSource = 8 << 20
)

// ErrTooDeep and ErrTooLarge are the parse errors of the limits above.
var (
	ErrTooDeep  = &Error{Msg: "syntax error (nesting too deep)"}
	ErrTooLarge = &Error{Msg: "syntax error (script too large)"}
)

// enter counts one level of nesting; the caller defers p.leave().
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxNesting {
		pos := p.posOf(p.i)
		return &Error{Msg: ErrTooDeep.Msg, Line: pos.Line, Col: pos.Col}
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// Parse parses src as one unit at menu path cwd. It returns the statements and the menu
// the unit leaves current (a path alone on a line at top level changes it).
func Parse(src string, cwd string, res Resolver) ([]Stmt, string, error) {
	if len(src) > MaxSource {
		return nil, cwd, ErrTooLarge
	}
	p := &parser{src: src, res: memo(res), path: cwd}
	stmts, err := p.stmtList(0)
	if err != nil {
		return nil, cwd, err
	}
	if p.i < len(p.src) {
		return nil, cwd, p.errAt(p.i, "syntax error")
	}
	return stmts, p.path, nil
}

// memoResolver remembers a resolver's answers for one parse: an import asks the same
// questions (the menu's sub-menus, commands and properties) for each of its thousands of
// lines, and the answers do not change while it is parsed.
type memoResolver struct {
	r        Resolver
	children map[string][]string
	commands map[string][]string
	props    map[string][]string
}

func memo(r Resolver) Resolver {
	if _, ok := r.(*memoResolver); ok || r == nil {
		return r
	}
	return &memoResolver{r: r, children: map[string][]string{}, commands: map[string][]string{},
		props: map[string][]string{}}
}

func memoize(m map[string][]string, key string, fn func(string) []string) []string {
	v, ok := m[key]
	if !ok {
		v = fn(key)
		m[key] = v
	}
	return v
}

func (m *memoResolver) Children(path string) []string {
	return memoize(m.children, path, m.r.Children)
}
func (m *memoResolver) Commands(path string) []string {
	return memoize(m.commands, path, m.r.Commands)
}
func (m *memoResolver) Props(path string) []string { return memoize(m.props, path, m.r.Props) }
func (m *memoResolver) Command(path, cmd string) (control.CommandSpec, bool) {
	return m.r.Command(path, cmd)
}
func (m *memoResolver) IsCode(path, prop string) bool { return m.r.IsCode(path, prop) }

// argNames lists the names an argument of cmd at path may take, once per parse.
func (p *parser) argNames(path, cmd string, spec control.CommandSpec) []string {
	key := path + "\x00" + cmd
	if named, ok := p.named[key]; ok {
		return named
	}
	var named []string
	named = append(named, spec.Args...)
	named = append(named, spec.Positional...)
	named = append(named, spec.Flags...)
	if spec.Props {
		named = append(named, p.res.Props(path)...)
	}
	if p.named == nil {
		p.named = map[string][]string{}
	}
	p.named[key] = named
	return named
}

func (p *parser) posOf(i int) Pos {
	if p.lines == nil {
		p.lines = []int{0}
		for j := 0; j < len(p.src); j++ {
			if p.src[j] == '\n' {
				p.lines = append(p.lines, j+1)
			}
		}
	}
	if i > len(p.src) {
		i = len(p.src)
	}
	// The last line start at or before i.
	l := sort.SearchInts(p.lines, i+1) - 1
	return Pos{l + 1, i - p.lines[l] + 1}
}

func (p *parser) errAt(i int, msg string) error {
	pos := p.posOf(i)
	return &Error{Msg: msg, Line: pos.Line, Col: pos.Col}
}

func (p *parser) peek() byte {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *parser) at(s string) bool { return strings.HasPrefix(p.src[p.i:], s) }

// space skips blanks within a statement: spaces, tabs and backslash line joins.
func (p *parser) space() {
	for p.i < len(p.src) {
		switch c := p.src[p.i]; {
		case c == ' ' || c == '\t' || p.inParen > 0 && (c == '\n' || c == '\r'):
			p.i++
		case c == '\\' && (p.at("\\\n") || p.at("\\\r\n")):
			p.i += 2
			if p.src[p.i-1] == '\r' {
				p.i++
			}
		default:
			return
		}
	}
}

// spaceNL skips blanks including line ends (inside brackets and parentheses).
func (p *parser) spaceNL() {
	for {
		p.space()
		if c := p.peek(); c == '\n' || c == '\r' {
			p.i++
			continue
		}
		return
	}
}

// endOfStmt reports whether the statement ends here.
func (p *parser) endOfStmt() bool {
	c := p.peek()
	return c == 0 || (c == '\n' || c == '\r') && p.inParen == 0 || c == ';' || c == '}' || c == ']' || c == ')'
}

// stmtList parses statements until the closing byte (0: end of input).
func (p *parser) stmtList(close byte) ([]Stmt, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var out []Stmt
	for {
		p.space()
		c := p.peek()
		switch {
		case c == 0:
			if close != 0 {
				return nil, p.errAt(p.i, "syntax error")
			}
			return out, nil
		case c == close && close != 0:
			return out, nil
		case c == '\n' || c == '\r' || c == ';':
			p.i++
			continue
		case c == '#':
			for p.i < len(p.src) && p.src[p.i] != '\n' {
				p.i++
			}
			continue
		case c == '}' || c == ']' || c == ')':
			return nil, p.errAt(p.i, "syntax error")
		}
		st, err := p.stmt()
		if err != nil {
			return nil, err
		}
		if st != nil {
			out = append(out, st)
		}
		p.space()
		if c := p.peek(); c == '#' {
			for p.i < len(p.src) && p.src[p.i] != '\n' {
				p.i++
			}
		} else if !p.endOfStmt() {
			return nil, p.errAt(p.i, "expected end of command")
		}
	}
}

func (p *parser) stmt() (Stmt, error) {
	start := p.i
	pos := p.posOf(start)
	switch c := p.peek(); {
	case c == '{':
		p.i++
		saved, savedParen := p.path, p.inParen
		p.inParen = 0
		stmts, err := p.stmtList('}')
		if err != nil {
			return nil, err
		}
		p.path, p.inParen = saved, savedParen
		p.i++
		return &BlockStmt{P: pos, Stmts: stmts}, nil
	case c == ':':
		p.i++
		name := p.word()
		if name == "" {
			return nil, p.errAt(p.i, "syntax error")
		}
		if !globals[name] {
			return nil, p.errAt(start+1, "bad command name "+name)
		}
		return p.global(pos, name)
	case c == '$':
		fn, err := p.primary()
		if err != nil {
			return nil, err
		}
		args, err := p.looseArgs("")
		if err != nil {
			return nil, err
		}
		return &CallStmt{P: pos, Fn: fn, Args: args}, nil
	case c == '(' || c == '[':
		x, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		return &ExprStmt{P: pos, X: x}, nil
	}
	return p.command(pos)
}

// word reads a menu/command/argument word.
func (p *parser) word() string {
	s := p.i
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c == '-' || c == '_' || c == '.' || isAlnum(c) {
			p.i++
			continue
		}
		break
	}
	return p.src[s:p.i]
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// match resolves w against candidates: exact, or the one candidate it is a prefix of.
func match(w string, cands []string) (string, bool) {
	var hit []string
	for _, c := range cands {
		if c == w {
			return c, true
		}
		if strings.HasPrefix(c, w) {
			hit = append(hit, c)
		}
	}
	if len(hit) == 1 {
		return hit[0], true
	}
	return "", false
}

func join(path, child string) string { return path + "/" + child }

func up(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return ""
}

// command parses [path] [command args]. A path alone changes the current menu.
func (p *parser) command(pos Pos) (Stmt, error) {
	start := p.i
	cur := p.path
	moved := false
	if p.peek() == '/' {
		cur, moved = "", true
		p.i++
	}
	slashForm := false
	first := true
	for {
		if !slashForm {
			p.space()
		}
		if p.endOfStmt() || p.peek() == '{' {
			break
		}
		ws := p.i
		w := p.word()
		if w == "" {
			return nil, p.errAt(p.i, "syntax error")
		}
		if w == ".." {
			cur, moved = up(cur), true
		} else if child, ok := match(w, p.res.Children(cur)); ok && !p.isCommandExact(cur, w) {
			cur, moved = join(cur, child), true
		} else if cmd, ok := match(w, p.res.Commands(cur)); ok {
			return p.menuCommand(pos, cur, cmd)
		} else if first && !moved && globals[w] {
			return p.global(pos, w)
		} else if slashForm {
			return nil, p.errAt(ws, "syntax error")
		} else {
			return nil, p.errAt(ws, "bad command name "+w)
		}
		first = false
		slashForm = false
		if p.peek() == '/' {
			p.i++
			slashForm = true
			if p.endOfStmt() {
				return nil, p.errAt(p.i, "syntax error")
			}
		}
	}
	_ = start
	if p.peek() == '{' {
		p.i++
		saved := p.path
		p.path = cur
		stmts, err := p.stmtList('}')
		p.path = saved
		if err != nil {
			return nil, err
		}
		p.i++
		return &CmdStmt{P: pos, Path: cur, Block: stmts}, nil
	}
	p.path = cur
	return &CmdStmt{P: pos, Path: cur}, nil
}

// isCondOp reports whether c (then next) starts a comparison other than `=`: ~, !=, <, >.
func isCondOp(c, next byte) bool {
	return c == '~' || c == '<' || c == '>' || (c == '!' && next == '=')
}

func (p *parser) isCommandExact(path, w string) bool {
	for _, c := range p.res.Commands(path) {
		if c == w {
			return true
		}
	}
	return false
}

// menuCommand parses the arguments of command cmd of menu path.
func (p *parser) menuCommand(pos Pos, path, cmd string) (Stmt, error) {
	spec, _ := p.res.Command(path, cmd)
	st := &CmdStmt{P: pos, Path: path, Cmd: cmd}
	named := p.argNames(path, cmd, spec)
	positional := 0
	saved := p.path
	p.path = path // [find ...] inside the arguments is relative to the command's menu
	defer func() { p.path = saved }()
	for {
		p.space()
		if p.endOfStmt() || p.peek() == '#' {
			return st, nil
		}
		as := p.i
		apos := p.posOf(as)
		if spec.Where && p.at("where") && !isWordByte(p.byteAt(as+5)) {
			p.i += 5
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			st.Where = x
			continue
		}
		unset := false
		if p.peek() == '!' {
			unset = true
			p.i++
		}
		ws := p.i
		w := p.word()
		// find takes a condition without `where` as RouterOS does
		// (`[/interface find name~"ether"]`, `find mtu>1400`); name=value stays an
		// argument.
		if cmd == "find" && spec.Where && w != "" && !unset && isCondOp(p.peek(), p.byteAt(p.i+1)) {
			p.i = as
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if st.Where != nil {
				x = &Binary{P: apos, Op: "&&", L: st.Where, R: x}
			}
			st.Where = x
			continue
		}
		if w != "" && p.peek() == '=' && !unset {
			name, ok := match(w, named)
			if !ok {
				return nil, p.errAt(as, "expected end of command")
			}
			p.i++
			v, err := p.value(path, name)
			if err != nil {
				return nil, err
			}
			st.Args = append(st.Args, &ArgNode{P: apos, Name: name, Value: v})
			continue
		}
		if w != "" && (p.endOfStmt() || p.peek() == ' ' || p.peek() == '\t' || p.peek() == '#') {
			if f, ok := match(w, spec.Flags); ok && !unset {
				st.Args = append(st.Args, &ArgNode{P: apos, Name: f, Flag: true})
				continue
			}
			// find and print read `!disabled` as disabled=no (below); other commands
			// take `!name` as unsetting it.
			if unset && !(spec.Props && spec.Where) {
				name, ok := match(w, named)
				if !ok {
					return nil, p.errAt(as, "expected end of command")
				}
				st.Args = append(st.Args, &ArgNode{P: apos, Name: name, Unset: true})
				continue
			}
			// RouterOS 7 exports some yes/no properties as a bare word
			// (`/ip route add blackhole dst-address=...`).
			if spec.Props && bareYes[w] {
				if name, ok := match(w, named); ok && name == w {
					st.Args = append(st.Args, &ArgNode{P: apos, Name: name, Value: &Lit{Str("yes")}})
					continue
				}
			}
			// find/print accept a property or flag name alone as "is yes", and
			// `!disabled` as "is no".
			if spec.Props && spec.Where {
				if name, ok := match(w, named); ok {
					v := "yes"
					if unset {
						v = "no"
					}
					st.Args = append(st.Args, &ArgNode{P: apos, Name: name, Value: &Lit{Str(v)}})
					continue
				}
			}
		}
		if unset {
			return nil, p.errAt(as, "expected end of command")
		}
		// An unnamed value.
		p.i = ws
		if positional >= len(spec.Positional) {
			return nil, p.errAt(as, "expected end of command")
		}
		v, err := p.value(path, spec.Positional[positional])
		if err != nil {
			return nil, err
		}
		st.Args = append(st.Args, &ArgNode{P: apos, Name: spec.Positional[positional], Value: v})
		positional++
	}
}

// bareYes are the properties RouterOS export writes as a word alone for yes.
var bareYes = map[string]bool{"blackhole": true}

func (p *parser) byteAt(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// value parses an argument value of a menu command: bare words stay strings (the
// property's type reads them), other forms are expressions.
func (p *parser) value(path, name string) (Expr, error) {
	// Export wraps long lines right after name=, continuing the value on the next line
	// (`policy=\` then `    ftp,reboot,...`): the join and the indentation go.
	if p.at("\\\n") || p.at("\\\r\n") {
		p.space()
	}
	switch c := p.peek(); c {
	case '"', '$', '[', '(':
		return p.primary()
	case '{':
		if p.res.IsCode(path, name) || codeArgs[name] {
			return p.code()
		}
		return p.primary()
	case 0, ' ', '\t', '\n', '\r', ';':
		return nil, p.errAt(p.i, "expected end of command")
	}
	s := p.i
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == ']' || c == '}' || c == ')' {
			break
		}
		if c == '\\' && (p.at("\\\n") || p.at("\\\r\n")) {
			break
		}
		if c == '$' || c == '\\' || c == '"' || c == '\'' {
			return nil, p.errAt(p.i, "syntax error")
		}
		p.i++
	}
	return &Lit{Str(p.src[s:p.i])}, nil
}

// code parses {statements} as code, keeping its source text.
func (p *parser) code() (Expr, error) {
	open := p.i
	p.i++
	saved, savedParen := p.path, p.inParen
	p.inParen = 0
	stmts, err := p.stmtList('}')
	p.path, p.inParen = saved, savedParen
	if err != nil {
		return nil, err
	}
	p.i++
	return &CodeLit{Src: strings.TrimSpace(p.src[open+1 : p.i-1]), Stmts: stmts}, nil
}

// global parses the arguments of a global command.
func (p *parser) global(pos Pos, name string) (Stmt, error) {
	args, err := p.looseArgs(name)
	if err != nil {
		return nil, err
	}
	return &GlobalStmt{P: pos, Name: name, Args: args}, nil
}

// looseArgs parses arguments of global commands and function calls: name=value pairs and
// unnamed values, which are typed literals (`:put 1d2h` prints a time).
func (p *parser) looseArgs(cmd string) ([]*ArgNode, error) {
	var out []*ArgNode
	for {
		p.space()
		if p.endOfStmt() || p.peek() == '#' {
			return out, nil
		}
		apos := p.posOf(p.i)
		s := p.i
		w := p.word()
		if w != "" && p.peek() == '=' && !p.at("==") {
			p.i++
			p.space()
			var v Expr
			var err error
			if p.peek() == '{' && codeArgs[w] && !(cmd == "foreach" && w == "in") {
				v, err = p.code()
			} else {
				v, err = p.primary()
			}
			if err != nil {
				return nil, err
			}
			out = append(out, &ArgNode{P: apos, Name: w, Value: v})
			continue
		}
		p.i = s
		var v Expr
		var err error
		if p.peek() == '{' {
			if unnamedCode[cmd] {
				v, err = p.code()
			} else if p.emptyBraces() {
				// `:global a {}` is a syntax error (the tips page); ({}) is the empty array.
				return nil, p.errAt(p.i, "syntax error")
			} else {
				v, err = p.array()
			}
		} else {
			v, err = p.primary()
		}
		if err != nil {
			return nil, err
		}
		// `:foreach k,v in=...` names two variables in one word.
		if w, ok := v.(*Word); ok && p.peek() == ',' && isWordByte(p.byteAt(p.i+1)) {
			p.i++
			v = &Word{S: w.S + "," + p.word()}
		}
		out = append(out, &ArgNode{P: apos, Value: v})
	}
}

// Precedence of binary operators, loosest first (console-language.md §5.3).
var binPrec = map[string]int{
	"||": 1, "or": 1,
	"&&": 2, "and": 2,
	"=": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3, "~": 3, "in": 3,
	",": 4,
	".": 5,
	"|": 6, "^": 7, "&": 8,
	"<<": 9, ">>": 9,
	"+": 10, "-": 10,
	"*": 11, "/": 11, "%": 11,
}

// binop reads the operator at the cursor, if any.
func (p *parser) binop() string {
	for _, op := range []string{"||", "&&", "!=", "<=", ">=", "<<", ">>", "->"} {
		if p.at(op) {
			return op
		}
	}
	c := p.peek()
	if strings.IndexByte("=<>~,.|^&+-*/%", c) >= 0 && c != 0 {
		return string(c)
	}
	for _, kw := range []string{"and", "or", "in"} {
		if p.at(kw) && !isWordByte(p.byteAt(p.i+len(kw))) {
			return kw
		}
	}
	return ""
}

// expr parses an expression by precedence climbing. Inside parentheses line ends are
// blanks; in `where` the expression ends with the statement.
func (p *parser) expr(min int) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for n := 1; ; n++ {
		if n > MaxOperands {
			pos := p.posOf(p.i)
			return nil, &Error{Msg: "syntax error (expression too long)", Line: pos.Line, Col: pos.Col}
		}
		p.space()
		op := p.binop()
		prec, ok := binPrec[op]
		if op == "" || !ok || prec < min {
			return l, nil
		}
		opos := p.posOf(p.i)
		p.i += len(op)
		p.space()
		r, err := p.expr(prec + 1)
		if err != nil {
			return nil, err
		}
		l = &Binary{P: opos, Op: op, L: l, R: r}
	}
}

func (p *parser) unary() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.space()
	switch c := p.peek(); c {
	case '!', '~':
		p.i++
		x, err := p.unary()
		return &Unary{Op: string(c), X: x}, err
	case '-':
		if n := p.byteAt(p.i + 1); !(n >= '0' && n <= '9') {
			p.i++
			x, err := p.unary()
			return &Unary{Op: "-", X: x}, err
		}
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.at("->") {
		p.i += 2
		k, err := p.primary()
		if err != nil {
			return nil, err
		}
		x = &Binary{Op: "->", L: x, R: k}
	}
	return x, nil
}

// primary parses a literal, $var, [cmd], (expr), {array} or "string".
func (p *parser) primary() (Expr, error) {
	s := p.i
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '$':
		p.i++
		if p.peek() == '"' {
			x, err := p.str()
			if err != nil {
				return nil, err
			}
			lit, ok := x.(*Lit)
			if !ok {
				return nil, p.errAt(s, "syntax error")
			}
			return &VarRef{P: p.posOf(s), Name: string(lit.V.(Str))}, nil
		}
		n := p.i
		for p.i < len(p.src) && (isAlnum(p.src[p.i]) || p.src[p.i] == '_') {
			p.i++
		}
		if n == p.i {
			return nil, p.errAt(s, "syntax error")
		}
		return &VarRef{P: p.posOf(s), Name: p.src[n:p.i]}, nil
	case c == '[':
		p.i++
		p.spaceNL()
		if p.peek() == ']' {
			p.i++
			return &Lit{Nothing{}}, nil
		}
		st, err := p.stmt()
		if err != nil {
			return nil, err
		}
		p.spaceNL()
		if p.peek() != ']' {
			return nil, p.errAt(p.i, "expected end of command")
		}
		p.i++
		return &Subst{S: st}, nil
	case c == '(':
		p.i++
		p.spaceNL()
		if p.peek() == ')' {
			p.i++
			return &Lit{Nothing{}}, nil
		}
		p.inParen++
		x, err := p.parenExpr()
		p.inParen--
		if err != nil {
			return nil, err
		}
		p.spaceNL()
		if p.peek() != ')' {
			return nil, p.errAt(p.i, "syntax error")
		}
		p.i++
		return x, nil
	case c == '{':
		return p.array()
	case c == '*' && isHex(p.byteAt(p.i+1)):
		p.i++
		for p.i < len(p.src) && isHex(p.src[p.i]) {
			p.i++
		}
		id, _ := control.ParseID(p.src[s:p.i])
		return &Lit{ID(id)}, nil
	case c == '-' || isAlnum(c) || c == '_' || c == ':' || c == '.' && isAlnum(p.byteAt(p.i+1)):
		// A leading '.' names a property of RouterOS's own (.id, `find where .id=$x`).
		p.i++
		for p.i < len(p.src) {
			c := p.src[p.i]
			if isAlnum(c) || c == '_' || c == ':' || c == '.' && p.i+1 < len(p.src) && isAlnum(p.src[p.i+1]) {
				p.i++
				continue
			}
			// '-' continues a word (ether-1, run-count) but not a number (10-2).
			if c == '-' && !isNumberish(p.src[s:p.i]) && isWordByte(p.byteAt(p.i+1)) {
				p.i++
				continue
			}
			// '/' continues an address into a prefix.
			if c == '/' && isDigit(p.byteAt(p.i+1)) {
				j := p.i + 1
				for j < len(p.src) && isDigit(p.src[j]) {
					j++
				}
				if _, ok := classify(p.src[s:j]).(Prefix); ok {
					p.i = j
					continue
				}
			}
			break
		}
		w := p.src[s:p.i]
		if v := classify(w); v != nil {
			return &Lit{v}, nil
		}
		return &Word{S: w}, nil
	}
	return nil, p.errAt(s, "syntax error")
}

// parenExpr is an expression inside parentheses, where line ends are blanks.
func (p *parser) parenExpr() (Expr, error) {
	// Replace line ends inside the parentheses by treating them as spaces: the expression
	// parser calls space(), which does not skip them, so skip them around operators here.
	return p.exprNL(0)
}

func (p *parser) exprNL(min int) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.spaceNL()
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for n := 1; ; n++ {
		if n > MaxOperands {
			pos := p.posOf(p.i)
			return nil, &Error{Msg: "syntax error (expression too long)", Line: pos.Line, Col: pos.Col}
		}
		p.spaceNL()
		op := p.binop()
		prec, ok := binPrec[op]
		if op == "" || !ok || prec < min {
			return l, nil
		}
		opos := p.posOf(p.i)
		p.i += len(op)
		r, err := p.exprNL(prec + 1)
		if err != nil {
			return nil, err
		}
		l = &Binary{P: opos, Op: op, L: l, R: r}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isNumberish(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// array parses {a; b; k=v}.
func (p *parser) array() (Expr, error) {
	p.i++
	a := &ArrayLit{}
	for {
		p.spaceNL()
		if p.peek() == '}' {
			p.i++
			return a, nil
		}
		if p.peek() == ';' {
			p.i++
			continue
		}
		key := ""
		s := p.i
		if p.peek() == '"' {
			if x, err := p.str(); err == nil {
				if l, ok := x.(*Lit); ok && p.peek() == '=' {
					key = string(l.V.(Str))
					p.i++
				} else {
					p.i = s
				}
			} else {
				return nil, err
			}
		} else if w := p.word(); w != "" && p.peek() == '=' && !p.at("==") {
			key = w
			p.i++
		} else {
			p.i = s
		}
		x, err := p.exprNL(0)
		if err != nil {
			return nil, err
		}
		a.Keys = append(a.Keys, key)
		a.Items = append(a.Items, x)
		p.spaceNL()
		if c := p.peek(); c != ';' && c != '}' {
			return nil, p.errAt(p.i, "syntax error")
		}
	}
}

// str parses a double-quoted string with escapes and $ interpolation.
func (p *parser) str() (Expr, error) {
	p.i++ // opening quote
	var parts []Expr
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, &Lit{Str(b.String())})
			b.Reset()
		}
	}
	for {
		if p.i >= len(p.src) {
			return nil, p.errAt(p.i, "syntax error")
		}
		c := p.src[p.i]
		switch {
		case c == '"':
			p.i++
			flush()
			switch len(parts) {
			case 0:
				return &Lit{Str("")}, nil
			case 1:
				if l, ok := parts[0].(*Lit); ok {
					return l, nil
				}
			}
			return &StrInterp{Parts: parts}, nil
		case c == '\\':
			if p.i+1 >= len(p.src) {
				return nil, p.errAt(p.i, "syntax error")
			}
			e := p.src[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '$', '?':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			case 'a':
				b.WriteByte(7)
			case 'b':
				b.WriteByte(8)
			case 'f':
				b.WriteByte(12)
			case '_':
				b.WriteByte(' ')
			case '\n', '\r':
				// Continuation: the next line's leading blanks are dropped.
				if e == '\r' && p.peek() == '\n' {
					p.i++
				}
				for p.i < len(p.src) && (p.src[p.i] == ' ' || p.src[p.i] == '\t') {
					p.i++
				}
			default:
				if isUpperHex(e) && p.i < len(p.src) && isUpperHex(p.src[p.i]) {
					b.WriteByte(unhex(e)<<4 | unhex(p.src[p.i]))
					p.i++
				} else {
					return nil, p.errAt(p.i-2, "syntax error")
				}
			}
		case c == '$':
			n := p.byteAt(p.i + 1)
			switch {
			case n == '[' || n == '(':
				flush()
				p.i++
				x, err := p.primary()
				if err != nil {
					return nil, err
				}
				parts = append(parts, x)
			case isAlnum(n) || n == '"' || n == '_':
				flush()
				x, err := p.primary()
				if err != nil {
					return nil, err
				}
				parts = append(parts, x)
			default:
				b.WriteByte(c)
				p.i++
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
}

func isUpperHex(c byte) bool { return isDigit(c) || c >= 'A' && c <= 'F' }
func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c - 'A' + 10
}

// sortedStrings returns a sorted copy.
func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
