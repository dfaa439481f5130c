package control

import (
	"fmt"
	"io"
	"strings"

	"github.com/routerd/routerd/control/menu"
)

// Arg is one argument of a sentence: name=value, or a flag (Flag true, no value), or an
// unset (`!name` on set).
type Arg struct {
	Name  string
	Value string
	Flag  bool
	Unset bool
}

// Sentence is one command for the executor.
type Sentence struct {
	Path string // menu path in slash form, "" for root
	Cmd  string
	Args []Arg
	// Filter selects items for print, find and export (console `where`, API queries).
	Filter Filter
	// Proplist limits the properties print returns (.proplist, proplist=).
	Proplist []string
	// Out is the terminal of a console that runs the sentence: commands that go on until
	// interrupted (monitor without once, ping) write each sample there as it comes and
	// return when ctx ends. Nil for the API and substitutions, which take the Reply only.
	Out io.Writer
	// Emit, when set, takes the updates of a command that goes on (print follow or
	// interval=, monitor, monitor-traffic, ping, listen): each call is one update as it
	// comes (the API sends its rows as !re, REST collects them, the console draws them).
	// Such a command then runs until ctx ends or its count or duration is done. A command
	// that writes console text checks Out first. Nil: the command answers once.
	Emit func(rep *Reply) error
}

// Streaming reports whether the sentence asks print to go on: follow, follow-only or
// interval=.
func (s *Sentence) Streaming() bool {
	return s.Has("follow") || s.Has("follow-only") || s.Has("interval")
}

// Get returns the value of a named argument.
func (s *Sentence) Get(name string) (string, bool) {
	for _, a := range s.Args {
		if a.Name == name && !a.Flag && !a.Unset {
			return a.Value, true
		}
	}
	return "", false
}

// Has reports whether a flag or argument is present.
func (s *Sentence) Has(name string) bool {
	for _, a := range s.Args {
		if a.Name == name {
			return true
		}
	}
	return false
}

// Bool reads an argument that may be a flag (`detail`) or yes/no (`detail=yes`).
func (s *Sentence) Bool(name string) bool {
	for _, a := range s.Args {
		if a.Name == name {
			return a.Flag || a.Value == "yes" || a.Value == "true" || a.Value == ""
		}
	}
	return false
}

// String renders the sentence as API words, for logs.
func (s *Sentence) String() string {
	var b strings.Builder
	b.WriteString(s.Path + "/" + s.Cmd)
	for _, a := range s.Args {
		switch {
		case a.Flag:
			fmt.Fprintf(&b, " =%s=", a.Name)
		case a.Unset:
			fmt.Fprintf(&b, " !%s", a.Name)
		default:
			fmt.Fprintf(&b, " =%s=%s", a.Name, a.Value)
		}
	}
	return b.String()
}

// Row is one item as print returns it: every property (defaults filled in, runtime state
// merged), its flags, its comment.
type Row struct {
	ID    uint64
	Menu  *menu.Menu
	Props map[string]string
	// Order of the properties to show; defaults to the menu's order.
	Keys  []string
	Flags string // flag letters, in the menu's flag order
	// First: an engine's dynamic row that print lists before the configured items (the
	// firewall's dynamic rules, which the kernel evaluates before them).
	First bool
	// After: an engine's dynamic row that print lists right after the configured item
	// of this id (IPsec policies generated from a template, at the template's place).
	After uint64
}

// Get reads a property of the row; flags read as "yes"/"no" under their names.
func (r *Row) Get(name string) (string, bool) {
	if name == ".id" {
		return FormatID(r.ID), true
	}
	if v, ok := r.Props[name]; ok {
		return v, true
	}
	if r.Menu != nil {
		for _, f := range allFlags(r.Menu) {
			if f.Name == name {
				if strings.IndexByte(r.Flags, f.Letter) >= 0 {
					return "yes", true
				}
				return "no", true
			}
		}
	}
	return "", false
}

// Filter selects rows.
type Filter func(r *Row) (bool, error)

// FormatID renders an item id as RouterOS does (*1A).
func FormatID(id uint64) string { return fmt.Sprintf("*%X", id) }

// ParseID reads "*1A" (any case).
func ParseID(s string) (uint64, bool) {
	if len(s) < 2 || s[0] != '*' {
		return 0, false
	}
	var id uint64
	for _, c := range s[1:] {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if id > (1<<60)-1 {
			return 0, false
		}
		id = id<<4 | d
	}
	return id, true
}

// Error is a failed command, with the RouterOS message and API trap category.
type Error struct {
	Msg      string
	Category int
}

// API trap categories.
const (
	CatMissing  = 0 // missing item or command
	CatArgument = 1 // argument value failure
	CatExecute  = 2 // execution interrupted
	CatScript   = 3
	CatFailure  = 4 // general failure
	CatAPI      = 5
)

func (e *Error) Error() string { return e.Msg }

func errf(cat int, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Category: cat}
}

// ErrNoSuchItem is the RouterOS message for an item reference that matches nothing.
var ErrNoSuchItem = &Error{Msg: "no such item", Category: CatMissing}
