// Command routerd is the routerd daemon: it keeps the configuration in its data dir,
// serves the console on a unix socket and Prometheus metrics over HTTP, and drives the
// engines that apply the configuration to the system.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"

	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/compat"
	"github.com/routerd/routerd/control/console"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/metrics"
	"github.com/routerd/routerd/control/queue"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/sdnotify"
	"github.com/routerd/routerd/control/system"
	"github.com/routerd/routerd/control/user"
	"github.com/routerd/routerd/dataplane"
	ptpengine "github.com/routerd/routerd/ptp/engine"
)

type options struct {
	dataDir, socket, metricsListen, bpffs, logLevel string
	ptp                                             ptpengine.Options
}

func main() {
	var o options
	flag.StringVar(&o.dataDir, "data-dir", "/var/lib/routerd", "directory of the configuration store and files/")
	flag.StringVar(&o.socket, "socket", "/run/routerd/routerd.sock", "unix socket of the console (routerctl)")
	flag.StringVar(&o.metricsListen, "metrics-listen", "127.0.0.1:9436", "address of the Prometheus /metrics endpoint (empty: off)")
	flag.StringVar(&o.bpffs, "bpffs", "/sys/fs/bpf/routerd", "directory on bpffs where BPF maps and programs are pinned")
	flag.StringVar(&o.logLevel, "log-level", "info", "stderr log level: debug, info, warn, error")
	flag.BoolVar(&system.AllowClockSet, "allow-clock-set", false, "let /system clock set change the machine's clock and the shown time zone")
	ptpFlags(&o.ptp)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "routerd: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}

	events := eventlog.New(eventlog.DefaultSize)
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "routerd: --log-level: %v\n", err)
		os.Exit(2)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	// Journald takes text as it comes; log collectors that parse prefer JSON.
	if os.Getenv("ROUTERD_LOG_FORMAT") == "json" {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	slog.SetDefault(slog.New(events.Handler(h)))

	if err := run(o, events); err != nil {
		slog.Error("routerd failed", "err", err)
		os.Exit(1)
	}
}

func run(o options, events *eventlog.Buffer) error {
	started := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// A hangup (the terminal or ssh session that started routerd went away) must not
	// end a router: Go's default would kill the process without its orderly shutdown.
	signal.Ignore(syscall.SIGHUP)
	defer startProfile()()

	for _, d := range []string{o.dataDir, filepath.Join(o.dataDir, "files")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		// The data dir holds secrets; an older or hand-made one may be wider.
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	dataplane.PrepareRoot(o.bpffs)

	m := metrics.New(control.Version)
	st, restore, err := openStore(filepath.Join(o.dataDir, "routerd.db"), o.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	st.Observe = m.StoreTx

	tree := menu.Default()
	ex := control.New(tree, st)
	ex.Observe = m.Command
	m.Known = func(path, cmd string) bool { _, ok := ex.Command(path, cmd); return ok }
	if err := ex.Seed(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	hosts := hostname.New(ex) // :resolve's and the engines' (the hostname engine offers it)
	in.LookupHost = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		addrs, err := hosts.Lookup(ctx, network, host)
		if errors.Is(err, hostname.ErrNotFound) {
			// :resolve's "dns name does not exist", as for a server's NXDOMAIN
			err = &net.DNSError{Err: err.Error(), Name: host, IsNotFound: true}
		}
		return addrs, err
	}
	system.Register(ex, in, o.dataDir, events, started)
	compat.Register(ex)
	if restore != "" {
		if err := loadBackup(ctx, ex, restore); err != nil {
			return err
		}
	}
	// admin's first password (after a restore, which may bring one) is on disk before
	// the console socket or any service listens: a script that waits for the socket
	// and then reads the file must find it.
	if err := user.Seed(ex, o.dataDir); err != nil {
		return err
	}
	// A router keeps loopback up; a fresh namespace has it down, and the metrics
	// listener binds 127.0.0.1.
	if err := link.LoopbackUp(nil); err != nil {
		slog.Warn("routerd: bringing loopback up", "err", err)
	}
	// Both listeners open before either serves, so a failure leaves nothing running.
	var mln net.Listener
	if o.metricsListen != "" {
		if mln, err = net.Listen("tcp", o.metricsListen); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	ln, err := listenConsole(o.socket)
	if err != nil {
		if mln != nil {
			mln.Close()
		}
		return err
	}
	defer os.Remove(o.socket)
	// Engines start only once this instance owns its console socket: a second routerd
	// started by mistake must not reconcile the kernel against an empty store and remove
	// what the first one installed.
	env := &Env{Ex: ex, Interp: in, Hosts: hosts, Metrics: m, DataDir: o.dataDir, BPFFS: o.bpffs, Opts: o, Events: events}
	// The firewall engine starts after the engines that make links, apply addresses, turn
	// forwarding on and open the services: on a host that boots, what the stored rules
	// drop would be forwarded and answered until its first pass.
	if err := firewall.Prearm(ctx, ex, firewall.Options{}); err != nil {
		slog.Warn("routerd: firewall before the engines", "err", err)
	}
	// The IPsec engine starts after the addresses and routes: on a host that boots, a
	// require policy's packets would leave in the clear until its first pass.
	if err := ipsec.Prearm(ex, ipsec.Options{}); err != nil {
		slog.Warn("routerd: IPsec backstops before the engines", "err", err)
	}
	// So does the queue engine: a start that finds no queues in the kernel (after an
	// upgrade, or a boot) would not shape until its first pass.
	if err := queue.Prearm(ex); err != nil {
		slog.Warn("routerd: simple queues before the engines", "err", err)
	}
	host := startEngines(ctx, env)
	// Engines end before the store closes (deferred above), every goroutine joined.
	defer func() {
		host.Stop()
		slog.Info("routerd stopped")
	}()
	if *policyTable {
		return writePolicyTable(os.Stdout, ex)
	}
	consoleDone := make(chan error, 1)
	var hooks []func(context.Context, *control.Session)
	if env.ConsoleSession != nil {
		hooks = append(hooks, env.ConsoleSession)
	}
	go func() { consoleDone <- console.Serve(ctx, ln, in, identity(ex), hooks...) }()
	metricsDone := make(chan error, 1)
	if mln != nil {
		go func() { metricsDone <- metrics.ServeListener(ctx, mln, m.Handler()) }()
	} else {
		close(metricsDone)
	}

	if _, err := sdnotify.Notify("READY=1"); err != nil {
		slog.Warn("systemd notify failed", "err", err)
	}
	go sdnotify.RunWatchdog(ctx)
	// The bound address, not the flag: with port 0 the kernel picks the port, and the
	// log is how a caller learns it.
	metricsAddr := ""
	if mln != nil {
		metricsAddr = mln.Addr().String()
	}
	slog.Info("routerd started", "version", control.Version, "data-dir", o.dataDir,
		"socket", o.socket, "metrics", metricsAddr)

	select {
	case <-ctx.Done():
	case err := <-consoleDone:
		// The console socket is how the router is managed; without it, stop.
		stop()
		<-metricsDone
		return fmt.Errorf("console: %w", err)
	case err := <-metricsDone:
		if err != nil {
			slog.Error("metrics server stopped", "err", err)
		}
		<-ctx.Done()
	}
	stop()
	sdnotify.Notify("STOPPING=1")
	slog.Info("routerd stopping")
	if err := <-consoleDone; err != nil {
		slog.Error("console", "err", err)
	}
	<-metricsDone
	return nil
}

// identity reads the router's name for routerctl's prompt.
func identity(ex *control.Executor) func() string {
	return func() string {
		m, ok := ex.Tree.Get(eventlog.IdentityPath)
		if !ok {
			return "MikroTik"
		}
		rows, err := ex.Rows(context.Background(), nil, m, false)
		if err != nil || len(rows) != 1 || rows[0].Props["name"] == "" {
			return "MikroTik"
		}
		return rows[0].Props["name"]
	}
}

// listenConsole opens the console socket, 0600 from the start: the umask is tightened
// around bind so the socket never exists with wider permissions. A socket file left by
// a crashed routerd is removed; one that answers belongs to a running routerd, and then
// this one does not start.
func listenConsole(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("console socket: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("console socket: %s is in use: another routerd is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
	}
	old := unix.Umask(0o177)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	// Close must not unlink: the deferred Remove does, and only ours.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return ln, nil
}
