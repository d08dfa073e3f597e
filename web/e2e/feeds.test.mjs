// Browser test of the dashboard's feed status line (decision 0021): a real
// findash fed by `findash fake-exchange` over real WebSocket and HTTP shows
// Binance connected, then degraded when the fake venue stalls, then
// connected again when it talks.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { Findash, freePort, launchBrowser, shots, watchErrors, within } from "./harness.mjs";

const FINDASH = process.env.FINDASH_BIN || "/tmp/findash-e2e";

let fake, fakeURL, findash, browser, page, errors;

/** Starts `findash fake-exchange` (Binance only) and resolves with its URL once it listens. */
async function startFake() {
  const port = await freePort();
  const p = spawn(FINDASH, ["fake-exchange", "--binance-addr", `127.0.0.1:${port}`, "--coinbase-addr", "",
    "--binance-symbols", "BTCUSDT", "--rate", "20"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((r) => p.on("exit", r));
  const listening = new Promise((resolve) => {
    let out = "";
    p.stdout.on("data", (b) => {
      out += b.toString();
      if (out.includes("binance ws=")) resolve(true);
    });
  });
  if (!(await within(Promise.race([listening, exited.then(() => false)]), 15_000))) {
    p.kill("SIGKILL");
    throw new Error("findash fake-exchange did not start");
  }
  return { proc: p, exited, url: `127.0.0.1:${port}` };
}

const control = async (what) => {
  const res = await fetch(`http://${fakeURL}/fake/${what}`, { method: "POST" });
  assert.equal(res.status, 200, `POST /fake/${what}`);
};

before(async () => {
  fake = await startFake();
  fakeURL = fake.url;
  findash = new Findash({
    env: {
      FINDASH_FEED: "binance", FINDASH_FEED_SYMBOLS: "BTC-USDT",
      FINDASH_BINANCE_WS_URL: `ws://${fakeURL}`, FINDASH_BINANCE_REST_URL: `http://${fakeURL}`,
      // a stalled venue shows degraded after 3 s of silence (the line refreshes every 5 s)
      FINDASH_FEED_SILENCE: "2s", FINDASH_FEED_STALE_AFTER: "3s",
    },
  });
  await findash.start();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  await browser?.close();
  await findash?.stop().catch(() => {});
  findash?.cleanup();
  if (fake) {
    fake.proc.kill("SIGTERM");
    if ((await within(fake.exited, 10_000)) === null) fake.proc.kill("SIGKILL");
  }
});

const feedLine = () => page.$eval("#feeds .feed[data-venue=binance]", (e) => ({ state: e.dataset.state, text: e.textContent }));

test("the feed line shows Binance connected, degraded while the venue stalls, connected again", async () => {
  await page.goto(findash.url + "/");
  await page.waitForSelector("#feeds:not([hidden]) .feed[data-venue=binance][data-state=connected]", { timeout: 15_000 });
  const live = await feedLine();
  assert.match(live.text, /^Binance connected · last message [\d.]+ s ago · lag -?\d+ ms$/, `feed line: ${live.text}`);
  await page.waitForSelector("#quotes tbody tr[data-symbol='BTC-USDT']", { timeout: 10_000 });
  await page.screenshot({ path: join(shots, "feeds-connected.png") });

  await control("stall");
  const t0 = Date.now();
  await page.waitForSelector("#feeds .feed[data-venue=binance][data-state=degraded]", { timeout: 20_000 });
  const degraded = await feedLine();
  console.log(`# degraded shown ${Date.now() - t0} ms after the stall: ${degraded.text}`);
  assert.match(degraded.text, /^Binance degraded · last message \d+(\.\d)? s ago/, `feed line: ${degraded.text}`);
  const ready = await (await fetch(findash.url + "/readyz")).json();
  assert.equal(ready.checks.feed_binance?.status, "down", `readyz while stalled: ${JSON.stringify(ready)}`);
  await page.screenshot({ path: join(shots, "feeds-degraded.png") });

  await control("resume");
  await page.waitForSelector("#feeds .feed[data-venue=binance][data-state=connected]", { timeout: 20_000 });
  assert.deepEqual(errors, [], "console errors");
});
