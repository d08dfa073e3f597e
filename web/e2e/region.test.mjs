// Browser test of the dashboard in a mirror region cut off from the primary
// (decision 0036, docs/reference/websocket.md `status`): two NATS servers
// (JetStream domains a and b, nats-server processes) linked by a leafnode
// through a TCP proxy in this test; findash region a (the simulator, the
// log), findash region b mirroring it, the browser on b's dashboard. The
// proxy cuts the link: b's server sends `status stale`, and the dashboard —
// its WebSocket still open — greys the prices and shows a banner. Healed:
// `status live`, the banner goes and prices move again, on the same
// connection.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Findash, freePort, here, launchBrowser, shots, sleep, watchErrors, within } from "./harness.mjs";

const NATS = process.env.NATS_SERVER_BIN || "/tmp/findash-e2e-nats-server";

let natsA, natsB, link, a, b, browser, page, errors;
const dirs = [];

/**
 * The leafnode link between the regions: a TCP proxy that forwards while
 * up; cut() closes every connection through it and refuses new ones until
 * heal().
 */
class Link {
  async start(upstreamPort) {
    this.up = true;
    this.pairs = new Set();
    this.server = createServer((c) => {
      if (!this.up) return c.destroy();
      const u = createConnection(upstreamPort, "127.0.0.1");
      const pair = [c, u];
      this.pairs.add(pair);
      const drop = () => { c.destroy(); u.destroy(); this.pairs.delete(pair); };
      c.on("error", drop).on("close", drop);
      u.on("error", drop).on("close", drop);
      c.pipe(u);
      u.pipe(c);
    });
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
  }

  cut() {
    this.up = false;
    for (const [c, u] of this.pairs) { c.destroy(); u.destroy(); }
    this.pairs.clear();
  }

  heal() { this.up = true; }

  async stop() {
    this.cut();
    await new Promise((r) => this.server?.close(r) ?? r());
  }
}

/** Starts nats-server with the configuration conf (a string); resolves once it answers on /healthz. */
async function startNATS(name, conf, monitorPort) {
  const dir = mkdtempSync(join(tmpdir(), `findash-e2e-${name}-`));
  dirs.push(dir);
  const file = join(dir, "nats.conf");
  writeFileSync(file, conf.replaceAll("$DIR", dir));
  const proc = spawn(NATS, ["-c", file], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => { log = (log + d).slice(-4000); });
  const exited = new Promise((r) => proc.on("exit", r));
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${monitorPort}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`nats-server ${name} not healthy in 15 s:\n${log}`);
    await sleep(100);
  }
  return { proc, exited, log: () => log };
}

async function stopNATS(n) {
  if (!n) return;
  n.proc.kill("SIGTERM");
  if ((await within(n.exited, 10_000)) === null) n.proc.kill("SIGKILL");
}

before(async () => {
  if (!existsSync(NATS)) {
    // the nats-server of the module findash embeds, so the version is the tested one
    execFileSync("go", ["build", "-o", NATS, "github.com/nats-io/nats-server/v2"], { cwd: join(here, "..", ".."), stdio: "inherit" });
  }
  const [pa, la, ma, pb, mb] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  // Pings every second, three outstanding: a link that stops passing data
  // counts as down within seconds.
  natsA = await startNATS("region-a", `server_name: region-a
listen: 127.0.0.1:${pa}
http: 127.0.0.1:${ma}
ping_interval: "1s"
ping_max: 3
jetstream { domain: a, store_dir: "$DIR/js" }
leafnodes { listen: 127.0.0.1:${la}, no_advertise: true }
`, ma);
  link = new Link();
  await link.start(la);
  natsB = await startNATS("region-b", `server_name: region-b
listen: 127.0.0.1:${pb}
http: 127.0.0.1:${mb}
ping_interval: "1s"
ping_max: 3
jetstream { domain: b, store_dir: "$DIR/js" }
leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${link.port}" } ] }
`, mb);
  const end = Date.now() + 15_000;
  while ((await (await fetch(`http://127.0.0.1:${mb}/leafz`)).json()).leafnodes < 1) {
    if (Date.now() > end) throw new Error("region b's leafnode to a never came up");
    await sleep(100);
  }
  a = new Findash({ args: ["--nats-url", `nats://127.0.0.1:${pa}`, "--region", "a"] }); // the simulator feeds a
  await a.start();
  b = new Findash({
    args: ["--nats-url", `nats://127.0.0.1:${pb}`, "--region", "b", "--roles", "ingest,gateway,api",
      "--stream-mirror-domain", "a", "--region-stale-after", "2s"],
    env: { FINDASH_FEED: "none" },
  });
  await b.start();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  await browser?.close();
  for (const f of [b, a]) {
    await f?.stop().catch(() => {});
    f?.cleanup();
  }
  await link?.stop();
  await stopNATS(natsB);
  await stopNATS(natsA);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const prices = () => page.$$eval("#quotes tbody tr", (rows) => Object.fromEntries(rows.map((r) => [r.dataset.symbol, r.dataset.price])));
const priceMoves = (before, timeout) => page.waitForFunction((b) => [...document.querySelectorAll("#quotes tbody tr")]
  .some((r) => b[r.dataset.symbol] !== undefined && r.dataset.price !== b[r.dataset.symbol]), before, { timeout });

test("a region cut off from the primary shows its prices stale with a banner, live again after the heal", async () => {
  await page.goto(b.url + "/");
  await page.waitForFunction(() => document.querySelectorAll("#quotes tbody tr[data-price]:not([data-price=''])").length >= 20,
    null, { timeout: 15_000 });
  await priceMoves(await prices(), 5_000); // the mirror delivers a's ticks
  await page.waitForSelector("#conn[data-state=live]");
  assert.equal(await page.$eval("html", (h) => h.dataset.stale), undefined, "stale before the cut");
  assert.equal(await page.isHidden("#banner"), true, "banner shown before the cut");

  link.cut();
  const t0 = Date.now();
  await page.waitForSelector("html[data-stale][data-data=stale]", { timeout: 15_000 });
  console.log(`# stale shown ${Date.now() - t0} ms after the cut (--region-stale-after 2s)`);
  await page.waitForSelector("#banner:not([hidden])", { timeout: 1_000 });
  const banner = await page.textContent("#banner");
  assert.match(banner, /lost its link to the market data since \d\d:\d\d:\d\d/, `banner: ${banner}`);
  assert.equal(await page.textContent("#conn"), "stale");
  const root = await page.$eval("html", (h) => ({ conn: h.dataset.conn, reconnects: h.dataset.reconnects }));
  assert.deepEqual(root, { conn: "live", reconnects: "0" }, "the WebSocket itself must stay up");
  const opacity = await page.$eval("#quotes tbody .price", (e) => getComputedStyle(e).opacity);
  assert.equal(opacity, "0.55", "stale prices are greyed");
  await page.screenshot({ path: join(shots, "region-stale.png") });
  // nothing arrives while cut off: the prices stay as they were
  const frozen = await prices();
  await sleep(1_500);
  assert.deepEqual(await prices(), frozen, "prices changed while the region was cut off");

  link.heal();
  const t1 = Date.now();
  await page.waitForSelector("html:not([data-stale])[data-data=live]", { timeout: 20_000 });
  console.log(`# live shown ${Date.now() - t1} ms after the heal`);
  assert.equal(await page.isHidden("#banner"), true, "banner still shown after the heal");
  await page.waitForSelector("#conn[data-state=live]");
  await priceMoves(frozen, 10_000);
  assert.equal(await page.$eval("html", (h) => h.dataset.reconnects), "0", "the page reconnected: it should have kept its connection");
  assert.deepEqual(errors, [], "console errors");
});
