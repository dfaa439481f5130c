package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Reply is the result of one command.
type Reply struct {
	Menu *menu.Menu
	// Rows of print (one per item; one row for single menus).
	Rows []Row
	// Ret is the value a command returns: the new id of add, the value of get, the count
	// of print count-only, an export's text.
	Ret string
	// List is the value of commands that return several ids (find).
	List []string
	// Text is output meant for a terminal (export, import messages, ping lines).
	Text string
}

// Handler runs a menu-specific command.
type Handler func(ctx context.Context, x *Call) (*Reply, error)

// Call is what a Handler gets: the executor, the session, the sentence and the menu.
type Call struct {
	Ex   *Executor
	Sess *Session
	S    *Sentence
	Menu *menu.Menu
}

// CommandSpec says which arguments a command takes; the console parser uses it to resolve
// names, abbreviations and unnamed arguments.
type CommandSpec struct {
	// Positional are the names given to unnamed arguments, in order.
	Positional []string
	// Args are the named arguments (besides menu properties when Props is set).
	Args []string
	// Flags are arguments that take no value.
	Flags []string
	// Props: the menu's writable properties are named arguments.
	Props bool
	// Where: the command accepts `where EXPR` as its last argument.
	Where bool
	// Policy the session needs to run the command ("read", "write", "test", ...), or
	// a comma list of policies it needs all of ("policy,sensitive"). Commands
	// registered with Handle default to "write"; generic ones declare theirs.
	Policy string
	// Effect: the command acts outside the store (files, packets, waiting on the
	// system). A dry run checks its policy and skips it.
	Effect bool
}

type command struct {
	spec CommandSpec
	fn   Handler
}

// Change tells engines that items of a menu changed.
type Change struct {
	Path string
	ID   uint64 // 0: the whole menu (reload, backup load)
	Op   string // "add", "set", "remove", "reload"
}

// Source supplies the rows of Status menus and the read-only state of Single menus.
type Source func(ctx context.Context, sess *Session) ([]Row, error)

// Executor runs sentences.
type Executor struct {
	Tree  *menu.Tree
	Store *store.Store
	State State

	mu       sync.RWMutex
	commands map[string]map[string]command // path -> cmd
	generic  map[menu.Kind]map[string]command
	sources  map[string]Source
	// rowProps are the engines' read-only properties computed per row at print
	// (ProvideRowProps).
	rowProps map[string]RowProps
	names    map[string]func(name string) bool // dynamic item names, for reference checks
	watchers []*watcher
	failed   map[string]string // menu prefix -> why its engine did not start
	hist     *history          // /system history; nil when the tree has no such menu
	engines  map[string]string // menu path -> engine applying it (SetEngine)
	faults   map[string]string // menu path -> why its engine failed its last pass

	// migrations rewrite RouterOS 6 sentences of a menu into their v7 form (Migrate).
	migrations map[string]Migration
	// renames send every sentence of a RouterOS 6 menu that v7 renamed to its v7 menu
	// (Rename).
	renames map[string]rename

	// Observe, when set, is told each command's menu, verb and result ("ok" or "error").
	Observe func(path, cmd, result string)
	// Now is the clock (tests replace it).
	Now func() time.Time
}

type watcher struct {
	prefix string
	fn     func(Change)
}

// New makes an executor over a menu tree and an open store, with the generic commands.
func New(tree *menu.Tree, st *store.Store) *Executor {
	x := &Executor{Tree: tree, Store: st, commands: map[string]map[string]command{},
		sources: map[string]Source{}, Now: time.Now}
	x.generic = genericCommands()
	x.enableHistory()
	return x
}

// Handle registers a menu-specific command (run, save, monitor...).
func (x *Executor) Handle(path, cmd string, spec CommandSpec, fn Handler) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.commands[path] == nil {
		x.commands[path] = map[string]command{}
	}
	x.commands[path][cmd] = command{spec, fn}
}

// Provide registers the row source of a Status menu or the state of a Single menu.
func (x *Executor) Provide(path string, src Source) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sources[path] = src
}

// RowProps adds to props, the row print builds of the stored item id, the read-only
// properties an engine computes from what it keeps about the item. It must not block:
// it runs once per row while print holds a store transaction.
type RowProps func(id uint64, props map[string]string)

// ProvideRowProps registers the read-only properties of the items of the menu at path
// that an engine computes when print asks, instead of keeping them per item in State: an
// address list's 100,000 entries each have a creation-time (one number in the engine)
// that a map of strings per entry in State would cost hundreds of bytes to hold.
func (x *Executor) ProvideRowProps(path string, fn RowProps) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rowProps == nil {
		x.rowProps = map[string]RowProps{}
	}
	x.rowProps[path] = fn
}

// ProvideNames registers how a reference to the menu at path (interface=, a list of
// names) finds items the engine supplies beside the stored ones (kernel links routerd
// did not create). has runs inside the writing command's store transaction: it must
// answer from what the engine has already published or one cheap kernel lookup, never
// by dumping the kernel or opening a transaction of its own.
func (x *Executor) ProvideNames(path string, has func(name string) bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.names == nil {
		x.names = map[string]func(string) bool{}
	}
	x.names[path] = has
}

// HasName reports whether the engine of the menu at path supplies an item named name
// (ProvideNames); false when it provides none.
func (x *Executor) HasName(path, name string) bool {
	x.mu.RLock()
	has := x.names[path]
	x.mu.RUnlock()
	return has != nil && name != "" && has(name)
}

// Watch calls fn after every committed change to a menu at or below prefix. fn runs on
// the committing goroutine and must not block: engines queue the change and return.
func (x *Executor) Watch(prefix string, fn func(Change)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.watchers = append(x.watchers, &watcher{prefix, fn})
}

// WatchUntil is Watch until ctx ends, for a command that follows changes (print follow).
func (x *Executor) WatchUntil(ctx context.Context, prefix string, fn func(Change)) {
	w := &watcher{prefix, fn}
	x.mu.Lock()
	x.watchers = append(x.watchers, w)
	x.mu.Unlock()
	context.AfterFunc(ctx, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.watchers = slices.DeleteFunc(slices.Clone(x.watchers), func(o *watcher) bool { return o == w })
	})
}

func (x *Executor) notify(chs []Change) {
	x.mu.RLock()
	ws := x.watchers
	x.mu.RUnlock()
	for _, c := range chs {
		for _, w := range ws {
			if c.Path == w.prefix || strings.HasPrefix(c.Path, w.prefix+"/") || w.prefix == "" {
				w.fn(c)
			}
		}
	}
}

// Command looks up the command cmd of the menu at path.
func (x *Executor) Command(path, cmd string) (CommandSpec, bool) {
	c, ok := x.lookup(path, cmd)
	if ok && cmd == "find" && c.spec.Where {
		// find takes the menu's flags as arguments: `find invalid`, `find !running`.
		if m, found := x.Tree.Get(path); found {
			c.spec.Args = slices.Clone(c.spec.Args)
			for _, f := range allFlags(m) {
				if !slices.Contains(c.spec.Args, f.Name) {
					c.spec.Args = append(c.spec.Args, f.Name)
				}
			}
		}
	}
	return c.spec, ok
}

// Generic returns the generic command cmd of the menu at path, for a menu-specific
// handler that rewrites a sentence (hashing a password) and then does what the generic
// command does.
func (x *Executor) Generic(path, cmd string) (Handler, CommandSpec, bool) {
	m, ok := x.Tree.Get(path)
	if !ok {
		return nil, CommandSpec{}, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.generic[m.Kind][cmd]
	return c.fn, c.spec, ok
}

func (x *Executor) lookup(path, cmd string) (command, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if c, ok := x.commands[path][cmd]; ok {
		return c, true
	}
	m, ok := x.Tree.Get(path)
	if !ok {
		return command{}, false
	}
	c, ok := x.generic[m.Kind][cmd]
	if ok && cmd == "move" && !m.Ordered {
		return command{}, false
	}
	if !ok && declares(m, cmd) {
		return command{declaredSpec[cmd], cmdNoEngine}, true
	}
	return c, ok
}

// declares reports whether the menu's schema lists cmd among its own commands.
func declares(m *menu.Menu, cmd string) bool {
	for _, c := range m.Commands {
		if c == cmd {
			return true
		}
	}
	return false
}

// declaredSpec are the arguments of the menu-specific commands the schema declares
// (Menu.Commands). Until the engine of a menu registers its handler, such a command still
// parses (a script that uses it is valid) and fails when run.
var declaredSpec = map[string]CommandSpec{
	"monitor":                {Positional: []string{"numbers"}, Flags: []string{"once", "as-value", "without-paging"}, Args: []string{"interval", "do"}},
	"run":                    {Positional: []string{"number"}, Flags: []string{"use-script-permissions"}},
	"remove":                 {Positional: []string{"numbers"}},
	"save":                   {Args: []string{"name", "password", "encryption", "dont-encrypt"}},
	"load":                   {Args: []string{"name", "password"}},
	"export-pub-key":         {Args: []string{"file-name", "key"}},
	"generate-key":           {Args: []string{"key-size", "name"}},
	"import":                 {Args: []string{"file-name", "name", "passphrase", "trusted"}},
	"sign":                   {Positional: []string{"numbers"}, Args: []string{"ca", "ca-crl-host", "name", "ca-on-smart-card"}},
	"export-certificate":     {Positional: []string{"numbers"}, Args: []string{"type", "export-passphrase", "file-name"}},
	"issued-revoke":          {Positional: []string{"numbers"}},
	"enable-ssl-certificate": {Args: []string{"dns-name"}},
	"kill-connections":       {},
	"flush":                  {Args: []string{"sa-type"}},
	"send":                   {Args: []string{"to", "cc", "subject", "body", "file", "from", "server", "port", "tls", "user", "password"}},
}

// cmdNoEngine runs a declared command whose engine has not registered a handler.
func cmdNoEngine(_ context.Context, c *Call) (*Reply, error) {
	return nil, errf(CatFailure, "failure: %s: no engine for this menu yet", c.S.Cmd)
}

// Commands lists the commands of the menu at path, sorted.
func (x *Executor) Commands(path string) []string {
	m, ok := x.Tree.Get(path)
	if !ok {
		return nil
	}
	x.mu.RLock()
	seen := map[string]bool{}
	for c := range x.commands[path] {
		seen[c] = true
	}
	for c := range x.generic[m.Kind] {
		if c != "move" || m.Ordered {
			seen[c] = true
		}
	}
	for _, c := range m.Commands {
		seen[c] = true
	}
	x.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Exec runs one sentence.
func (x *Executor) Exec(ctx context.Context, sess *Session, s *Sentence) (rep *Reply, err error) {
	defer func() {
		// A bug in one command must not take the daemon down with every session.
		if r := recover(); r != nil {
			err = errf(CatFailure, "failure: internal error: %v", r)
		}
		if x.Observe != nil {
			res := "ok"
			if err != nil {
				res = "error"
			}
			x.Observe(s.Path, s.Cmd, res)
		}
	}()
	m, ok := x.Tree.Get(s.Path)
	if !ok {
		return nil, errf(CatMissing, "no such command prefix")
	}
	if _, ok := x.lookup(s.Path, s.Cmd); !ok {
		return nil, errf(CatMissing, "no such command")
	}
	x.mu.RLock()
	rn, renamed := x.renames[s.Path]
	x.mu.RUnlock()
	if renamed {
		if rn.seen != nil {
			rn.seen(s)
		}
		to := *s
		to.Path = rn.to
		return x.Exec(ctx, sess, &to)
	}
	s = x.idArg(s)
	if sess == nil {
		sess = &Session{}
	}
	x.mu.RLock()
	mg := x.migrations[s.Path]
	x.mu.RUnlock()
	if mg != nil && (s.Cmd == "add" || s.Cmd == "set") {
		// A v6 line the upgrade splits into several items (a peer, its profile and
		// identity) is one change: a refused part leaves none of them behind.
		var rep *Reply
		migrated := false
		err := x.atomically(sess, func() error {
			main, after, err := mg(ctx, x, sess, s)
			if err != nil || main == nil {
				return err
			}
			migrated = true
			mm := m
			if main.Path != s.Path {
				// A v6 menu whose items v7 keeps elsewhere (/ip route rule is /routing rule).
				var ok bool
				if mm, ok = x.Tree.Get(main.Path); !ok {
					return errf(CatMissing, "no such command prefix")
				}
			}
			if rep, err = x.exec(ctx, sess, mm, main); err != nil {
				return err
			}
			for _, a := range after {
				if _, err := x.Exec(ctx, sess, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if migrated {
			return rep, nil
		}
	}
	if x.numberUnprinted(ctx, sess, m, s) {
		// For this command only: without a print, the next one numbers afresh.
		defer sess.setNumbers(m.Path, nil)
	}
	return x.exec(ctx, sess, m, s)
}

// numberUnprinted numbers a menu as its print would, for a session that refers to items
// by number without having printed the menu (a one-shot `routerctl ... disable 4`): the
// rows an engine adds (the firewall's dynamic fasttrack counter rule, IPsec's dynamic NAT
// rules) are numbered too, so "4" is the rule print showed as 4, not the one below it.
// The rows are read here, before any store transaction, as engines' sources must be.
// It reports whether it numbered the menu.
func (x *Executor) numberUnprinted(ctx context.Context, sess *Session, m *menu.Menu, s *Sentence) bool {
	if m.Kind == menu.Single || s.Cmd == "print" || sess.numbers(m.Path) != nil {
		return false
	}
	numbered := false
	for _, a := range s.Args {
		if a.Flag || a.Unset || (a.Name != "numbers" && a.Name != "from" && a.Name != "destination" && a.Name != "place-before") {
			continue
		}
		for _, part := range strings.Split(a.Value, ",") {
			if part = strings.TrimSpace(part); part != "" && isDigits(part) {
				numbered = true
			}
		}
	}
	if !numbered {
		return false
	}
	rows, err := x.Rows(ctx, sess, m, false)
	if err != nil {
		return false // resolve numbers the stored items then
	}
	ids := make([]uint64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	sess.setNumbers(m.Path, ids)
	return true
}

// Migration rewrites a RouterOS 6 sentence into the v7 one to run instead and the
// sentences to run after it (items the upgrade creates elsewhere); a nil main means the
// sentence needs no rewrite.
// It gets the executor it runs on (a scratch one for a dry run).
type Migration func(ctx context.Context, x *Executor, sess *Session, s *Sentence) (main *Sentence, after []*Sentence, err error)

// Migrate registers the RouterOS 6 rewrite of add and set on the menu at path.
func (x *Executor) Migrate(path string, fn Migration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.migrations == nil {
		x.migrations = map[string]Migration{}
	}
	x.migrations[path] = fn
}

// rename is a RouterOS 6 menu's v7 path, and who is told of each sentence sent there.
type rename struct {
	to   string
	seen func(*Sentence)
}

// Rename registers a RouterOS 6 menu that v7 renamed (/ip ipsec peer profile is /ip
// ipsec profile since 6.44): every command given at from runs at to, after seen (a log
// line) has had it. The menu at from declares to's properties, so its lines parse.
func (x *Executor) Rename(from, to string, seen func(*Sentence)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.renames == nil {
		x.renames = map[string]rename{}
	}
	x.renames[from] = rename{to, seen}
}

// InheritMigrations gives x the migrations and renames of from (a scratch executor
// that checks an import or a backup loads as the live one would).
func (x *Executor) InheritMigrations(from *Executor) {
	from.mu.RLock()
	defer from.mu.RUnlock()
	for p, fn := range from.migrations {
		x.Migrate(p, fn)
	}
	for p, r := range from.renames {
		x.Rename(p, r.to, r.seen)
	}
}

// exec runs a sentence past the migrations.
func (x *Executor) exec(ctx context.Context, sess *Session, m *menu.Menu, s *Sentence) (*Reply, error) {
	c, ok := x.lookup(s.Path, s.Cmd)
	if !ok {
		return nil, errf(CatMissing, "no such command")
	}
	for _, p := range strings.Split(CommandPolicy(c.spec), ",") {
		if !sess.Can(p) {
			return nil, ErrPermission
		}
	}
	if err := x.checkArgs(m, s); err != nil {
		return nil, err
	}
	if sess.DryRun && c.spec.Effect {
		return &Reply{Menu: m}, nil
	}
	rep, err := c.fn(ctx, &Call{Ex: x, Sess: sess, S: s, Menu: m})
	if x.hist != nil {
		x.hist.commit(x, sess, s, CommandPolicy(c.spec), err)
	}
	return rep, err
}

// idArg names the item argument the API and REST send as .id after the command's own:
// numbers for most, number for get and /system script run; the handlers read those
// names. A command that takes no item keeps .id, which checkArgs then refuses.
func (x *Executor) idArg(s *Sentence) *Sentence {
	i := slices.IndexFunc(s.Args, func(a Arg) bool { return a.Name == ".id" })
	if i < 0 {
		return s
	}
	spec, _ := x.Command(s.Path, s.Cmd)
	name := ""
	for _, p := range []string{"numbers", "number"} {
		if slices.Contains(spec.Positional, p) {
			name = p
			break
		}
	}
	if name == "" {
		return s
	}
	c := *s
	c.Args = slices.Clone(s.Args)
	for j := range c.Args {
		if c.Args[j].Name == ".id" {
			c.Args[j].Name = name
		}
	}
	return &c
}

// checkArgs refuses an argument the command does not take, as the console's parser
// does before a sentence gets here. The API and REST hand their words over as they
// came, and a handler reads only the arguments it knows: a misspelt or foreign one
// (`/ip/ipsec/installed-sa/flush =sa-typ=esp`) would be ignored and the command would
// act on its defaults. Checked here, every command, whichever engine handles it, is
// refused alike and runs nothing.
func (x *Executor) checkArgs(m *menu.Menu, s *Sentence) error {
	spec, _ := x.Command(s.Path, s.Cmd)
	for _, a := range s.Args {
		if slices.Contains(spec.Positional, a.Name) || slices.Contains(spec.Args, a.Name) ||
			slices.Contains(spec.Flags, a.Name) {
			continue
		}
		if _, ok := m.Prop(a.Name); ok && spec.Props {
			continue
		}
		return errf(CatArgument, "unknown parameter %s", a.Name)
	}
	return nil
}

// Update runs fn in the session's batch transaction when it has one, or in a transaction
// of its own, then tells watchers what changed. fn must validate before it writes: an
// error from fn leaves the store as it was (own transaction) and a batch must not see
// half a command either, which is why handlers collect their writes and apply them last.
func (x *Executor) Update(sess *Session, fn func(tx *store.Tx) ([]Change, error)) error {
	if x.hist != nil && sess != nil {
		fn = journaled(sess.root(), fn)
	}
	if sess != nil {
		sess = sess.root()
		sess.txmu.Lock()
		if sess.batching {
			defer sess.txmu.Unlock()
			return x.batchUpdate(sess, fn)
		}
		sess.txmu.Unlock()
	}
	var chs []Change
	err := x.Store.Update(func(tx *store.Tx) error {
		var err error
		chs, err = fn(tx)
		return err
	})
	if err == nil {
		x.notify(chs)
	}
	return err
}

// View runs fn in the session's batch transaction or a read-only one.
func (x *Executor) View(sess *Session, fn func(tx *store.Tx) error) error {
	if sess != nil {
		sess = sess.root()
		sess.txmu.Lock()
		if sess.batch != nil {
			defer sess.txmu.Unlock()
			return fn(sess.batch)
		}
		sess.txmu.Unlock()
	}
	return x.Store.View(fn)
}

// Row builds the print row of a stored item: defaults filled in, runtime state merged.
func (x *Executor) Row(m *menu.Menu, it store.Item, showSensitive bool) Row {
	r := Row{ID: it.ID, Menu: m, Props: make(map[string]string, len(m.Props)+2)}
	for _, p := range m.Props {
		if p.Hidden || p.Secret || (p.Sensitive && !showSensitive) {
			continue
		}
		if v, ok := it.Props[p.Name]; ok {
			if v == "" && p.Negatable {
				continue // off: print shows no value, as RouterOS
			}
			r.Props[p.Name] = v
		} else if p.Default != "" {
			r.Props[p.Name] = p.Default
		}
	}
	st, _ := x.State.Get(m.Path, it.ID)
	for k, v := range st.Props {
		r.Props[k] = v
	}
	x.mu.RLock()
	rp := x.rowProps[m.Path]
	x.mu.RUnlock()
	if rp != nil {
		rp(it.ID, r.Props)
	}
	engine, fault := x.engineOf(m)
	if fault != "" {
		// The engine's last pass failed as a whole (a panic, an unreadable store): none
		// of its items can be trusted to be applied, whatever they last reported.
		st.Invalid, st.Status = true, "not applied: "+fault
	}
	if st.Status == "" && engine == "" && m.Kind != menu.Status {
		st.Status = x.notApplied(m.Path)
	}
	if ne := noEffect(m, it.Props); ne != "" {
		if st.Status != "" {
			st.Status += "; "
		}
		st.Status += ne
	}
	if st.Status != "" {
		r.Props["status"] = st.Status
	}
	if it.Props[builtinKey] != "" {
		r.Props["default"] = "yes"
	}
	var fl []byte
	for _, f := range allFlags(m) {
		on := false
		// Letters mean different things per menu (R is running on a tunnel, responder on
		// an IPsec peer), so flags are decided by name.
		switch f.Name {
		case "disabled":
			on = it.Props["disabled"] == "yes"
		case "running":
			on = st.Running
		case "invalid":
			on = st.Invalid
		case "active":
			on = st.Active
		case "default":
			on = it.Props[builtinKey] != ""
		default:
			on = r.Props[f.Name] == "yes"
		}
		if on {
			fl = append(fl, f.Letter)
		}
	}
	r.Flags = string(fl)
	if c := it.Props["comment"]; c != "" {
		r.Props["comment"] = c
	}
	return r
}

// builtinKey marks items created from Menu.Builtin; they can be set but not removed.
const builtinKey = ".builtin"

func allFlags(m *menu.Menu) []menu.Flag {
	fs := m.Flags
	if m.HasDisabled() {
		has := false
		for _, f := range fs {
			has = has || f.Letter == 'X'
		}
		if !has {
			fs = append(append([]menu.Flag(nil), fs...), menu.FlagDisabled)
		}
	}
	return fs
}

// ParseValue validates the value of property p as given by a user.
func ParseValue(p *menu.Prop, v string) (string, error) {
	if p.Auto && v == "auto" {
		return v, nil
	}
	if p.Ref != "" && p.Type == nil {
		return v, nil
	}
	t := p.Type
	if t == nil {
		t = value.String()
	}
	c, err := t.Parse(v)
	if err != nil {
		return "", &Error{Msg: value.Message(p.Name, err), Category: CatArgument}
	}
	return c, nil
}

// resolve turns an item reference (print numbers, names, *ids, comma lists of them) into
// ids. An empty reference is an empty list: MikroTik's own scripts pass empty find
// results to remove and set and expect nothing to happen.
func (x *Executor) resolve(tx *store.Tx, sess *Session, m *menu.Menu, ref string) ([]uint64, error) {
	if ref == "" {
		return nil, nil
	}
	var out []uint64
	seen := map[uint64]bool{}
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, found := uint64(0), false
		if v, ok := ParseID(part); ok {
			_, err := tx.Get(m.Path, v)
			id, found = v, err == nil
		} else if isDigits(part) {
			n, _ := strconv.Atoi(part)
			nums := sess.numbers(m.Path)
			printed := nums != nil
			if nums == nil {
				// No print yet in this session: number as print would.
				items, err := tx.List(m.Path)
				if err != nil {
					return nil, err
				}
				for _, it := range items {
					nums = append(nums, it.ID)
				}
			}
			if n >= 0 && n < len(nums) {
				_, err := tx.Get(m.Path, nums[n])
				// A status menu's rows come from its engine, not the store (connections):
				// the number refers to the row the last print showed; the engine's
				// command decides whether it still exists.
				id, found = nums[n], err == nil || (printed && m.Kind == menu.Status)
			}
		}
		if !found && m.NameProp() != "" {
			id, found = tx.ByName(m.Path, part)
		}
		if !found {
			return nil, ErrNoSuchItem
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// Resolve turns an item reference (numbers as print showed them, *ids, names, lists of
// them) into item ids, for handlers that check a change before the generic command runs.
func (x *Executor) Resolve(tx *store.Tx, sess *Session, m *menu.Menu, ref string) ([]uint64, error) {
	return x.resolve(tx, sess, m, ref)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// errorf is for handlers in other packages: a failure in RouterOS words.
func Failure(format string, args ...any) error {
	return errf(CatFailure, "failure: "+format, args...)
}

// ArgError reports a bad argument value in RouterOS words.
func ArgError(format string, args ...any) error { return errf(CatArgument, format, args...) }

// AsError converts any error to an *Error, keeping RouterOS messages and hiding
// internal detail behind a failure message.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchItem
	}
	return &Error{Msg: fmt.Sprintf("failure: %v", err), Category: CatFailure}
}

// Items reads the configured items of a menu, for engines applying it.
func (x *Executor) Items(path string) ([]store.Item, error) {
	var items []store.Item
	err := x.Store.View(func(tx *store.Tx) error {
		var err error
		items, err = tx.List(path)
		return err
	})
	return items, err
}

// SharedItems is Items for an engine that never modifies the items' Props
// (store.Tx.ListShared): unchanged items come back as the maps the last read returned.
func (x *Executor) SharedItems(path string) ([]store.Item, error) {
	var items []store.Item
	err := x.Store.View(func(tx *store.Tx) error {
		var err error
		items, err = tx.ListShared(path)
		return err
	})
	return items, err
}

// SetEngine records that an engine applies the menu at path, so print stops reporting
// its items as not applied. The menu's declaration (Menu.Engine) is left alone: engines
// register while sessions print, so the record lives under the executor's lock.
func (x *Executor) SetEngine(path, engine string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.engines == nil {
		x.engines = map[string]string{}
	}
	x.engines[path] = engine
}

// Engine returns the engine that applies the menu at path ("" when none does).
func (x *Executor) Engine(path string) string {
	m, ok := x.Tree.Get(path)
	if !ok {
		return ""
	}
	e, _ := x.engineOf(m)
	return e
}

// engineOf returns the engine of menu m and why its last pass failed, if it did.
func (x *Executor) engineOf(m *menu.Menu) (engine, fault string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	engine = x.engines[m.Path]
	if engine == "" {
		engine = m.Engine
	}
	fault = x.faults[m.Path]
	// An engine that declares a menu serves the menus below it (ipsec declares /ip/ipsec):
	// its failed pass marks their items too, where the same engine serves them.
	for p := m.Path; fault == "" && len(x.faults) > 0; {
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			break
		}
		p = p[:i]
		if r, ok := x.faults[p]; ok && x.engines[p] == engine {
			fault = r
		}
	}
	return engine, fault
}

// Fault marks every item of the menu at path, and of the menus below it that the same
// engine serves, invalid with reason (the engine's pass failed as a whole); an empty
// reason clears the mark. The engine host sets it when a
// reconcile panics or fails and clears it after the next pass that succeeds.
func (x *Executor) Fault(path, reason string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if reason == "" {
		delete(x.faults, path)
		return
	}
	if x.faults == nil {
		x.faults = map[string]string{}
	}
	x.faults[path] = reason
}

// EngineFailed records why the engine of the menus at and below prefix could not start;
// their items then say so instead of "no engine for this menu yet".
func (x *Executor) EngineFailed(prefix, reason string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failed == nil {
		x.failed = map[string]string{}
	}
	x.failed[prefix] = reason
}

func (x *Executor) notApplied(path string) string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	best := ""
	for p := range x.failed {
		if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		return "not applied: " + x.failed[best]
	}
	return "not applied: no engine for this menu yet"
}

// noEffect is the status part naming the properties of an item that are set away from
// their default but have no effect on this system (Prop.NoEffect).
func noEffect(m *menu.Menu, props map[string]string) string {
	var parts []string
	for _, p := range m.Props {
		if p.NoEffect == "" {
			continue
		}
		if v, ok := props[p.Name]; ok && v != p.Default {
			parts = append(parts, p.Name+" ("+p.NoEffect+")")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "no effect here: " + strings.Join(parts, ", ")
}
