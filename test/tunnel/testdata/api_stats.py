"""/interface/print with stats through the RouterOS API (librouteros), run inside a
router's namespace:

    api_stats.py PASSWORD NAME

Prints the row of interface NAME as key=value lines, or FAIL."""
import sys

from librouteros import connect

password, name = sys.argv[1:3]
api = connect(host="127.0.0.1", username="admin", password=password)
rows = [r for r in api("/interface/print", stats=True) if r.get("name") == name]
if len(rows) != 1:
    print("FAIL: %d rows named %s" % (len(rows), name))
    sys.exit(1)
for k, v in rows[0].items():
    print("%s=%s" % (k, v))
