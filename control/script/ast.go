package script

// Pos is a position in the parsed unit, 1-based.
type Pos struct{ Line, Col int }

// Stmt is one statement.
type Stmt interface{ pos() Pos }

// CmdStmt is a menu command, a path change (Cmd == ""), or a path with a block.
type CmdStmt struct {
	P     Pos
	Path  string // absolute menu path, slash form
	Cmd   string // "" for a path alone
	Args  []*ArgNode
	Where Expr
	Block []Stmt // path followed by a block
}

// GlobalStmt is a global command (:put, :if ...).
type GlobalStmt struct {
	P    Pos
	Name string
	Args []*ArgNode
}

// CallStmt calls a function held in a variable: $f a=1 2.
type CallStmt struct {
	P    Pos
	Fn   Expr
	Args []*ArgNode
}

// BlockStmt is { ... }.
type BlockStmt struct {
	P     Pos
	Stmts []Stmt
}

// ExprStmt is an expression used as a statement, e.g. ($a->1) or [cmd].
type ExprStmt struct {
	P Pos
	X Expr
}

func (s *CmdStmt) pos() Pos    { return s.P }
func (s *GlobalStmt) pos() Pos { return s.P }
func (s *CallStmt) pos() Pos   { return s.P }
func (s *BlockStmt) pos() Pos  { return s.P }
func (s *ExprStmt) pos() Pos   { return s.P }

// ArgNode is one argument: name=value, a flag, !name, or an unnamed value.
type ArgNode struct {
	P     Pos
	Name  string // "" for unnamed
	Value Expr   // nil for flags and unsets
	Flag  bool
	Unset bool
}

// Expr is an expression.
type Expr interface{}

type (
	// Lit is a literal value.
	Lit struct{ V Value }
	// Word is a bare word: a string constant, or a property of the item in where.
	Word struct{ S string }
	// VarRef is $name.
	VarRef struct {
		P    Pos
		Name string
	}
	// Subst is [statement].
	Subst struct{ S Stmt }
	// Binary is L op R.
	Binary struct {
		P    Pos
		Op   string
		L, R Expr
	}
	// Unary is op X.
	Unary struct {
		Op string
		X  Expr
	}
	// ArrayLit is {a; b} or {k=v; ...}.
	ArrayLit struct {
		Keys  []string // "" for list elements
		Items []Expr
	}
	// CodeLit is {statements} used as code (do=, on-error=, functions); Src keeps the text.
	CodeLit struct {
		Src   string
		Stmts []Stmt
	}
	// StrInterp is a double-quoted string with $var, $[cmd] and $(expr) inside.
	StrInterp struct{ Parts []Expr }
)
