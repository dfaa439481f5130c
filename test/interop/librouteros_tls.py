# librouteros over api-ssl, verifying routerd's certificate against the CA exported from
# /certificate (as RouterOS's manual sets api-ssl up), then a tagged-free read.
# Arguments: host port user password cafile
import ssl, sys
from librouteros import connect

host, port, user, password, cafile = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
api = connect(host=host, port=int(port), username=user, password=password,
              ssl_wrapper=lambda s: ctx.wrap_socket(s, server_hostname=host), timeout=20)
ident = list(api.path('system', 'identity'))
assert ident and ident[0]['name'], ident
res = list(api.path('system', 'resource'))
assert isinstance(res[0]['total-memory'], int), res  # plain byte counts, as RouterOS sends
print("OK", ident[0]['name'], api.protocol.transport.sock.version())
api.close()
