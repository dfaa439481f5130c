package terminal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/console"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/system"
)

const (
	ctrlC = 0x03
	// intrKey is what an idle Ctrl-C becomes on its way to the line editor: x/term ends
	// the session on Ctrl-C, and a key it does not know reaches the completion callback,
	// which drops the line instead.
	intrKey = 0x07
	tab     = '\t'
	// cutKey marks, before its end, a line the input cut at MaxLine; the line is then
	// refused instead of run.
	cutKey = 0x18
	// MaxLine bounds a line typed at the console: the line editor keeps no more (it
	// drops the rest silently, which would run a different command) and copies the
	// line on every key, so megabytes of input cost minutes of CPU. Exports wrap long
	// values with backslash-newline, so no command needs more.
	MaxLine = 4096
	// MaxStatement bounds the lines of one statement continued over several (an open
	// brace or bracket, a trailing backslash).
	MaxStatement = 64 << 10
	// maxComplete bounds the statement text Tab completes.
	maxComplete = 512
	// maxTypeahead bounds what is kept of input typed while a command runs.
	maxTypeahead = 64 << 10
	// DefaultWidth is the width until the client tells its own.
	DefaultWidth = 80
)

// Term is a line-editing terminal over a byte stream.
type Term struct {
	t  *term.Terminal
	in *input

	mu     sync.Mutex
	width  int
	path   string // the console's menu, for completion
	interp *script.Interp
	drop   bool // Ctrl-C dropped the line: forget a pending continuation
	cut    bool // the line was longer than MaxLine
}

// New makes a terminal reading keys from r and writing to w. It reads r on a goroutine
// of its own until r fails; closing the stream ends it.
func New(r io.Reader, w io.Writer) *Term {
	t := &Term{in: newInput(r), width: DefaultWidth}
	t.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{t.in, w}, "")
	t.t.AutoCompleteCallback = t.key
	return t
}

// Resize tells the terminal the client's window size.
func (t *Term) Resize(width, height int) {
	if width <= 0 || width > 1000 {
		return
	}
	t.mu.Lock()
	t.width = width
	t.mu.Unlock()
	t.t.SetSize(width, height)
}

// ReadLine reads a line with the prompt shown (a login name).
func (t *Term) ReadLine(prompt string) (string, error) {
	t.t.SetPrompt(prompt)
	return t.t.ReadLine()
}

// ReadPassword reads a line without echo.
func (t *Term) ReadPassword(prompt string) (string, error) {
	return t.t.ReadPassword(prompt)
}

// Write writes output, turning \n into \r\n.
func (t *Term) Write(p []byte) (int, error) { return t.t.Write(p) }

// Shell is who the console runs for.
type Shell struct {
	Interp *script.Interp
	Sess   *control.Session
	// Identity names the router in the prompt (nil: MikroTik).
	Identity func() string
}

// Prompt is the console prompt: [user@identity] /menu>.
func Prompt(user, identity, path string) string {
	if identity == "" {
		identity = "MikroTik"
	}
	// The identity is a user's string: an ESC in it must not drive every console.
	user, identity = control.Printable(user), control.Printable(identity)
	if path == "" {
		return fmt.Sprintf("[%s@%s] > ", user, identity)
	}
	return fmt.Sprintf("[%s@%s] %s> ", user, identity, path)
}

// Run is the interactive console: it reads lines and runs them until the user quits or
// the stream ends (nil), or ctx ends.
func (t *Term) Run(ctx context.Context, sh Shell) error {
	t.mu.Lock()
	t.interp = sh.Interp
	t.mu.Unlock()
	con := &script.Console{Sess: sh.Sess, Interactive: true}
	if sh.Interp != nil && sh.Interp.Globals != nil {
		// The globals this login made go with it.
		defer sh.Interp.Globals.EndSession(sh.Sess)
	}
	if sh.Interp != nil {
		if note := LoginNote(ctx, sh.Interp.Ex); note != "" {
			fmt.Fprintln(t, note)
		}
	}
	var pending []string // lines of a statement that continues (open brace, trailing \)
	for ctx.Err() == nil {
		t.mu.Lock()
		t.path = con.Path
		t.mu.Unlock()
		if len(pending) == 0 {
			id := ""
			if sh.Identity != nil {
				id = sh.Identity()
			}
			t.t.SetPrompt(Prompt(sh.Sess.User, id, con.Path))
		} else {
			t.t.SetPrompt("{... ")
		}
		line, err := t.t.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		t.mu.Lock()
		if t.drop {
			t.drop, pending = false, nil
		}
		cut := t.cut
		t.cut = false
		t.mu.Unlock()
		if cut {
			pending = nil
			fmt.Fprintf(t, "syntax error (line longer than %d bytes)\n", MaxLine)
			continue
		}
		if len(pending) == 0 {
			switch strings.TrimSpace(line) {
			case "":
				continue
			case "quit", "/quit", "exit", "/exit":
				return nil
			}
		}
		pending = append(pending, line)
		if size(pending) > MaxStatement {
			pending = nil
			fmt.Fprintf(t, "syntax error (statement too long, over %d bytes)\n", MaxStatement)
			continue
		}
		src := strings.Join(pending, "\n")
		if console.Incomplete(src) {
			continue
		}
		pending = nil
		t.mu.Lock()
		con.Width = t.width
		t.mu.Unlock()
		if err := t.run(ctx, sh.Interp, con, src); err != nil {
			msg := err.Error()
			if msg == "" {
				msg = "failure"
			}
			fmt.Fprintln(t, msg)
		}
	}
	return ctx.Err()
}

// size is the length of the lines of a statement.
func size(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	return n
}

// run runs one unit; Ctrl-C meanwhile interrupts it.
func (t *Term) run(ctx context.Context, in *script.Interp, con *script.Console, src string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.in.setInterrupt(cancel)
	defer t.in.setInterrupt(nil)
	return in.Run(ctx, con, src, t)
}

// key is the line editor's hook for keys it does not handle: Tab completes, an idle
// Ctrl-C drops the line.
func (t *Term) key(line string, pos int, key rune) (string, int, bool) {
	switch key {
	case intrKey:
		t.mu.Lock()
		t.drop = true
		t.mu.Unlock()
		return "", 0, true
	case cutKey:
		t.mu.Lock()
		t.cut = true
		t.mu.Unlock()
		return line, pos, true
	case tab:
		return t.complete(line, pos)
	case '?':
		if pos > len(line) || inQuotes(line[:pos]) {
			return "", 0, false // a question mark inside a string is text
		}
		t.mu.Lock()
		in, path := t.interp, t.path
		t.mu.Unlock()
		if in == nil {
			return "", 0, false
		}
		// As RouterOS's console: help for what is typed so far, then the line again.
		fmt.Fprintf(t, "%s?\n%s", line[:pos], in.Help(path, line[:pos]))
		return line, pos, true
	}
	return "", 0, false
}

// inQuotes reports whether s ends inside a double-quoted string.
func inQuotes(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && in:
			i++
		case s[i] == '"':
			in = !in
		}
	}
	return in
}

// complete replaces the word before the cursor: the one completion (with a space after
// a whole word), or the candidates' common prefix, or lists them when that adds
// nothing, as the RouterOS console does.
func (t *Term) complete(line string, pos int) (string, int, bool) {
	t.mu.Lock()
	in, path := t.interp, t.path
	t.mu.Unlock()
	if in == nil || pos > len(line) {
		return line, pos, true
	}
	before := line[:pos]
	// Completion looks at the statement being typed, not at what came before it on
	// the line, and not at all at a statement longer than any command needs: its cost
	// grows with the text, and Tab can be pressed at every byte.
	if i := strings.LastIndexAny(before, ";{"); i >= 0 {
		before = before[i+1:]
	}
	if len(before) > maxComplete {
		return line, pos, true
	}
	head := line[:pos-len(before)]
	word := before[strings.LastIndexAny(before, " \t")+1:]
	var cands []string
	for _, w := range in.Complete(path, before) {
		if strings.HasPrefix(w, word) {
			cands = append(cands, w)
		}
	}
	insert := ""
	switch len(cands) {
	case 0:
		return line, pos, true
	case 1:
		insert = cands[0][len(word):]
		if !strings.HasSuffix(cands[0], "=") && !strings.HasSuffix(cands[0], "/") {
			insert += " "
		}
	default:
		cp := cands[0]
		for _, c := range cands[1:] {
			for !strings.HasPrefix(c, cp) {
				cp = cp[:len(cp)-1]
			}
		}
		insert = cp[len(word):]
		if insert == "" {
			fmt.Fprintln(t, strings.Join(cands, "  "))
			return line, pos, true
		}
	}
	return head + before + insert + line[pos:], pos + len(insert), true
}

// input reads the stream on its own goroutine, so that Ctrl-C reaches a running command
// while the line editor is not reading, and keeps what is typed meanwhile for the next
// line.
type input struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  bytes.Buffer
	err  error
	intr context.CancelFunc // the running command, nil when idle
	// line counts the bytes of the line being typed; over MaxLine the rest of it is
	// dropped and cutKey goes before its end.
	line int
}

func newInput(r io.Reader) *input {
	in := &input{}
	in.cond = sync.NewCond(&in.mu)
	go in.pump(r)
	return in
}

// pump reads the stream until it fails. It runs beside the session (newInput), outside
// the recovery of the session's own goroutine: a panic while taking what the client
// typed ends the input as a read error would (the session ends), logged with its stack,
// never the daemon.
func (in *input) pump(r io.Reader) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("terminal: internal error reading input", "panic", p, "stack", string(debug.Stack()))
			in.mu.Lock()
			in.err = fmt.Errorf("internal error: %v", p)
			in.buf.Reset()
			in.cond.Broadcast()
			in.mu.Unlock()
		}
	}()
	p := make([]byte, 4096)
	var partial []byte // an incomplete UTF-8 sequence at the end of the last read
	for {
		n, err := r.Read(p)
		if !in.take(validUTF8(&partial, p[:n]), err) {
			return
		}
	}
}

// take queues what was read (chunk) and the read's error; false means the input ended.
func (in *input) take(chunk []byte, err error) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.intr != nil && bytes.IndexByte(chunk, ctrlC) >= 0 {
		in.intr()
		chunk = bytes.ReplaceAll(chunk, []byte{ctrlC}, nil)
	}
	// Input is bounded whether or not a command runs: a client that floods keys
	// (Tab completes, and each costs work) gets no more than maxTypeahead queued.
	// At the prompt the reader waits for the line editor to catch up (the
	// client's sends back up, nothing is lost); while a command runs it must keep
	// reading to see Ctrl-C, so what does not fit is dropped.
	for in.intr == nil && in.buf.Len() > 0 && in.buf.Len()+len(chunk) > maxTypeahead {
		in.cond.Wait()
	}
	if in.buf.Len()+len(chunk) <= maxTypeahead {
		for _, c := range chunk {
			switch c {
			case ctrlC:
				c = intrKey
			case cutKey:
				continue
			case '\r', '\n':
				if in.line > MaxLine {
					in.buf.WriteByte(cutKey)
				}
				in.line = 0
			default:
				in.line++
				if in.line > MaxLine {
					continue
				}
			}
			in.buf.WriteByte(c)
		}
	}
	if err != nil {
		in.err = err
		// The client is gone: what it typed and nobody will see is not worth
		// the work (completions, a line to run).
		in.buf.Reset()
	}
	in.cond.Broadcast()
	return err == nil
}

// validUTF8 returns the complete, valid UTF-8 of *partial followed by p, and keeps an
// incomplete sequence at the end in *partial. Invalid bytes are dropped: the line editor
// waits forever for the rest of a sequence that cannot be completed.
func validUTF8(partial *[]byte, p []byte) []byte {
	b := append(*partial, p...)
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out, b = append(out, b[0]), b[1:]
			continue
		}
		if !utf8.FullRune(b) {
			break
		}
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	*partial = append((*partial)[:0:0], b...)
	return out
}

func (in *input) Read(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for in.buf.Len() == 0 && in.err == nil {
		in.cond.Wait()
	}
	if in.buf.Len() > 0 {
		n, err := in.buf.Read(p)
		in.cond.Broadcast() // room for the reader waiting to queue more
		return n, err
	}
	return 0, in.err
}

func (in *input) setInterrupt(cancel context.CancelFunc) {
	in.mu.Lock()
	in.intr = cancel
	in.cond.Broadcast() // a reader waiting for room must go back to reading for Ctrl-C
	in.mu.Unlock()
}

// LoginNote is the /system note shown after login when show-at-login is yes, or "".
func LoginNote(ctx context.Context, ex *control.Executor) string {
	m, ok := ex.Tree.Get(system.NotePath)
	if !ok {
		return ""
	}
	rows, err := ex.Rows(ctx, nil, m, false)
	if err != nil || len(rows) != 1 || rows[0].Props["show-at-login"] != "yes" {
		return ""
	}
	// Whoever may write the note must not drive the terminals of those who log in.
	return control.PrintableText(strings.TrimRight(rows[0].Props["note"], "\n"))
}
