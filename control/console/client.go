package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Error is a command's failure as routerd reports it: the RouterOS message, for stderr.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Client is a console connection to routerd. Run, Complete and Identity are used one at
// a time; Cancel may be called from another goroutine while Run waits.
type Client struct {
	// File: what Run sends is a script file run as one unit (routerctl -f), whose
	// run-time error names the line and column of the statement that failed, as
	// /import's does.
	File bool
	// V6: what Run sends is a RouterOS 6 export's (control.Session.V6).
	V6 bool

	conn net.Conn
	dec  *json.Decoder

	wmu sync.Mutex
	enc *json.Encoder
}

// Dial connects to routerd's console socket.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to routerd at %s: %w", path, err)
	}
	return &Client{conn: c, dec: json.NewDecoder(c), enc: json.NewEncoder(c)}, nil
}

// Close closes the connection; a command in progress is interrupted.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) send(r request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.enc.Encode(r); err != nil {
		return fmt.Errorf("console: send: %w", err)
	}
	return nil
}

// recv reads messages until the done message, passing output to out.
func (c *Client) recv(out io.Writer) (response, error) {
	for {
		var r response
		if err := c.dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return r, errors.New("console: connection closed by routerd")
			}
			return r, fmt.Errorf("console: receive: %w", err)
		}
		if r.Out != "" && out != nil {
			if _, err := io.WriteString(out, r.Out); err != nil {
				return r, fmt.Errorf("console: output: %w", err)
			}
		}
		if len(r.Raw) > 0 && out != nil {
			if _, err := out.Write(r.Raw); err != nil {
				return r, fmt.Errorf("console: output: %w", err)
			}
		}
		if r.Done {
			return r, nil
		}
	}
}

// Run runs src at menu path and streams its output to out. It returns the menu the
// console is at afterwards (a path alone on a line moves it). A failed command returns
// an *Error with the RouterOS message; other errors are about the connection.
func (c *Client) Run(path, src string, interactive bool, width int, out io.Writer) (string, error) {
	if err := c.send(request{Op: "run", Path: path, Src: src, Interactive: interactive, Width: width, File: c.File, V6: c.V6}); err != nil {
		return path, err
	}
	r, err := c.recv(out)
	if err != nil {
		return path, err
	}
	if r.Error != "" {
		return r.Path, &Error{Msg: r.Error}
	}
	return r.Path, nil
}

// Cancel interrupts the command Run is waiting for (Ctrl-C).
func (c *Client) Cancel() error { return c.send(request{Op: "cancel"}) }

// Complete returns the words that complete the last word of line at menu path.
func (c *Client) Complete(path, line string) ([]string, error) {
	if err := c.send(request{Op: "complete", Path: path, Line: line}); err != nil {
		return nil, err
	}
	r, err := c.recv(nil)
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, &Error{Msg: r.Error}
	}
	return r.Words, nil
}

// Help returns what `?` shows for line typed at menu path.
func (c *Client) Help(path, line string) (string, error) {
	if err := c.send(request{Op: "help", Path: path, Line: line}); err != nil {
		return "", err
	}
	r, err := c.recv(nil)
	if err != nil {
		return "", err
	}
	if r.Error != "" {
		return "", &Error{Msg: r.Error}
	}
	return r.Out, nil
}

// Identity returns the router's identity, for the prompt.
func (c *Client) Identity() (string, error) {
	if err := c.send(request{Op: "identity"}); err != nil {
		return "", err
	}
	r, err := c.recv(nil)
	if err != nil {
		return "", err
	}
	if r.Error != "" {
		return "", &Error{Msg: r.Error}
	}
	return r.Identity, nil
}
