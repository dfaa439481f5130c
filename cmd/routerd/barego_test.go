package main

import (
	"fmt"
	"go/ast"
	"slices"
	"testing"
)

// bareGo are the go statements allowed outside tests and the engine host, by file and
// enclosing function (with how many there are), each with why it is safe without the
// host's Handle.Go (docs/architecture.md: goroutines run under the engine Handle). A
// goroutine that handles untrusted input recovers its own panics and says how; one that
// cannot panic short of a runtime failure says what it does. A new go statement fails
// TestNoBareGo until it is run with Handle.Go or listed here with its reason.
var bareGo = map[string]struct {
	n   int
	why string
}{
	// The recovering spawners themselves.
	"control/engine/host.go:(*Handle).Go":    {1, "the host's own: recovers, marks the items, joined by Stop"},
	"control/engine/host.go:(*Handle).start": {1, "Start tried again after ErrStartAgain; each Start runs under protect, joined by Stop"},
	"control/engine/host.go:(*Handle).run":   {1, "the engine's loop; each pass runs under protect"},
	"ike/recover.go:(*Daemon).spawn":         {1, "IKE's readers and timer: recovers and starts the loop again (runSafe)"},
	"ike/esp/recover.go:(*userspace).spawn":  {1, "the userspace ESP loops: recovers per batch and per loop (runLoop)"},

	// Goroutines that handle untrusted input and recover their own panics.
	"control/tftp/server.go:(*Server).request":            {1, "one transfer: handle defers recovered (ends that transfer, tells the client, counts, reports to the host)"},
	"control/ipcfg/kernel.go:netlinkKernel.RoutesReplace": {1, "route workers joined within the pass: recover, and their routes not done fail with ErrInternal"},
	"ptp/node/node.go:(*Node).Run":                        {1, "port receivers: recover and hand the panic to Run, which the host's Go recovers (the instance restarts)"},
	"ptp/ts/ts.go:(*transport).start":                     {1, "the socket reader: readSafe recovers per read, counts (Faults), logs rate-limited"},
	"eap/tls.go:(*TLSServer).Handle":                      {1, "the TLS program over the EAP pipe: recovered fails that authentication"},
	"eap/tls.go:(*TLSPeer).Handle":                        {1, "the TLS program over the EAP pipe: recovered fails that authentication"},
	"control/apiserver/server.go:(*conn).handle":          {1, "one API command: recovers with a trap; commands also recover in the executor"},
	"control/service/serve.go:ServeConns":                 {1, "one connection of a service: recovers and closes it"},
	"control/service/manager.go:(*Manager).start":         {1, "one service's protocol: recovers and logs"},
	"control/sshd/sshd.go:(*Server).serveConn":            {2, "ssh.DiscardRequests (the library's, for global requests) and one session channel, which recovers"},
	"control/sshd/sshd.go:program":                        {1, "a session's shell or command: recovers, exit status 1"},
	"control/terminal/terminal.go:newInput":               {1, "the input pump: recovers and ends the input as a read error"},
	"control/console/server.go:serveConn":                 {2, "closes the socket when the connection ends (nothing to panic), and the request reader, which recovers"},
	"control/console/server.go:Serve":                     {3, "closes the listener at the end, one connection (recovers; handle also per request), and the drain waiter"},
	"control/script/builtins.go:(*Interp).execute":        {1, "an :execute job: recovers and logs; its commands also recover in the executor"},
	"control/email/email.go:(*Engine).send":               {1, "one message's delivery, joined by Close: recovers into the status"},

	// Goroutines with nothing to panic on, or outside the daemon's engines.
	"control/rest/rest.go:(*Server).Serve":        {1, "waits for the end and shuts the HTTP server down (net/http recovers handler panics itself)"},
	"control/metrics/metrics.go:ServeListener":    {1, "waits for the end and shuts the HTTP server down"},
	"control/script/memory.go:heapFull":           {1, "samples runtime/metrics every 50 ms for the life of the process"},
	"control/service/manager.go:(*Manager).Start": {1, "tests only; the daemon runs Prepare and Loop under the engine host"},
	"control/service/manager.go:winbox":           {1, "writes one fixed line to a connection and closes it"},
	"ike/esp/kernel.go:openKernel":                {1, "the XFRM monitor, joined by Close; events1 recovers per event"},
	"ike/esp/probe.go:throwawayHandle":            {1, "a locked thread that makes a throwaway namespace for the probe and ends"},
	"ike/esp/userspace.go:(*userspace).inNS":      {1, "a locked thread in the data path's namespace for Repair's TUN device; recovers, and ends"},
	"ike/esp/userspace.go:(*userspace).outLoop":   {1, "the out loop's send stage (sendLoop), joined by outLoop; sendBatch recovers per batch"},
	"ike/esp/addrwatch.go:(*userspace).addrWatch": {1, "drains the ended address subscription's channel until the library closes it (nothing to panic)"},
	"ike/iketest/iketest.go:(*Charon).Stop":       {1, "test peer helper: waits for the charon process to exit"},
	"cmd/routerd/main.go:run":                     {3, "the console and metrics listeners and the systemd watchdog, started and joined by main itself"},
	"cmd/routerd/profile.go:startProfile":         {1, "the profiler's signal loop (--profile, development)"},
	"cmd/routerctl/main.go:runCancellable":        {1, "routerctl (the client), not the daemon: turns Ctrl-C into a cancel"},
}

// TestNoBareGo scans the repository's Go files (not tests, not third_party, test/ or
// tools/) for go statements and checks each against bareGo.
func TestNoBareGo(t *testing.T) {
	found := map[string]int{}
	for _, src := range sources(t) {
		for _, decl := range src.f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.GoStmt); ok {
					found[src.rel+":"+funcName(fd)]++
				}
				return true
			})
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range found {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		a, ok := bareGo[k]
		switch {
		case !ok:
			t.Errorf("%s: %d bare go statement(s): run it with the engine Handle's Go, or recover its panics and list it in bareGo with the reason", k, found[k])
		case a.n != found[k]:
			t.Errorf("%s: %d go statements, bareGo says %d", k, found[k], a.n)
		}
	}
	for k := range bareGo {
		if found[k] == 0 {
			t.Errorf("bareGo lists %s, which has no go statement now: remove it", k)
		}
	}
}

// funcName is "Func" or "(*Recv).Method".
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	var recv string
	switch r := fd.Recv.List[0].Type.(type) {
	case *ast.StarExpr:
		recv = fmt.Sprintf("(*%s)", typeName(r.X))
	default:
		recv = typeName(r)
	}
	return recv + "." + fd.Name.Name
}

func typeName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	}
	return fmt.Sprintf("%T", e)
}
