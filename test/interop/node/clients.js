// Drives routerd's API with node-routeros and routeros-client: add, print with a query,
// set, remove, and a trap for bad input. Prints OK on success, exits 1 on failure.
//
// node-routeros 1.6.9 (the latest) throws on the !empty reply that RouterOS 7.18 added
// and routerd sends for a print that matches nothing, so these checks keep one item
// ("keep") in the menu and look for removals in a print of everything.
'use strict';
const { RouterOSAPI } = require('node-routeros');
const { RouterOSClient } = require('routeros-client');
const assert = require('assert');

const [host, port, user, password] = process.argv.slice(2);

async function nodeRouteros() {
  const api = new RouterOSAPI({ host, port: Number(port), user, password, timeout: 20 });
  await api.connect();
  await api.write('/system/script/add', ['=name=keep']);
  const [added] = await api.write('/system/script/add', ['=name=nr1', '=source=:put 1']);
  const id = added.ret;
  assert.ok(id && id.startsWith('*'), JSON.stringify(added));
  let rows = await api.write('/system/script/print', ['?name=nr1']);
  assert.strictEqual(rows.length, 1);
  assert.strictEqual(rows[0]['.id'], id);
  await api.write('/system/script/set', ['=.id=' + id, '=source=:put 2']);
  rows = await api.write('/system/script/print', ['?.id=' + id]);
  assert.strictEqual(rows[0].source, ':put 2');
  await assert.rejects(api.write('/system/script/set', ['=.id=' + id, '=nosuch=1']), /unknown parameter/);
  await api.write('/system/script/remove', ['=.id=' + id]);
  rows = await api.write('/system/script/print');
  assert.deepStrictEqual(rows.map((r) => r.name), ['keep']);
  await api.close();
}

async function routerosClient() {
  const client = new RouterOSClient({ host, port: Number(port), user, password, timeout: 20 });
  const api = await client.connect();
  const scripts = api.menu('/system script');
  const added = await scripts.add({ name: 'rc1', source: ':put 1' });
  assert.ok(added && added.id, JSON.stringify(added));
  let rows = await scripts.where('name', 'rc1').get();
  assert.strictEqual(rows.length, 1);
  assert.strictEqual(rows[0].id, added.id);
  await scripts.where('id', added.id).update({ source: ':put 2' });
  rows = await scripts.where('name', 'rc1').get();
  assert.strictEqual(rows[0].source, ':put 2');
  await assert.rejects(scripts.add({ name: 'rc1' }), /already have/);
  await scripts.where('id', added.id).remove();
  rows = await scripts.get();
  assert.deepStrictEqual(rows.map((r) => r.name), ['keep']);
  await client.close();
}

(async () => {
  await nodeRouteros();
  await routerosClient();
  console.log('OK');
})().catch((e) => { console.error(e); process.exit(1); });
