// Package control is routerd's configuration executor: every entry point (routerctl's
// console, scripts, the RouterOS API, REST, ssh) turns what it receives into a Sentence —
// a menu path, a command and its arguments, as the RouterOS API spells them — and Exec runs
// it against the schema (package menu) and the store (package store).
//
// A command is validated completely before anything is written, and each command commits
// in one store transaction, so bad input changes nothing. Engines that act on the system
// (reconcilers) learn of committed changes through Watch and report back runtime state
// (flags, counters, status) through State, which print merges into the rows it returns.
package control
