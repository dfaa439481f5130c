// mikronode-ng logs in with the pre-6.43 MD5 challenge (/login, then =response=), which
// routerd answers but refuses, as its passwords are stored hashed. It parses replies with
// .tag right after the reply word, as RouterOS sends them: this prints the refusal the
// client received, so an operator sees why.
const MikroNode = require('mikronode-ng');
const [host, port, user, password] = process.argv.slice(2);
const c = MikroNode.getConnection(host, user, password, { port: Number(port), timeout: 10, closeOnTimeout: true });
c.getConnectPromise().then((conn) => {
  console.log('UNEXPECTED: logged in');
  conn.close();
}, (err) => {
  const msgs = (err && err.errors || []).map((e) => e.message);
  console.log('REFUSED: ' + msgs.join('; '));
  process.exit(0);
});
