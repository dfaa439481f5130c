// Package security runs routerd as a process and attacks it the way issue 11's probe
// did: privilege escalation through scripts, the scheduler and backups; input that
// nests or grows without bound; sessions that hold the store's lock; parallel login
// guessing; unauthenticated clients holding memory or slots; forged log lines; and
// store files that cannot be read. Each test is one failure of that probe, now fixed.
package security
