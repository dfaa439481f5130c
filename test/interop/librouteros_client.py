"""Drives routerd's API with python3-librouteros: add, print with a query, set, remove,
and a trap for bad input. Prints OK on success; any failure raises."""
import sys

from librouteros import connect
from librouteros.exceptions import TrapError
from librouteros.query import Key

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = connect(host=host, username=user, password=password, port=port)
scripts = api.path("system", "script")
new_id = scripts.add(name="py1", source=":put 1")
scripts.add(name="py2", source=":put 2")
name = Key("name")
rows = list(scripts.select(Key(".id"), name).where(name == "py1"))
assert rows == [{".id": new_id, "name": "py1"}], rows
scripts.update(**{".id": new_id, "source": ":put 3"})
rows = [r for r in scripts if r["name"] == "py1"]
assert rows[0]["source"] == ":put 3", rows
try:
    scripts.update(**{".id": new_id, "nosuch": "1"})
    raise AssertionError("bad property accepted")
except TrapError as e:
    assert "unknown parameter" in str(e), e
try:
    scripts.add(name="py2")
    raise AssertionError("duplicate name accepted")
except TrapError as e:
    assert "already have" in str(e), e
scripts.remove(new_id)
assert [r["name"] for r in scripts if r["name"].startswith("py")] == ["py2"]
api.close()
print("OK")
