package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
)

const (
	defaultBlock   = 512
	maxBlockRFC    = 65464 // RFC 2348
	defaultTimeout = time.Second
	maxRetries     = 5
	// maxWindow bounds the blocks a sender keeps for retransmission (RFC 7440 allows
	// the server to answer a smaller windowsize than asked).
	maxWindow = 64
	// maxTransfers bounds concurrent transfers, so a flood of requests cannot open
	// unbounded sockets and files; maxPerClient keeps one client from taking them all.
	maxTransfers = 64
	maxPerClient = 8
)

// Config is what the engine compiles from /ip tftp and /ip tftp settings.
type Config struct {
	Rules    []*Rule
	MaxBlock int
}

// Server answers TFTP requests on one socket and runs each transfer on its own.
type Server struct {
	// Dir is the folder served (the data dir's files/).
	Dir string
	// Listen opens a transfer's socket (default net.ListenUDP); tests open it inside
	// their network namespace.
	Listen func(laddr *net.UDPAddr) (*net.UDPConn, error)
	// Hit is told which rule decided a request.
	Hit func(id uint64)
	// Metrics, when set, counts requests and bytes.
	Metrics *Metrics
	// Recovered is told of a panic that ended one request or transfer (see recovered);
	// nil logs it with its stack.
	Recovered func(what string, p any)

	// hook, set by tests, runs at points of packet handling ("request":
	// a datagram to port 69 parsed; "packet": a client's packet in a transfer parsed);
	// a test makes it panic to show that only that request or transfer ends.
	hook atomic.Pointer[func(where string, p *Packet)]

	cfg    atomic.Pointer[Config]
	active atomic.Int32

	mu        sync.Mutex
	perClient map[netip.Addr]int
}

// admit reserves a transfer slot for a client, or reports that none is free.
func (s *Server) admit(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient == nil {
		s.perClient = map[netip.Addr]int{}
	}
	if s.active.Load() >= maxTransfers || s.perClient[a] >= maxPerClient {
		return false
	}
	s.perClient[a]++
	s.active.Add(1)
	if s.Metrics != nil {
		s.Metrics.Active.Inc()
	}
	return true
}

func (s *Server) release(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[a]--; s.perClient[a] <= 0 {
		delete(s.perClient, a)
	}
	s.active.Add(-1)
	if s.Metrics != nil {
		s.Metrics.Active.Dec()
	}
}

// SetConfig replaces the rules and settings; transfers in progress keep theirs.
func (s *Server) SetConfig(c *Config) { s.cfg.Store(c) }

// Serve reads requests from conn until ctx ends or conn is closed.
func (s *Server) Serve(ctx context.Context, conn *net.UDPConn) error {
	pktinfo(conn)
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 65536)
	oob := make([]byte, 512)
	for {
		n, oobn, _, peer, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("tftp: read: %w", err)
		}
		s.request(ctx, conn, &wg, buf[:n], localAddr(oob[:oobn], conn), peer)
	}
}

// request answers one datagram to port 69: a refusal, or a transfer started on its own
// goroutine. A panic in it (a bug a client's bytes hit) ends that request only
// (recovered).
func (s *Server) request(ctx context.Context, conn *net.UDPConn, wg *sync.WaitGroup, b []byte, local netip.Addr, peer netip.AddrPort) {
	if isError(b) {
		// Answering an ERROR with an ERROR could loop between two servers.
		return
	}
	defer s.recovered("request", func() { s.reject(conn, peer, errUndefined, "Internal error") })
	p, err := Parse(b)
	if err != nil {
		s.count("malformed", "error")
		s.reject(conn, peer, errIllegalOp, "Illegal TFTP operation")
		return
	}
	s.inject("request", p)
	if p.Op != opRRQ && p.Op != opWRQ {
		// A DATA or ACK to port 69 belongs to no transfer.
		s.count("stray", "error")
		s.reject(conn, peer, errUnknownTID, "Unknown transfer ID")
		return
	}
	client := peer.Addr().Unmap()
	if !s.admit(client) {
		s.count(opName(p.Op), "busy")
		s.reject(conn, peer, errUndefined, "Server busy")
		return
	}
	wg.Add(1)
	// One goroutine per transfer, joined by Serve; handle recovers its own panics, so
	// a transfer's end is the goroutine's and Serve's wait holds.
	go func() {
		defer wg.Done()
		s.handle(ctx, local, peer, p, sync.OnceFunc(func() { s.release(client) }))
	}()
}

// recovered is deferred by the handling of one request and by each transfer: a panic
// there, a bug that a client's packet hits, ends that request or transfer only, never
// the listener or the daemon. It is counted (result internal-error), goes to Recovered
// (the engine logs it with its stack and shows it on its items until its next pass), and
// then the client is told (tell).
func (s *Server) recovered(op string, tell func()) {
	p := recover()
	if p == nil {
		return
	}
	s.count(op, "internal-error")
	// Recorded before the client is told, so that whoever hears of it (a client, a test)
	// finds it already counted and shown.
	if s.Recovered != nil {
		s.Recovered("tftp "+op, p)
	} else {
		slog.Error("tftp: internal error", "in", op, "panic", p, "stack", string(debug.Stack()))
	}
	if tell != nil {
		tell()
	}
}

func (s *Server) inject(where string, p *Packet) {
	if f := s.hook.Load(); f != nil {
		(*f)(where, p)
	}
}

func isError(b []byte) bool { return len(b) >= 2 && b[0] == 0 && b[1] == opERROR }

func opName(op uint16) string {
	if op == opWRQ {
		return "write"
	}
	return "read"
}

func (s *Server) count(op, result string) {
	if s.Metrics != nil {
		s.Metrics.Requests.WithLabelValues(op, result).Inc()
	}
}

func (s *Server) reject(conn *net.UDPConn, peer netip.AddrPort, code uint16, msg string) {
	conn.WriteToUDPAddrPort(appendError(nil, code, msg), peer)
}

// handle runs one transfer from its own socket (its transfer ID, RFC 1350 section 4).
// handle serves one request; release frees the client's slot and runs at the latest when
// handle returns.
func (s *Server) handle(ctx context.Context, local netip.Addr, peer netip.AddrPort, p *Packet, release func()) {
	defer release()
	listen := s.Listen
	if listen == nil {
		listen = func(a *net.UDPAddr) (*net.UDPConn, error) { return net.ListenUDP("udp", a) }
	}
	var la *net.UDPAddr
	if local.IsValid() {
		la = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := listen(la)
	if err != nil {
		slog.Warn("tftp: cannot open a transfer socket", "peer", peer, "err", err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	t := &transfer{ctx: ctx, s: s, conn: conn, peer: peer, blksize: defaultBlock, timeout: defaultTimeout, window: 1, release: release}
	op := opName(p.Op)
	defer s.recovered(op, func() { t.send(appendError(nil, errUndefined, "Internal error")) })
	res, err := t.run(p)
	if err != nil {
		slog.Info("tftp: transfer failed", "op", op, "file", p.Filename, "peer", peer, "err", err)
	}
	s.count(op, res)
}

// transfer is one read or write in progress.
type transfer struct {
	ctx     context.Context
	s       *Server
	conn    *net.UDPConn
	peer    netip.AddrPort
	blksize int
	timeout time.Duration
	window  int
	out     []byte // reused for every sent packet
	in      []byte
	// release frees the client's slot. A refused request frees it before the client is
	// told, so a client that asks again at once is not refused as busy.
	release func()
}

// failure is an error the client is told about.
type failure struct {
	code uint16
	msg  string
}

func (f *failure) Error() string { return fmt.Sprintf("TFTP error %d: %s", f.code, f.msg) }

func fail(code uint16, msg string) error { return &failure{code, msg} }

// run carries out the request and returns the result label for metrics.
func (t *transfer) run(p *Packet) (string, error) {
	err := t.serve(p)
	var f *failure
	switch {
	case err == nil:
		return "ok", nil
	case errors.As(err, &f):
		t.release()
		t.send(appendError(t.out, f.code, f.msg))
		switch f.code {
		case errAccess:
			return "denied", err
		case errNotFound:
			return "not-found", err
		}
		return "error", err
	case errors.Is(err, errPeerAborted):
		return "aborted", err
	}
	return "error", err
}

var (
	errPeerAborted = errors.New("the client sent an error")
	errGaveUp      = errors.New("no answer from the client")
)

func (t *transfer) serve(p *Packet) error {
	cfg := t.s.cfg.Load()
	if cfg == nil {
		return fail(errAccess, "Access violation")
	}
	if p.Mode != "octet" && p.Mode != "netascii" {
		return fail(errIllegalOp, "Unsupported transfer mode")
	}
	rule, real := decide(cfg.Rules, t.peer.Addr(), p.Filename)
	if rule == nil {
		return fail(errAccess, "Access violation")
	}
	if t.s.Hit != nil {
		t.s.Hit(rule.ID)
	}
	if !rule.Allow {
		return fail(errAccess, "Access violation")
	}
	name, err := cleanName(real)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(t.s.Dir)
	if err != nil {
		return fail(errNotFound, "File not found")
	}
	defer root.Close()
	if p.Op == opWRQ {
		if rule.ReadOnly {
			return fail(errAccess, "Access violation")
		}
		return t.write(root, name, p, cfg, rule)
	}
	return t.read(root, name, p, cfg, rule)
}

// cleanName makes a requested path relative to the files folder; anything that would
// climb out of it is refused before os.Root would refuse it too.
func cleanName(n string) (string, error) {
	n = strings.TrimLeft(n, "/")
	if n == "" || strings.ContainsRune(n, 0) {
		return "", fail(errNotFound, "File not found")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fail(errAccess, "Access violation")
		}
	}
	return path.Clean(n), nil
}

func openError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(errNotFound, "File not found")
	case errors.Is(err, fs.ErrPermission):
		return fail(errAccess, "Access violation")
	}
	// os.Root's "path escapes from parent" and the like.
	return fail(errAccess, "Access violation")
}

// negotiate applies the request's options (RFC 2347) and returns those accepted.
func (t *transfer) negotiate(p *Packet, cfg *Config, size int64) map[string]string {
	acc := map[string]string{}
	for name, v := range p.Options {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue // RFC 2347: options not understood are left out of the OACK
		}
		switch name {
		case "blksize":
			if n < 8 {
				continue
			}
			b := min(n, int64(cfg.MaxBlock), maxBlockRFC)
			t.blksize = int(b)
			acc[name] = strconv.FormatInt(b, 10)
		case "timeout":
			if n < 1 || n > 255 {
				continue
			}
			t.timeout = time.Duration(n) * time.Second
			acc[name] = strconv.FormatInt(n, 10)
		case "tsize":
			if n < 0 {
				continue
			}
			if p.Op == opRRQ {
				if size < 0 {
					continue // netascii: the size on the wire is unknown
				}
				n = size
			}
			acc[name] = strconv.FormatInt(n, 10)
		case "windowsize":
			if n < 1 || n > 65535 {
				continue
			}
			w := min(n, maxWindow)
			t.window = int(w)
			acc[name] = strconv.FormatInt(w, 10)
		}
	}
	return acc
}

func (t *transfer) send(b []byte) {
	t.conn.WriteToUDPAddrPort(b, t.peer)
}

// recv waits until deadline for a packet from the peer. Packets from anyone else get
// "Unknown transfer ID" and are otherwise ignored; a malformed one from the peer ends the
// transfer. It returns nil, nil at the deadline.
func (t *transfer) recv(deadline time.Time) (*Packet, error) {
	if t.in == nil {
		t.in = make([]byte, maxBlockRFC+4+1)
	}
	if err := t.ctx.Err(); err != nil {
		return nil, fmt.Errorf("tftp: cancelled: %w", err)
	}
	t.conn.SetReadDeadline(deadline)
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(t.in)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !time.Now().Before(deadline) {
					return nil, nil
				}
				return nil, fmt.Errorf("tftp: cancelled: %w", err)
			}
			return nil, fmt.Errorf("tftp: read: %w", err)
		}
		if from.Addr().Unmap() != t.peer.Addr() || from.Port() != t.peer.Port() {
			if isError(t.in[:n]) {
				continue
			}
			t.conn.WriteToUDPAddrPort(appendError(nil, errUnknownTID, "Unknown transfer ID"), from)
			continue
		}
		p, err := Parse(t.in[:n])
		if err != nil {
			return nil, fail(errIllegalOp, "Illegal TFTP operation")
		}
		t.s.inject("packet", p)
		if p.Op == opERROR {
			return nil, fmt.Errorf("%w: %d %s", errPeerAborted, p.Code, p.Msg)
		}
		return p, nil
	}
}

// plainBackupHeader starts an unencrypted /system backup file (control/system).
const plainBackupHeader = control.BackupHeader

// read sends a file (RRQ), a window of blocks at a time (RFC 7440; window 1 is RFC 1350).
func (t *transfer) read(root *os.Root, name string, p *Packet, cfg *Config, rule *Rule) error {
	f, err := root.Open(name)
	if err != nil {
		return openError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return fail(errNotFound, "File not found")
	}
	// An unencrypted backup holds every secret of the router (password hashes, keys),
	// an exported private key is open to offline guessing of its passphrase, and TFTP
	// has no login: whoever may add a rule must not be able to read them. Backups
	// saved with password= are encrypted and served like any file.
	head := make([]byte, control.SecretFileHead)
	if n, _ := f.ReadAt(head, 0); control.SecretFile(name, head[:n]) {
		return fail(errAccess, "Access violation")
	}
	var src io.Reader = f
	size := fi.Size()
	if p.Mode == "netascii" {
		src, size = newNetasciiReader(f), -1
	}
	acc := t.negotiate(p, cfg, size)
	if size >= 0 && !rule.Rollover && size/int64(t.blksize)+1 > 65535 {
		return fail(errDiskFull, "File too large without allow-rollover")
	}
	if len(acc) > 0 {
		if err := t.awaitOACKAck(p.OptionOrder, acc); err != nil {
			return err
		}
	}
	bufs := make([][]byte, t.window)
	lens := make([]int, t.window)
	for i := range bufs {
		bufs[i] = make([]byte, t.blksize)
	}
	var (
		base, next = uint64(1), uint64(1) // oldest unacknowledged and next to send
		haveRead   uint64                 // highest block read from the file
		last       uint64                 // the final (short) block, once read
		retries    int
		resentAt   uint64
	)
	for {
		for next < base+uint64(t.window) && (last == 0 || next <= last) {
			slot := next % uint64(t.window)
			if next > haveRead {
				if next > 65535 && !rule.Rollover {
					return fail(errDiskFull, "File too large without allow-rollover")
				}
				n, err := io.ReadFull(src, bufs[slot])
				if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
					return fail(errUndefined, "Read error")
				}
				lens[slot], haveRead = n, next
				if n < t.blksize {
					last = next
				}
			}
			t.out = appendData(t.out, uint16(next), bufs[slot][:lens[slot]])
			t.send(t.out)
			if t.s.Metrics != nil {
				t.s.Metrics.Bytes.WithLabelValues("sent").Add(float64(lens[slot]))
			}
			next++
		}
		ack, err := t.recv(time.Now().Add(t.timeout))
		if err != nil {
			return err
		}
		if ack == nil {
			if retries++; retries > maxRetries {
				return errGaveUp
			}
			next = base
			continue
		}
		if ack.Op != opACK {
			return fail(errIllegalOp, "Illegal TFTP operation")
		}
		// The acknowledged block within [base-1, next-1], by its low 16 bits.
		idx := base - 1 + uint64(ack.Block-uint16(base-1))
		switch {
		case idx >= next:
			// Older than the window (a delayed duplicate): ignore it.
		case idx == base-1:
			// A duplicate of the last acknowledgement. With window 1, answering it would
			// double every later block (the Sorcerer's Apprentice); with a window it says
			// the first block was lost, so resend once.
			if t.window > 1 && resentAt != base {
				resentAt, next = base, base
			}
		default:
			retries = 0
			base = idx + 1
			if last != 0 && idx == last {
				return nil
			}
			// A partial window acknowledged means the block after it was lost.
			next = base
		}
	}
}

// awaitOACKAck sends the OACK of a read request until the client acknowledges block 0.
func (t *transfer) awaitOACKAck(order []string, acc map[string]string) error {
	oack := appendOACK(nil, order, acc)
	for retries := 0; retries <= maxRetries; retries++ {
		t.send(oack)
		deadline := time.Now().Add(t.timeout)
		for {
			ack, err := t.recv(deadline)
			if err != nil {
				return err
			}
			if ack == nil {
				break
			}
			if ack.Op == opACK && ack.Block == 0 {
				return nil
			}
			if ack.Op != opACK {
				return fail(errIllegalOp, "Illegal TFTP operation")
			}
		}
	}
	return errGaveUp
}

// secretOnDisk says whether name under root is a backup or an exported key by its name
// or first bytes (control.SecretFile).
func secretOnDisk(root *os.Root, name string) bool {
	f, err := root.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, control.SecretFileHead)
	n, _ := f.ReadAt(head, 0)
	return control.SecretFile(name, head[:n])
}

// write receives a file (WRQ) into a temporary file that replaces name when complete.
func (t *transfer) write(root *os.Root, name string, p *Packet, cfg *Config, rule *Rule) error {
	if fi, err := root.Stat(name); err == nil && !fi.Mode().IsRegular() {
		return fail(errAccess, "Access violation")
	}
	// Backups are what /system backup load and --store-recover=backup trust, exported
	// keys what export-certificate guards: nobody unauthenticated replaces or plants
	// one, whatever a rule allows.
	if strings.HasSuffix(strings.ToLower(name), ".backup") || secretOnDisk(root, name) {
		return fail(errAccess, "Access violation")
	}
	if dir := path.Dir(name); dir != "." {
		if fi, err := root.Stat(dir); err != nil || !fi.IsDir() {
			return fail(errNotFound, "File not found")
		}
	}
	// A repeated WRQ starts a second transfer while the first still holds its file, so
	// each gets its own temporary name.
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tftp-"+strconv.FormatUint(tmpSeq.Add(1), 10))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return openError(err)
	}
	done := false
	defer func() {
		f.Close()
		if !done {
			root.Remove(tmp)
		}
	}()
	var dst io.Writer = f
	var na *netasciiWriter
	if p.Mode == "netascii" {
		na = newNetasciiWriter(f)
		dst = na
	}
	acc := t.negotiate(p, cfg, -1)
	var reply []byte
	if len(acc) > 0 {
		reply = appendOACK(nil, p.OptionOrder, acc)
	} else {
		reply = appendACK(nil, 0)
	}
	t.send(reply)
	expected := uint64(1)
	sinceAck, retries := 0, 0
	for {
		d, err := t.recv(time.Now().Add(t.timeout))
		if err != nil {
			return err
		}
		if d == nil {
			if retries++; retries > maxRetries {
				return errGaveUp
			}
			t.send(reply)
			continue
		}
		if d.Op != opDATA || len(d.Data) > t.blksize {
			return fail(errIllegalOp, "Illegal TFTP operation")
		}
		if d.Block != uint16(expected) {
			// Out of order or repeated: acknowledge what arrived in order so the
			// sender resumes after it (RFC 7440), but only once per window.
			if sinceAck > 0 || d.Block == uint16(expected-1) {
				reply = appendACK(reply, uint16(expected-1))
				t.send(reply)
				sinceAck = 0
			}
			continue
		}
		if expected > 65535 && !rule.Rollover {
			return fail(errDiskFull, "File too large without allow-rollover")
		}
		if _, err := dst.Write(d.Data); err != nil {
			return fail(errDiskFull, "Disk full or allocation exceeded")
		}
		if t.s.Metrics != nil {
			t.s.Metrics.Bytes.WithLabelValues("received").Add(float64(len(d.Data)))
		}
		retries = 0
		final := len(d.Data) < t.blksize
		expected++
		sinceAck++
		if final || sinceAck >= t.window {
			reply = appendACK(reply, uint16(expected-1))
			if final {
				break // the final ACK is sent after the file is in place
			}
			t.send(reply)
			sinceAck = 0
		}
	}
	if na != nil {
		if err := na.Flush(); err != nil {
			return fail(errDiskFull, "Disk full or allocation exceeded")
		}
	}
	if err := f.Close(); err != nil {
		return fail(errDiskFull, "Disk full or allocation exceeded")
	}
	if secretOnDisk(root, tmp) {
		return fail(errAccess, "Access violation")
	}
	if err := root.Rename(tmp, name); err != nil {
		return openError(err)
	}
	done = true
	t.send(reply)
	t.dally(reply, uint16(expected-1))
	return nil
}

var tmpSeq atomic.Uint64

// dally stays one timeout after the final ACK to answer a client that did not get it and
// sends its last block again (RFC 1350 section 6).
func (t *transfer) dally(ack []byte, last uint16) {
	deadline := time.Now().Add(t.timeout)
	for {
		p, err := t.recv(deadline)
		if err != nil || p == nil {
			return
		}
		if p.Op == opDATA && p.Block == last {
			t.send(ack)
		}
	}
}

// pktinfo asks the kernel for each request's destination address, so a transfer answers
// from the address the client wrote to even when the server listens on all of them.
func pktinfo(conn *net.UDPConn) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	// Both options are asked of a socket of either family, and the one of the other
	// family fails (an AF_INET socket has no IPV6_RECVPKTINFO): not errors. Without the
	// destination (localAddr finds none) a transfer answers from the listening address,
	// which is the client's destination whenever that is not a wildcard.
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	})
}

func localAddr(oob []byte, conn *net.UDPConn) netip.Addr {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			switch {
			case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
				var a [4]byte
				copy(a[:], m.Data[8:12]) // in_pktinfo.ipi_addr: the header's destination
				if ip := netip.AddrFrom4(a); !ip.IsMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
					return ip
				}
			case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= 16:
				var a [16]byte
				copy(a[:], m.Data[:16])
				if ip := netip.AddrFrom16(a); !ip.IsMulticast() && !ip.IsLinkLocalUnicast() {
					return ip
				}
			}
		}
	}
	if ap, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ap.IP); ok && !ip.IsUnspecified() {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
