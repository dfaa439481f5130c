// Package script is the RouterOS console and scripting language: one lexer and parser for
// the interactive console, /system script sources, scheduler events and import files, and
// the interpreter that runs the parsed units by turning menu commands into sentences for
// the executor (package control).
package script

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/routerd/routerd/control"
)

// Error is a parse or run-time error. Parse errors carry the position of the offending
// token and print as RouterOS does: "expected end of command (line 1 column 18)".
type Error struct {
	Msg       string
	Line, Col int // 0 for run-time errors
	// Err is the run-time error a located run (RunFile) stopped at, Line and Col being
	// the position of the statement that failed.
	Err error
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s (line %d column %d)", e.Msg, e.Line, e.Col)
}

// Console is the state of one console or script run: the executor session (print
// numbers, batch) and the current menu.
type Console struct {
	Sess *control.Session
	// Path is the current menu in slash form ("" = root); a path alone on a line changes
	// it, and the interactive prompt shows it.
	Path string
	// Interactive consoles render print as tables for a terminal; Width is its width.
	Interactive bool
	Width       int
}

// Interp runs units of the language against an executor.
type Interp struct {
	Ex *control.Executor
	// Log receives :log messages (topics such as "script,info").
	Log func(topics, msg string)
	// Globals are the /system script environment, shared by all consoles and scripts.
	Globals *Globals
	// LookupHost resolves a name for :resolve without server= as the router does (/ip
	// dns static, then the /ip dns servers); network is "ip", "ip4" or "ip6". Nil: the
	// system's resolver.
	LookupHost func(ctx context.Context, network, host string) ([]netip.Addr, error)
}
