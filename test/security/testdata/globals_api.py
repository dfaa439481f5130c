"""Makes globals over the API with python3-librouteros, as user argv[3]: one by running a
/system script (which RouterOS keeps until a reboot) and one by importing a file (the
connection's own). Then it checks the script-run bound: a script making 300 globals is
refused with "too many global variables". Prints OK and waits for a line on stdin
before it disconnects, so the caller can look at the globals while it is logged in."""
import sys

from librouteros import connect
from librouteros.exceptions import TrapError

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = connect(host=host, username=user, password=password, port=port)
scripts = api.path("system", "script")
scripts.add(name="keep", policy="read,write,test", source=':global apiKept "kept"')
tuple(scripts("run", number="keep"))
files = api.path("file")
files.add(name="mine.rsc", contents=':global apiMine "mine"\n')
tuple(api.path()("import", **{"file-name": "mine.rsc"}))
scripts.add(name="many", policy="read,write,test",
            source=':for i from=1 to=300 do={ :local f [:parse ":global many$i $i"]; $f }')
try:
    tuple(scripts("run", number="many"))
    raise AssertionError("300 globals from one script run were accepted")
except TrapError as e:
    assert "too many global variables" in str(e), e
print("OK", flush=True)
sys.stdin.readline()
api.close()
