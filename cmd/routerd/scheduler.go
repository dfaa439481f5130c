package main

import (
	"context"
	"time"

	"github.com/routerd/routerd/control/scheduler"
)

// startScheduler runs /system scheduler on the wall clock; startup items count their
// 3 seconds from here, which is within moments of the process start.
func startScheduler(ctx context.Context, env *Env) error {
	_, err := scheduler.Start(ctx, env.Ex, env.Interp, scheduler.SystemClock{}, time.Now(), env.Metrics.Registry)
	return err
}
