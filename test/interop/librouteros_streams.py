# Streams through librouteros's protocol layer (its word framing) with tags: monitor-traffic with duration=,
# ping with count=, and print follow ended by /cancel. Prints OK, exits 1 on failure.
import sys
from librouteros import connect

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = connect(host=host, port=port, username=user, password=password, timeout=30)
proto = api.protocol

def read():
    # librouteros's own word parser wants =key=value and fails on .tag=N, so the
    # words are split here.
    word, words = proto.readSentence()
    out = {}
    for w in words:
        if w.startswith('.tag='):
            out['.tag'] = w[5:]
        else:
            _, k, v = w.split('=', 2)
            out[k] = v
    return word, out

def run(*words):
    proto.writeSentence(*words)
    rows = []
    while True:
        word, w = read()
        if word == '!trap':
            raise RuntimeError(w)
        rows.append(w)
        if word == '!done':
            return rows

# A bounded stream: every reply carries its tag.
rows = run('/interface/monitor-traffic', '=interface=lo', '=duration=2500ms', '.tag=m1')
assert 2 <= len(rows) <= 4, rows
assert all(r.get('.tag') == 'm1' and r.get('name') == 'lo' and r['rx-bits-per-second'].isdigit() for r in rows[:-1]), rows

rows = run('/ping', '=address=127.0.0.1', '=count=3', '=interval=100ms', '.tag=p1')
pings = [r for r in rows if 'seq' in r]
assert [r['seq'] for r in pings] == ['0', '1', '2'], rows
assert pings[-1]['received'] == '3' and pings[-1]['packet-loss'] == '0', rows
assert all(r.get('.tag') == 'p1' for r in rows), rows

# An unbounded stream and a tagged command beside it, then /cancel.
run('/system/script/add', '=name=lr1')
proto.writeSentence('/system/script/print', '=follow=', '.tag=f1')
word, words = read()
assert word == '!re' and words.get('.tag') == 'f1' and words.get('name') == 'lr1', (word, words)
proto.writeSentence('/system/script/add', '=name=lr2', '.tag=a1')
seen_row = seen_add = False
while not (seen_row and seen_add):
    word, words = read()
    if words.get('.tag') == 'f1' and word == '!re' and words.get('name') == 'lr2':
        seen_row = True
    elif words.get('.tag') == 'a1' and word == '!done':
        seen_add = True
proto.writeSentence('/cancel', '=tag=f1', '.tag=c1')
got = set()
while got != {'interrupted', 'f1-done', 'c1-done'}:
    word, words = read()
    tag = words.get('.tag')
    assert tag in ('f1', 'c1'), (word, words)
    if word == '!trap':
        assert words.get('message') == 'interrupted' and tag == 'f1', words
        got.add('interrupted')
    elif word == '!done':
        got.add(tag + '-done')

# /log print follow-only: a failed login from another connection shows as a new line.
proto.writeSentence('/log/print', '=follow-only=', '.tag=l1')
try:
    connect(host=host, port=port, username=user, password='wrong-password', timeout=10).close()
except Exception:
    pass
while True:
    word, words = read()
    if word == '!re' and words.get('.tag') == 'l1' and 'login failure' in words.get('message', ''):
        break
proto.writeSentence('/cancel', '=tag=l1', '.tag=c2')
done = set()
while done != {'l1', 'c2'}:
    word, words = read()
    if word == '!done':
        done.add(words.get('.tag'))
api.close()
print('OK')
