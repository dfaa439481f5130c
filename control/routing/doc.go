// Package routing applies RouterOS's policy routing: /routing table (tables besides main)
// and /routing rule, as kernel routing tables and ip rules through netlink.
//
// Table T (an item of /routing/table with id N) is kernel table TableBase+N; its routing
// mark is N in the high 12 bits of the packet mark (MarkMask), which mangle's
// mark-routing sets and routing-mark= matches. For every enabled table an ip rule "fwmark
// N<<20/MarkMask lookup TableBase+N" sends marked packets to it (priority MarkPriority).
// /routing rule items are ip rules in their configured order from RulePriority on:
// action lookup (the table, then the following rules when it has no route),
// lookup-only-in-table (an unreachable rule with the same selectors follows), drop
// (blackhole) and unreachable. The rules carry routerd's protocol number, so only
// routerd's own rules are ever changed. The priorities come after the IPsec userspace
// path's steering rule (220) and before the main table (32766).
//
// Routes name their table with routing-table= (control/ipcfg resolves it with TableID).
package routing
