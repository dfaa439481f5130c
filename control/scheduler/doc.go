// Package scheduler is the engine of /system scheduler: it runs each item's on-event at
// its start date and time (or 3 seconds after routerd starts, for start-time=startup:
// at once when the engines took longer than that to come up, once per start), then
// again every interval, in the order of the configuration when several are due at
// once (so that one item can disable the next before it runs).
//
// Times are the router's local time: the process's time zone (TZ), as RouterOS uses
// the zone of its /system clock. Intervals of whole days step in calendar days, so a
// daily item stays at its wall-clock time across a daylight-saving change; shorter ones
// count elapsed time. A run that comes late (clock stepped forward, daemon busy) runs
// once, not once per period missed; a clock set back replans every item.
//
// on-event names a /system script, which starts through /system script run (the one
// mechanism: its policy check, run-count and nesting bound), or holds script source,
// which runs directly; either way as the item's owner with the item's policies. A user
// whose session lacks some policies can neither add nor change an item so that it runs
// with them. Failures go to /log, never further. run-count and next-run are runtime
// state: a restart resets them, as a reboot resets RouterOS's.
package scheduler
