// Package system implements the commands of the /system menus and the root commands that
// work on files: /system resource, /system backup save and load, /system script run,
// import, export file=, and the /log menu with :log.
package system

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
)

// engine is the Engine name of the menus this package serves, so that print does not
// call their items "not applied".
const engine = "system"

type system struct {
	ex      *control.Executor
	in      *script.Interp
	dataDir string
	files   string // dataDir/files: backups, .rsc, the TFTP root
	log     *eventlog.Buffer
	res     *resource
	// dry: a dry-run import's copy; commands check out but write no files.
	dry bool

	runMu sync.Mutex // serialises run-count updates

	fileIDs *fileIDs
	zone    *clockZone // admin.go
}

// Register installs the handlers and sources of the system menus on ex, and wires :log of
// in to the event log. dataDir is the daemon's data dir; files live in its files/ folder.
func Register(ex *control.Executor, in *script.Interp, dataDir string, log *eventlog.Buffer, started time.Time) {
	s := &system{
		ex: ex, in: in, dataDir: dataDir, files: filepath.Join(dataDir, "files"), log: log,
		res:     &resource{proc: "/proc", dataDir: dataDir, started: started, now: ex.Now},
		fileIDs: &fileIDs{},
		zone:    &clockZone{},
	}
	if m, ok := ex.Tree.Get(control.LogPath); ok && log != nil {
		ex.Provide(control.LogPath, withMenu(m, log.Source()))
	}
	s.handlers()
	if in != nil {
		in.Log = s.scriptLog
	}
	if in != nil && in.Globals != nil {
		s.registerEnvironment()
	}
}

// handlers installs the commands and sources on s.ex.
func (s *system) handlers() {
	ex := s.ex
	for _, p := range []string{ResourcePath, script.ScriptPath} {
		if ex.Engine(p) == "" {
			ex.SetEngine(p, engine)
		}
	}
	ex.Provide(ResourcePath, s.res.source)
	s.adminHandlers()
	if s.log != nil {
		for _, level := range []string{"debug", "info", "warning", "error"} {
			ex.Handle(control.LogPath, level, control.CommandSpec{Positional: []string{"message"},
				Args: []string{"message"}, Policy: "read"}, s.logCommand(level))
		}
	}
	// A backup carries every secret (password hashes, keys) and loading one replaces
	// every user and policy: both need policy and sensitive, as in RouterOS, and load
	// needs write too.
	ex.Handle(BackupPath, "save",
		control.CommandSpec{Args: []string{"name", "password", "encryption", "dont-encrypt"},
			Policy: "policy,sensitive", Effect: true}, s.backupSave)
	ex.Handle(BackupPath, "load",
		control.CommandSpec{Args: []string{"name", "password"}, Policy: "write,policy,sensitive"}, s.backupLoad)
	ex.Handle("", "import", control.CommandSpec{Positional: []string{"file-name"},
		Args: []string{"verbose", "from-line"}, Flags: []string{"dry-run"}}, s.importFile)
	ex.Handle("", "export", control.CommandSpec{
		Flags: []string{"verbose", "terse", "compact", "show-sensitive", "hide-sensitive"},
		Args:  []string{"file"}, Where: true, Policy: "read", Effect: true}, s.export)
	// RouterOS 7's /execute (the API's and REST's way to :execute): read, as run
	// needs, since the job's commands are checked one by one with the caller's
	// policies.
	ex.Handle("", "execute", control.CommandSpec{Positional: []string{"script"},
		Flags: []string{"as-string"}, Policy: "read"}, s.execute)
	// run needs only read: what the script does is checked command by command, and
	// scriptRun refuses a script whose policies the caller lacks.
	ex.Handle(script.ScriptPath, "run", control.CommandSpec{Positional: []string{"number"},
		Flags: []string{"use-script-permissions"}, Policy: "read"}, s.scriptRun)
}

// withMenu sets the menu of a source's rows: where-filters and print read the row's
// schema through it.
func withMenu(m *menu.Menu, src control.Source) control.Source {
	return func(ctx context.Context, sess *control.Session) ([]control.Row, error) {
		rows, err := src(ctx, sess)
		for i := range rows {
			if rows[i].Menu == nil {
				rows[i].Menu = m
			}
		}
		return rows, err
	}
}

// scriptLog is :log. It goes through slog with explicit topics, so the message reaches
// journald and, through the eventlog handler, /log once.
func (s *system) scriptLog(topics, msg string) {
	h := slog.Default().Handler()
	if s.log != nil {
		h = s.log.Handler(h)
	}
	slog.New(h).Log(context.Background(), eventlog.LevelOf(topics), msg, eventlog.TopicsKey, topics)
}

// logCommand is `/log LEVEL message`, which writes what `:log LEVEL message` does.
func (s *system) logCommand(level string) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		msg, ok := c.S.Get("message")
		if !ok {
			return nil, &control.Error{Msg: "missing value for message", Category: control.CatMissing}
		}
		s.scriptLog("script,"+level, msg)
		return &control.Reply{}, nil
	}
}

// maxDepth bounds scripts that run scripts or import files that import files: each
// level is Go stack, and an unbounded recursion (a script running itself) would
// overflow it and kill the daemon.
const maxDepth = 32

type depthKey struct{}

func enter(ctx context.Context) (context.Context, error) {
	d, _ := ctx.Value(depthKey{}).(int)
	if d >= maxDepth {
		return nil, control.Failure("script nesting too deep")
	}
	return context.WithValue(ctx, depthKey{}, d+1), nil
}

// session is the session a script or import runs in: the caller's when it holds a batch
// (a second batch would wait forever for the writer lock the first one holds), else a
// new one for the same user, so print numbers of the script do not leak into the
// caller's console.
func session(caller *control.Session) *control.Session {
	if caller.InBatch() {
		return caller
	}
	// Policies are kept: a script must not do more than whoever started it.
	s := &control.Session{User: caller.User, ShowSensitive: caller.ShowSensitive,
		Policies: maps.Clone(caller.Policies), KeepsGlobals: caller.GlobalsKept()}
	s.StartedBy(caller)
	return s
}

// errBadName is the answer to a file name that is empty or leaves files/.
var errBadName = control.ArgError("invalid value for argument file-name")

// openFiles opens files/ as an os.Root, which refuses names that lead outside it through
// "..", absolute paths or symbolic links.
func (s *system) openFiles() (*os.Root, error) {
	if err := os.MkdirAll(s.files, 0o700); err != nil {
		return nil, control.Failure("cannot create files directory: %v", err)
	}
	r, err := os.OpenRoot(s.files)
	if err != nil {
		return nil, control.Failure("cannot open files directory: %v", err)
	}
	return r, nil
}

// cleanName checks a user-given file name relative to files/.
func cleanName(name string) (string, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "/")
	if name == "" || !filepath.IsLocal(name) {
		return "", errBadName
	}
	return filepath.Clean(name), nil
}

// readFile reads a file of files/.
func (s *system) readFile(name string) ([]byte, error) {
	r, err := s.openFiles()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := r.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, control.Failure("no such file")
	}
	if err != nil {
		return nil, control.Failure("cannot read %s: %v", name, fileErr(err))
	}
	return b, nil
}

// exists reports whether files/name exists.
func (s *system) exists(name string) bool {
	r, err := s.openFiles()
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = r.Stat(name)
	return err == nil
}

// writeFile replaces files/name with data, mode 0600 (exports and backups hold
// secrets). It writes a temporary file and renames it, so a crash leaves either the
// old file or the new one.
func (s *system) writeFile(name string, data []byte) error {
	if s.dry {
		return nil
	}
	r, err := s.openFiles()
	if err != nil {
		return err
	}
	defer r.Close()
	if dir := filepath.Dir(name); dir != "." {
		if err := r.MkdirAll(dir, 0o700); err != nil {
			return control.Failure("cannot create %s: %v", dir, fileErr(err))
		}
	}
	tmp := name + ".tmp"
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return control.Failure("cannot write %s: %v", name, fileErr(err))
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, name)
	}
	if err != nil {
		_ = r.Remove(tmp)
		return control.Failure("cannot write %s: %v", name, fileErr(err))
	}
	return nil
}

// fileErr strips the path from a file error: the operator knows the name, and the data
// dir is none of their business.
func fileErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
