package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/routerd/routerd/control/engine"
	ptpengine "github.com/routerd/routerd/ptp/engine"
)

// ptpFlags registers --ptp-clock, --ptp-virtual-offset and --ptp-virtual-drift.
func ptpFlags(o *ptpengine.Options) {
	flag.StringVar(&o.Clock, "ptp-clock", "auto", "clock PTP steers: auto (the port's PHC, else the system clock), system, or virtual (a software clock; the machine's clock is left alone)")
	flag.DurationVar(&o.VirtualOffset, "ptp-virtual-offset", 0, "starting offset of the virtual PTP clock from the system clock (e.g. 37ms, -5ms)")
	flag.Func("ptp-virtual-drift", "frequency error of the virtual PTP clock in ppb (e.g. 100000 for 100 ppm fast)", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number of ppb: %w", err)
		}
		o.VirtualDrift = v
		return nil
	})
}

// ptpEngine runs /system ptp (ptp/engine) with the daemon's --ptp-* options.
func ptpEngine(env *Env) engine.Engine {
	o := env.Opts.ptp
	o.BPFFS = env.BPFFS
	return ptpengine.New(o)
}
