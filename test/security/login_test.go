package security

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control/api"
)

// apiLogin logs in over the RouterOS API from local (nil: any) and returns the reply's
// first word and message.
func apiLogin(t *testing.T, addr string, local net.IP, name, password string) (string, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := api.NewWriter(c).WriteSentence("/login", "=name="+name, "=password="+password); err != nil {
		return "", err
	}
	words, err := api.NewReader(c).ReadSentence()
	return strings.Join(words, " "), err
}

// telnetLogin tries one login over telnet and returns what the server said after it.
func telnetLogin(t *testing.T, addr, name, password string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	tc := &telnetClient{c: c, br: bufio.NewReader(c)}
	if _, err := tc.until("Login: ", 10*time.Second); err != nil {
		return err.Error()
	}
	tc.send(name + "\r")
	if _, err := tc.until("Password: ", 10*time.Second); err != nil {
		return err.Error()
	}
	tc.send(password + "\r")
	out, _ := tc.until("Login: ", 30*time.Second)
	return out
}

// ftpLogin tries one login over ftp and returns the reply to PASS.
func ftpLogin(t *testing.T, addr, name, password string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	br.ReadString('\n')
	fmt.Fprintf(c, "USER %s\r\n", name)
	br.ReadString('\n')
	fmt.Fprintf(c, "PASS %s\r\n", password)
	l, _ := br.ReadString('\n')
	return l
}

// Thirty parallel guesses at admin's password over api, telnet and ftp get five
// password checks in all; admin's right password from another address still works,
// and so does another user's from the guessing address.
func TestParallelLoginGuessing(t *testing.T) {
	r := newRouter(t, []string{"api", "telnet", "ftp"})
	r.must("/user/set", "admin", "password=admin-pw-1")
	r.addUser("w", "full", "w-password-1")
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				apiLogin(t, r.addr("api"), nil, "admin", fmt.Sprintf("guess%d", i))
			case 1:
				telnetLogin(t, r.addr("telnet"), "admin", fmt.Sprintf("guess%d", i))
			case 2:
				ftpLogin(t, r.addr("ftp"), "admin", fmt.Sprintf("guess%d", i))
			}
		}()
	}
	wg.Wait()
	log := r.must("/log/print")
	checked, refused := 0, 0
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "login failure for user admin") {
			continue
		}
		if strings.Contains(l, "too many failed logins") {
			refused++
		} else {
			checked++
		}
	}
	t.Logf("30 parallel guesses: %d checked, %d refused unchecked", checked, refused)
	if checked > 5 {
		t.Errorf("%d password checks for 30 parallel guesses; the limit is 5 a minute\n%s", checked, log)
	}
	if checked+refused < 30 {
		t.Errorf("only %d of 30 attempts were logged", checked+refused)
	}
	if out, err := apiLogin(t, r.addr("api"), net.ParseIP("127.0.0.2"), "admin", "admin-pw-1"); err != nil || !strings.HasPrefix(out, "!done") {
		t.Errorf("admin's right password from another address: %q %v", out, err)
	}
	if out, err := apiLogin(t, r.addr("api"), nil, "w", "w-password-1"); err != nil || !strings.HasPrefix(out, "!done") {
		t.Errorf("another user's right password from the guessing address: %q %v", out, err)
	}
	r.alive()
}

// vmRSS is routerd's resident memory in kB.
func (r *router) vmRSS() int {
	r.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.Pid()))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int
			fmt.Sscan(f[1], &kb)
			return kb
		}
	}
	return 0
}

// Ten unauthenticated API connections each announcing a 16 MiB word and sending it
// slowly cost routerd under 10 MB: the word is refused on its length before login.
func TestPreLoginAPIWord(t *testing.T) {
	r := newRouter(t, []string{"api"})
	before := r.vmRSS()
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", r.addr("api"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 16 << 20
			c.Write([]byte{0xF0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
			chunk := make([]byte, 1<<20)
			for sent := 0; sent < n; sent += len(chunk) {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	after := r.vmRSS()
	for _, c := range conns {
		c.Close()
	}
	t.Logf("routerd RSS %d kB before, %d kB with 10 connections sending 16 MiB words", before, after)
	if after-before > 10*1024 {
		t.Errorf("ten unauthenticated 16 MiB words cost %d kB", after-before)
	}
	r.alive()
}

// An ftp client that never logs in is closed after --login-timeout however many NOOPs
// it sends (twenty of them used to hold every slot).
func TestFTPPreLoginTimeout(t *testing.T) {
	r := newRouter(t, []string{"ftp"}, "--login-timeout", "2s")
	c, err := net.Dial("tcp", r.addr("ftp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	start := time.Now()
	closed := make(chan string, 1)
	go func() {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				closed <- last
				return
			}
			last = l
		}
	}()
	for {
		select {
		case last := <-closed:
			d := time.Since(start)
			t.Logf("closed after %v, last reply %q", d, strings.TrimSpace(last))
			if d > 10*time.Second || !strings.HasPrefix(last, "421") {
				t.Errorf("pre-login ftp connection closed after %v with %q", d, last)
			}
			return
		case <-time.After(300 * time.Millisecond):
			fmt.Fprintf(c, "NOOP\r\n")
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("an ftp client sending NOOP without logging in is still connected after 20 s")
		}
	}
}

// A stranger opening max-sessions idle connections to each service from one address
// holds at most half the slots until --login-timeout: a client from another address
// still gets in (every service used to reset it), and logged-in sessions from the
// stranger's address are not limited by the pre-login share.
func TestPreLoginSlots(t *testing.T) {
	services := []string{"telnet", "ftp", "ssh", "api", "api-ssl", "www"}
	r := newRouter(t, services)
	r.must("/user/set", "admin", "password=admin-pw-1")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for _, s := range services {
		for i := 0; i < 20; i++ {
			// Past the pre-login share the stranger's connections are reset.
			if c, err := net.DialTimeout("tcp", r.addr(s), 5*time.Second); err == nil {
				held = append(held, c)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	other := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for _, s := range services {
		c, err := other.Dial("tcp", r.addr(s))
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		switch s {
		case "api":
			api.NewWriter(c).WriteSentence("/login", "=name=admin", "=password=admin-pw-1")
			words, err := api.NewReader(c).ReadSentence()
			if err != nil || len(words) == 0 || words[0] != "!done" {
				t.Errorf("api login from another address while a stranger holds connections: %v %v", words, err)
			}
		case "api-ssl":
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
			if err := tc.Handshake(); err != nil {
				t.Errorf("api-ssl from another address: %v", err)
			}
		case "www":
			fmt.Fprintf(c, "GET /rest/system/identity HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46YWRtaW4tcHctMQ==\r\n\r\n")
			fallthrough
		default: // telnet, ftp and ssh speak first
			b := make([]byte, 64)
			if n, err := c.Read(b); err != nil || n == 0 {
				t.Errorf("%s from another address while a stranger holds connections: %v", s, err)
			} else if s == "www" && !strings.Contains(string(b[:n]), "200 OK") {
				t.Errorf("www from another address: %q", b[:n])
			}
		}
		c.Close()
	}
	// Logged in, the stranger's address may use the other slots like anyone.
	for _, c := range held {
		c.Close()
	}
	held = nil
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 15; i++ {
		c, err := net.DialTimeout("tcp", r.addr("api"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		api.NewWriter(c).WriteSentence("/login", "=name=admin", "=password=admin-pw-1")
		if words, err := api.NewReader(c).ReadSentence(); err != nil || len(words) == 0 || words[0] != "!done" {
			t.Fatalf("logged-in api session %d from one address: %v %v", i, words, err)
		}
	}
	r.alive()
}
