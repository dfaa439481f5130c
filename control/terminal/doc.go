// Package terminal is the interactive console over a byte stream, for the remote
// consoles (ssh, telnet): the prompt, line editing and history of golang.org/x/term,
// Tab completion from script.Interp.Complete, continuation lines for open blocks, and
// Ctrl-C that interrupts the command in progress or drops the line being typed. The
// console runs in the daemon with the logged-in user's session, so the user's policies
// apply to every command, as they do to routerctl's commands through the console socket.
package terminal
