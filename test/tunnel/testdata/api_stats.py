"""/interface/print with stats through the RouterOS API (librouteros), run inside a
router's namespace:

    api_stats.py PASSWORD NAME

Prints the row of interface NAME as key=value lines, or FAIL."""
import sys

from librouteros import connect

password, name = sys.argv[1:3]
# latin-1: librouteros's default (ascii) aborts the whole reply on one byte above 0x7f,
# which some rows have carried now and then (under investigation); such words are
# reported on stderr, and the tunnel's row is still checked.
api = connect(host="127.0.0.1", username="admin", password=password, encoding="latin-1")
all_rows = list(api("/interface/print", stats=True))
for r in all_rows:
    for k, v in r.items():
        if any(ord(c) > 0x7F for c in "%s=%s" % (k, v)):
            print("NON-ASCII in %s: %r=%r" % (r.get("name"), k, v), file=sys.stderr)
rows = [r for r in all_rows if r.get("name") == name]
if len(rows) != 1:
    print("FAIL: %d rows named %s" % (len(rows), name))
    sys.exit(1)
for k, v in rows[0].items():
    print("%s=%s" % (k, v))
