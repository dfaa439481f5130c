package system

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/console"
	"github.com/routerd/routerd/control/script"
)

// export is the root menu's export with file= support: the text is the generic export's
// (Executor.Export); with file=NAME it goes to files/NAME.rsc instead of the terminal.
// It reads c.Menu, so it can serve any menu's export.
func (s *system) export(ctx context.Context, c *control.Call) (*control.Reply, error) {
	opt := control.ExportOptions{
		Verbose:       c.S.Bool("verbose"),
		Terse:         c.S.Bool("terse"),
		ShowSensitive: c.S.Bool("show-sensitive") && !c.S.Bool("hide-sensitive") && c.Sess.ShowSensitive,
		Filter:        c.S.Filter,
	}
	text, err := s.ex.Export(ctx, c.Sess, c.Menu.Path, opt)
	if err != nil {
		return nil, err
	}
	file, _ := c.S.Get("file")
	if file == "" {
		return &control.Reply{Menu: c.Menu, Text: text, Ret: text}, nil
	}
	if !strings.HasSuffix(file, ".rsc") {
		file += ".rsc"
	}
	name, err := cleanName(file)
	if err != nil {
		return nil, control.ArgError("invalid value for argument file")
	}
	if err := s.writeFile(name, []byte(text)); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu}, nil
}

// importFile runs a script file of files/. Plainly it runs as one unit in one batch,
// stopping at the first error with what ran before it applied, as RouterOS does.
// verbose=yes runs it statement by statement and reports every error with its line;
// dry-run does that against a scratch copy of the configuration, changing nothing.
func (s *system) importFile(ctx context.Context, c *control.Call) (*control.Reply, error) {
	arg, _ := c.S.Get("file-name")
	name, err := cleanName(arg)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".rsc") && !s.exists(name) && s.exists(name+".rsc") {
		name += ".rsc"
	}
	data, err := s.readFile(name)
	if err != nil {
		return nil, err
	}
	// A backup or an exported key read as a script would hand its secrets to whoever
	// may not read the file: verbose lists failing lines whole, and what succeeds is
	// applied with the importer's rights.
	if !mayRead(c.Sess, name, data) {
		return nil, control.ErrPermission
	}
	from := 1
	if v, ok := c.S.Get("from-line"); ok && v != "" {
		if from, err = strconv.Atoi(v); err != nil || from < 1 {
			return nil, control.ArgError("invalid value for argument from-line")
		}
	}
	// verbose is yes|no (the flag alone is yes), as RouterOS has it: anything else is
	// refused before a line runs, not taken as "stop at the first error".
	for _, a := range c.S.Args {
		if a.Name == "verbose" && !a.Flag && a.Value != "yes" && a.Value != "no" {
			return nil, control.ArgError("invalid value for argument verbose")
		}
	}
	if ctx, err = enter(ctx); err != nil {
		return nil, err
	}
	lines := strings.Split(strings.ReplaceAll(strings.TrimPrefix(string(data), console.BOM), "\r\n", "\n"), "\n")
	if from > len(lines) {
		lines = nil
	} else {
		lines = lines[from-1:]
	}
	verbose, dry := c.S.Bool("verbose"), c.S.Bool("dry-run")

	v6 := console.ExportVersion(string(data)) == 6
	var out strings.Builder
	if dry {
		err = s.dryRun(ctx, c.Sess, lines, from, v6, &out)
	} else {
		sess := session(c.Sess)
		// The caller's own session when it is in a batch already: for this run only.
		defer func(was bool) { sess.V6 = was }(sess.V6)
		sess.V6 = v6
		err = s.runFile(ctx, sess, lines, from, verbose, &out)
	}
	if err != nil {
		return nil, err
	}
	if dry {
		out.WriteString("dry run: nothing was changed\n")
	}
	out.WriteString("Script file loaded and executed successfully\n")
	return &control.Reply{Menu: c.Menu, Text: out.String()}, nil
}

// dryRunLimit bounds a dry run, which holds the store's writer for all its length.
const dryRunLimit = 10 * time.Second

// dryRun runs the import for real, statement by statement, in one transaction of a
// session with the caller's user and policies, and rolls it back: every policy,
// reference and check the real import meets, it meets, and nothing stays. Commands
// that act outside the store (files, ping, clock) check their policy and are skipped,
// :delay does not wait, and the whole run is bounded by dryRunLimit since it holds the
// store's writer throughout.
func (s *system) dryRun(ctx context.Context, caller *control.Session, lines []string, from int, v6 bool, out *strings.Builder) error {
	if caller.DryRun {
		// Inside another dry run: its rollback covers this one.
		defer func(was bool) { caller.V6 = was }(caller.V6)
		caller.V6 = v6
		return s.runFile(ctx, caller, lines, from, true, out)
	}
	// What the caller's batch holds is its own, committed before the dry run's
	// transaction takes the writer.
	if err := s.ex.FlushBatch(caller); err != nil {
		return err
	}
	sess := &control.Session{User: caller.User, Policies: maps.Clone(caller.Policies),
		ShowSensitive: caller.ShowSensitive, DryRun: true, V6: v6}
	if err := s.ex.BeginAtomic(sess); err != nil {
		return err
	}
	defer s.ex.RollbackBatch(sess)
	ctx, cancel := context.WithTimeout(ctx, dryRunLimit)
	defer cancel()
	err := s.runFile(ctx, sess, lines, from, true, out)
	if ctx.Err() == context.DeadlineExceeded {
		return control.Failure("dry run took longer than %v", dryRunLimit)
	}
	return err
}

// runFile runs the lines of a file (the first being line number first) in one batch of
// sess, committed at the end even after an error: what ran before the error stays, as
// RouterOS leaves it.
func (s *system) runFile(ctx context.Context, sess *control.Session, lines []string, first int, verbose bool, out *strings.Builder) (err error) {
	if !sess.InBatch() {
		if err := s.ex.BeginBatch(sess); err != nil {
			return err
		}
		defer func() {
			if cerr := s.ex.EndBatch(sess); err == nil {
				err = cerr
			}
		}()
	}
	defer func(was bool) { sess.Import = was }(sess.Import)
	sess.Import = true
	con := &script.Console{Sess: sess}
	if !verbose {
		err := s.in.RunFile(ctx, con, strings.Join(lines, "\n"), out)
		var pe *script.Error
		if !errors.As(err, &pe) || pe.Line == 0 {
			return err
		}
		line := pe.Line + first - 1
		var ce *control.Error
		if errors.As(pe.Err, &ce) {
			// A command's refusal keeps its words and category, located.
			return &control.Error{Category: ce.Category, Msg: fmt.Sprintf("%s (line %d column %d)", ce.Msg, line, pe.Col)}
		}
		return &script.Error{Msg: pe.Msg, Line: line, Col: pe.Col, Err: pe.Err}
	}
	rep := console.RunStatements(lines, first, func(stmt string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return s.in.Run(ctx, con, stmt, out)
	}, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	rep.DryRun = sess.DryRun
	if n := rep.Errors(); n > 0 {
		msg := strings.Join(rep.Failures, "\n") + "\n" + rep.Summary() + fmt.Sprintf("Script Error: found %d error(s) in import file", n)
		if sess.DryRun {
			msg += "\ndry run: nothing was changed"
		}
		return &control.Error{Category: control.CatScript, Msg: msg}
	}
	out.WriteString(rep.Summary())
	return nil
}
