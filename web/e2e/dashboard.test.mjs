// Browser tests of the dashboard against a real findash (issue 4).
// Run through web/e2e/run.sh, or: node --test e2e/ (after building findash).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { DevServer, Findash, launchBrowser, servesDashboard, shots, sleep, watchErrors } from "./harness.mjs";

let findash, dev, browser, page, base, errors;
let symbol; // the symbol whose page is tested

before(async () => {
  findash = new Findash();
  await findash.start();
  base = findash.url;
  if (!(await servesDashboard(base))) {
    // the web handler is not mounted in this findash yet: put the devserver in front
    dev = new DevServer();
    await dev.start(findash.url);
    base = dev.url;
    console.log(`# findash does not serve the dashboard itself; testing through web/devserver at ${base}`);
  }
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  await browser?.close();
  await dev?.stop();
  await findash?.stop().catch(() => {});
  findash?.cleanup();
});

const prices = () => page.$$eval("#quotes tbody tr", (rows) => Object.fromEntries(rows.map((r) => [r.dataset.symbol, r.dataset.price])));

test("overview shows every symbol and a price changes within 3 s", async () => {
  await page.goto(base + "/");
  await page.waitForFunction(() => document.querySelectorAll("#quotes tbody tr[data-price]:not([data-price=''])").length >= 20,
    null, { timeout: 10_000 });
  const before = await prices();
  assert.ok(Object.keys(before).length >= 20, `rows: ${Object.keys(before).length}, want >= 20`);
  const t0 = Date.now();
  await page.waitForFunction((b) => [...document.querySelectorAll("#quotes tbody tr")]
    .some((r) => b[r.dataset.symbol] !== undefined && r.dataset.price !== b[r.dataset.symbol]), before, { timeout: 3_000 });
  console.log(`# a price changed after ${Date.now() - t0} ms`);

  // first load, as the browser transferred it (compressed bodies + headers)
  const bytes = await page.evaluate(() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .filter((e) => !e.name.includes("/api/"))
    .map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize, body: e.encodedBodySize, raw: e.decodedBodySize })));
  const total = bytes.reduce((n, e) => n + e.transfer, 0);
  console.log(`# first load of the overview: ${total} B transferred: ${bytes.map((e) => `${e.name} ${e.body}/${e.raw}`).join(", ")}`);
  assert.ok(total > 0 && total < 200_000, `first load transferred ${total} B, want < 200 KB`);
  await page.waitForSelector("#conn[data-state=live]");
  assert.ok(await page.$$eval(".movers-list li a", (as) => as.length) > 0, "no top movers shown");

  // sorting by 24h % orders the rows by it
  await page.click("th[data-key=change_pct_24h] button"); // numbers sort descending first
  await page.waitForSelector("th[data-key=change_pct_24h][aria-sort=descending]", { timeout: 6_000 });

  // search filters the table
  await page.fill("#search", "BTC");
  await page.waitForFunction(() => document.querySelectorAll("#quotes tbody tr").length < 20);
  await page.fill("#search", "");
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.querySelectorAll("#quotes tbody tr").length >= 20);

  await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });
  await page.click("#theme");
  await page.screenshot({ path: join(shots, "overview-dark.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))); // laid out at the new width
  await page.screenshot({ path: join(shots, "overview-phone.png"), fullPage: true });
  await page.click("#theme");
  await page.setViewportSize({ width: 1280, height: 860 });
  assert.deepEqual(errors, [], "console errors on the overview");
});

test("a symbol page draws a chart whose last candle updates", async () => {
  const syms = Object.keys(await prices()).sort();
  symbol = syms.includes("BTC-USD") ? "BTC-USD" : syms[0];
  await page.click(`#quotes tbody tr[data-symbol="${symbol}"] a`);
  await page.waitForURL(base + "/s/" + encodeURIComponent(symbol));
  await page.waitForSelector("#chart[data-loaded=true] canvas", { timeout: 10_000 });
  await page.waitForFunction(() => Number(document.getElementById("chart").dataset.bars) >= 1, null, { timeout: 10_000 });
  const last = () => page.$eval("#chart", (el) => `${el.dataset.lastStart}/${el.dataset.lastClose}/${el.dataset.lastVolume}`);
  const first = await last();
  await page.waitForFunction((f) => {
    const el = document.getElementById("chart");
    return `${el.dataset.lastStart}/${el.dataset.lastClose}/${el.dataset.lastVolume}` !== f;
  }, first, { timeout: 5_000 });
  // the chart drew something: its main canvas is not blank
  const painted = await page.$eval("#chart canvas", (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(painted > 100, `chart canvas painted pixels = ${painted}`);
  await page.waitForFunction(() => document.querySelectorAll("#trades tr[data-seq]").length >= 5, null, { timeout: 5_000 });
  await page.screenshot({ path: join(shots, "symbol.png"), fullPage: true });
  assert.deepEqual(errors, [], "console errors on the symbol page");
});

test("switching interval reloads the chart, and the URL keeps it", async () => {
  const resp = page.waitForResponse((r) => r.url().includes("/api/v1/candles/") && r.url().includes("interval=1s"));
  await page.click("button[data-interval='1s']");
  assert.equal((await resp).status(), 200);
  await page.waitForSelector("#chart[data-interval='1s'][data-loaded=true]");
  assert.equal(await page.getAttribute("button[data-interval='1s']", "aria-pressed"), "true");
  assert.match(page.url(), /interval=1s/);
  // 1s buckets: the last bar moves on within a few seconds
  const start = await page.$eval("#chart", (el) => Number(el.dataset.lastStart));
  await page.waitForFunction((s) => Number(document.getElementById("chart").dataset.lastStart) > s, start, { timeout: 5_000 });
  await page.reload();
  await page.waitForSelector("#chart[data-interval='1s'][data-loaded=true]", { timeout: 10_000 });
  await page.click("button[data-interval='1m']");
  await page.waitForSelector("#chart[data-interval='1m'][data-loaded=true]");
  assert.deepEqual(errors, [], "console errors while switching intervals");
});

test("a server restart is survived and no tick is skipped on the trades list", async () => {
  await page.waitForFunction(() => document.querySelectorAll("#trades tr[data-seq]").length >= 20, null, { timeout: 10_000 });
  const seqs = () => page.$$eval("#trades tr[data-seq]", (rows) => rows.map((r) => Number(r.dataset.seq)));
  const beforeMax = Math.max(...(await seqs()));

  await findash.stop();
  await page.waitForFunction(() => document.documentElement.dataset.conn !== "live", null, { timeout: 10_000 });
  const state = await page.getAttribute("#conn", "data-state");
  // the browser is online: the server being away is "reconnecting", never "offline"
  assert.equal(state, "reconnecting", `state while the server is down`);
  assert.equal(await page.getAttribute("html", "data-stale"), "true", "prices are not marked stale while disconnected");
  await sleep(2_000); // an outage of two seconds: the page retries against a closed port
  assert.equal(await page.isVisible("#banner"), true, "no banner after 2 s without a connection");
  await page.screenshot({ path: join(shots, "symbol-reconnecting.png") });
  await findash.start();
  const readyAt = Date.now(); // /readyz answered 200 (polled every 100 ms, so at most that late)
  await page.waitForFunction(() => document.documentElement.dataset.conn === "live" &&
    Number(document.documentElement.dataset.reconnects) >= 1, null, { timeout: 20_000 });
  const liveAt = Number(await page.getAttribute("html", "data-live-at"));
  console.log(`# live again ${liveAt - readyAt} ms after findash was ready`);
  // One retry lands within 800 ms (decision 0035's cap) of readiness; on a
  // loaded CI machine an attempt made as the server comes up can fail and
  // need a second (1,583 ms seen once; 191–301 ms usual), so two rounds are
  // allowed. The old uncapped backoff took several seconds.
  assert.ok(liveAt - readyAt <= 2000, `live again ${liveAt - readyAt} ms after readiness, want ≤ 2000`);
  assert.equal(await page.getAttribute("html", "data-stale"), null, "prices still marked stale when live");
  assert.equal(await page.isVisible("#banner"), false, "the banner stays when live");
  // new trades arrive after the restart
  await page.waitForFunction((m) => [...document.querySelectorAll("#trades tr[data-seq]")]
    .filter((r) => Number(r.dataset.seq) > m).length >= 10, beforeMax, { timeout: 15_000 });

  const shown = (await seqs()).reverse(); // oldest first
  const gaps = await page.$$eval("#trades tr.gap", (rows) => rows.map((r) => r.textContent));
  assert.deepEqual(gaps, [], "the trades list shows a gap across the restart");
  for (let i = 1; i < shown.length; i++) assert.ok(shown[i] > shown[i - 1], `seq order broken at ${i}: ${shown[i - 1]} then ${shown[i]}`);

  // what the server holds for the same range, asked afresh with `since`
  const ref = await page.evaluate(({ sym, since, until }) => new Promise((resolve, reject) => {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    const got = [];
    const timer = setTimeout(() => { ws.close(); reject(new Error("reference replay timed out at " + got.length)); }, 10_000);
    ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", id: 1, channels: ["ticks:" + sym], since: { ["ticks:" + sym]: since } }));
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split("\n")) {
        if (!line) continue;
        const m = JSON.parse(line);
        if (m.type === "gap") got.push(`gap ${m.from}-${m.to}`);
        if (m.type !== "tick") continue;
        if (m.seq <= until) got.push(m.seq);
        if (m.seq >= until) {
          clearTimeout(timer);
          ws.close();
          resolve(got);
        }
      }
    };
  }), { sym: symbol, since: shown[0] - 1, until: shown[shown.length - 1] });
  assert.deepEqual(shown, ref, "the trades list differs from what the server replays for the same range");
  console.log(`# ${shown.length} trades across the restart, seq ${shown[0]}..${shown[shown.length - 1]}, none skipped`);
  await page.screenshot({ path: join(shots, "symbol-after-restart.png"), fullPage: true });
  const unexpected = errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|502|Failed to load resource/.test(e));
  assert.deepEqual(unexpected, [], "console errors across the restart");
});
