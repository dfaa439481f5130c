// Command routerctl is routerd's console client.
//
//	routerctl [--socket PATH] COMMAND...   run one console command
//	routerctl [--socket PATH] -f FILE|-    run a script file (- reads stdin)
//	routerctl -f FILE --continue           run it statement by statement, report each
//	                                       failure with its line and go on; a summary
//	                                       (applied, skipped by menu, refused by reason)
//	                                       ends the run
//	routerctl [--socket PATH]              interactive console (a script from stdin when
//	                                       stdin is not a terminal)
//
// Errors go to stderr in RouterOS's words, and the exit status is 1; the interactive
// console prints them and carries on.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/chzyer/readline"
	"golang.org/x/term"

	"github.com/routerd/routerd/control/console"
)

func main() {
	socket := flag.String("socket", "/run/routerd/routerd.sock", "routerd's console socket")
	file := flag.String("f", "", "run the script in `FILE` (- for stdin)")
	cont := flag.Bool("continue", false, "with -f: go on after a failing statement and print a summary")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: routerctl [--socket PATH] [COMMAND... | -f FILE|-]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *file != "" && flag.NArg() > 0 || *cont && *file == "" {
		flag.Usage()
		os.Exit(2)
	}

	c, err := console.Dial(*socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()

	stdinTTY := term.IsTerminal(int(os.Stdin.Fd()))
	switch {
	case *file != "":
		var src []byte
		if *file == "-" {
			src, err = io.ReadAll(os.Stdin)
		} else {
			src, err = os.ReadFile(*file)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		src = bytes.TrimPrefix(src, []byte(console.BOM))
		c.V6 = console.ExportVersion(string(src)) == 6
		if *cont {
			os.Exit(continueRun(c, string(src)))
		}
		c.File = true
		os.Exit(oneShot(c, string(src)))
	case flag.NArg() > 0:
		os.Exit(oneShot(c, strings.Join(flag.Args(), " ")))
	case !stdinTTY:
		src, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(oneShot(c, string(src)))
	}
	os.Exit(interactive(c))
}

// width is the terminal width of stdout, 0 when stdout is not a terminal: then print
// writes for programs, not for eyes.
func width() (int, bool) {
	fd := int(os.Stdout.Fd())
	if !term.IsTerminal(fd) {
		return 0, false
	}
	w, _, err := term.GetSize(fd)
	if err != nil || w <= 0 {
		w = 80
	}
	return w, true
}

// runCancellable runs src, turning Ctrl-C into a cancel of the command rather than the
// end of routerctl.
func runCancellable(c *console.Client, path, src string) (string, error) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sig:
				c.Cancel()
			case <-done:
				return
			}
		}
	}()
	w, tty := width()
	return c.Run(path, src, tty, w, os.Stdout)
}

func oneShot(c *console.Client, src string) int {
	if _, err := runCancellable(c, "", src); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// continueRun runs src statement by statement, as /import verbose=yes does inside
// routerd: each failure goes to stderr with its line number, and the run goes on.
func continueRun(c *console.Client, src string) int {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	path := ""
	rep := console.RunStatements(strings.Split(src, "\n"), 1, func(stmt string) error {
		var err error
		path, err = runCancellable(c, path, stmt)
		var ce *console.Error
		if err != nil && !errors.As(err, &ce) {
			// The connection is gone: nothing more can run.
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return err
	}, func(msg string) { fmt.Fprintln(os.Stderr, msg) })
	fmt.Fprint(os.Stderr, rep.Summary())
	if rep.Errors() > 0 {
		return 1
	}
	return 0
}

func prompt(c *console.Client, path string) string {
	id, err := c.Identity()
	if err != nil || id == "" {
		id = "MikroTik"
	}
	if path == "" {
		return fmt.Sprintf("[admin@%s] > ", id)
	}
	return fmt.Sprintf("[admin@%s] %s> ", id, path)
}

func interactive(c *console.Client) int {
	comp := &completer{c: c}
	cfg := &readline.Config{
		AutoComplete:    comp,
		InterruptPrompt: "^C",
		EOFPrompt:       "",
		// Lines are saved by hand, with their secrets masked (historyLine).
		DisableAutoSaveHistory: true,
	}
	if home, err := os.UserHomeDir(); err == nil {
		h := filepath.Join(home, ".routerctl_history")
		if err := openHistory(h); err != nil {
			fmt.Fprintln(os.Stderr, "history:", err)
		} else {
			cfg.HistoryFile = h
		}
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rl.Close()
	// `?` shows help for what is typed so far, as RouterOS's console does, and leaves
	// the line as it was; inside a quoted string it is a question mark.
	cfg.SetListener(func(line []rune, pos int, key rune) ([]rune, int, bool) {
		if key != '?' || pos == 0 || pos > len(line) || line[pos-1] != '?' {
			return nil, 0, false
		}
		before := string(line[:pos-1])
		if inQuotes(before) {
			return nil, 0, false
		}
		help, err := c.Help(comp.path, before)
		if err != nil {
			return nil, 0, false
		}
		fmt.Fprintf(rl.Stdout(), "%s%s?\n%s", rl.Config.Prompt, before, help)
		return append(line[:pos-1:pos-1], line[pos:]...), pos - 1, true
	})

	path := ""
	var pending []string // lines of a statement that continues (open brace, trailing \)
	for {
		comp.path = path
		if len(pending) == 0 {
			rl.SetPrompt(prompt(c, path))
		} else {
			rl.SetPrompt("{... ")
		}
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			pending = nil // Ctrl-C drops the line being typed
			continue
		case errors.Is(err, io.EOF):
			return 0
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if len(pending) == 0 {
			switch strings.TrimSpace(line) {
			case "":
				continue
			case "quit", "/quit", "exit", "/exit":
				return 0
			}
		}
		if strings.TrimSpace(line) != "" {
			rl.SaveHistory(historyLine(line))
		}
		pending = append(pending, line)
		src := strings.Join(pending, "\n")
		if console.Incomplete(src) {
			continue
		}
		pending = nil
		newPath, err := runCancellable(c, path, src)
		path = newPath
		if err != nil {
			var ce *console.Error
			if !errors.As(err, &ce) {
				// The connection is gone: routerd stopped.
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// completer adapts Client.Complete to readline: routerd returns whole words replacing
// the word under the cursor; readline wants what to append to it. Readline calls Do only
// while Readline blocks, so path (set between lines) and the connection are not shared
// with a running command.
type completer struct {
	c    *console.Client
	path string // the console's current menu
}

func (r *completer) Do(line []rune, pos int) ([][]rune, int) {
	before := string(line[:pos])
	word := before[strings.LastIndexAny(before, " \t")+1:]
	words, err := r.c.Complete(r.path, before)
	if err != nil {
		return nil, 0
	}
	var out [][]rune
	var last string
	for _, w := range words {
		if !strings.HasPrefix(w, word) {
			continue
		}
		out = append(out, []rune(w[len(word):]))
		last = w
	}
	// A single complete word gets its separating space, as RouterOS's console adds;
	// "name=" and "menu/" wait for more.
	if len(out) == 1 && !strings.HasSuffix(last, "=") && !strings.HasSuffix(last, "/") {
		out[0] = append(out[0], ' ')
	}
	return out, len([]rune(word))
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
