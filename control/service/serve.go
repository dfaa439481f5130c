package service

import (
	"context"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// ServeConns is the accept loop every protocol shares: it hands each connection of ln to
// handle in a goroutine of its own, closes the connection when handle returns or ctx
// ends, and keeps a panic in one connection from taking the daemon down. It returns nil
// once ctx has ended, or ln's error, after every handler has returned.
func ServeConns(ctx context.Context, ln net.Listener, protocol string, handle func(context.Context, net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			defer func() {
				if p := recover(); p != nil {
					slog.Error(protocol+" connection panicked", "panic", p, "stack", string(debug.Stack()))
				}
			}()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			handle(ctx, c)
		}()
	}
}

// LoginTimeout bounds how long a connection of any service may take to log in (api,
// telnet, ftp, ssh's handshake): until it does, it holds a session slot and memory for
// a stranger. routerd's --login-timeout sets it before the services start.
var LoginTimeout = time.Minute
