// Streams with node-routeros and routeros-client against routerd. node-routeros runs
// with keepalive on: it sends a tagged `#` every timeout/2 seconds and dies with
// SOCKTMOUT unless each reply carries the tag. Arguments: host port user password
// seconds-to-hold. Prints OK, exits 1 on failure.
'use strict';
const { RouterOSAPI } = require('node-routeros');
const { RouterOSClient } = require('routeros-client');
const assert = require('assert');

const [host, port, user, password, holdArg] = process.argv.slice(2);
const hold = Number(holdArg || 60);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function nodeRouteros() {
  const api = new RouterOSAPI({ host, port: Number(port), user, password, timeout: 10, keepalive: true });
  let error = null;
  api.on('error', (e) => { error = e; });
  await api.connect();
  const samples = [];
  const stream = api.stream('/interface/monitor-traffic', ['=interface=lo'], (err, packet) => {
    if (err) { error = err; return; }
    if (packet && packet.name) samples.push(packet);
  });
  // A listen held as long, beside it.
  const heard = [];
  const listen = api.stream('/system/script/listen', [], (err, packet) => {
    if (err) { error = err; return; }
    if (packet && packet.name) heard.push(packet.name);
  });
  await sleep(hold * 1000);
  assert.strictEqual(error, null, 'error while streaming: ' + error);
  await api.write('/system/script/add', ['=name=after-hold']);
  for (let i = 0; i < 50 && !heard.includes('after-hold'); i++) await sleep(100);
  assert.deepStrictEqual(heard, ['after-hold'], 'listen after the hold');
  await listen.stop();
  // One sample a second, give or take scheduling.
  assert.ok(samples.length >= hold - 3, `${samples.length} samples in ${hold}s`);
  assert.ok(/^\d+$/.test(samples[samples.length - 1]['rx-bits-per-second']), JSON.stringify(samples[0]));
  await stream.stop();
  const after = samples.length;
  await sleep(2500);
  assert.ok(samples.length <= after + 1, 'samples after stop: ' + (samples.length - after));
  // The connection still serves commands.
  const rows = await api.write('/system/identity/print');
  assert.strictEqual(rows[0].name, 'MikroTik');
  await api.close();
  return `node-routeros: ${after} samples in ${hold}s with keepalive; listen still live after it`;
}

async function routerosClient() {
  const client = new RouterOSClient({ host, port: Number(port), user, password, timeout: 20 });
  const api = await client.connect();
  const scripts = api.menu('/system script');
  await scripts.add({ name: 'rc-follow-0' });
  const names = [];
  const stream = scripts.options('follow').stream('print', (err, packet) => {
    if (!err && packet && packet.name) names.push(packet.name);
  });
  await sleep(500);
  await scripts.add({ name: 'rc-follow-1' });
  for (let i = 0; i < 50 && !names.includes('rc-follow-1'); i++) await sleep(100);
  assert.ok(names.includes('rc-follow-0') && names.includes('rc-follow-1'), JSON.stringify(names));
  await stream.stop();
  await client.close();
  return 'routeros-client: print follow saw ' + names.join(',');
}

(async () => {
  console.log(await nodeRouteros());
  console.log(await routerosClient());
  console.log('OK');
  // routeros-client leaves a timer behind after close; the checks are done.
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
