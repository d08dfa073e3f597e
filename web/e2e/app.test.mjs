// Browser tests of the dashboard's account flows against a real findash and
// a real SMTP server (issue 16): sign up → verify → sign in → API key;
// watchlists synced across two browsers; an alert fired by posted ticks →
// toast + history + e-mail; a report requested → downloaded; portfolio P&L
// moving with prices; accessibility (axe-core) and screenshots of each page.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { Findash, MailCapture, axe, freePort, launchShared, postTicks, shots, watchErrors } from "./harness.mjs";

let findash, mail, browser, base;
let ctxA, pageA, errorsA, apiKey;
const email = `trader-${Date.now()}@example.com`;
const password = "correct horse battery";
const a11y = {}; // page → serious/critical violations

before(async () => {
  mail = new MailCapture();
  await mail.start();
  // sign-ups and logins of several contexts in a minute: no auth rate limits here
  // mails link to this findash: its port is chosen before it starts
  const port = await freePort();
  findash = new Findash({ mail, args: ["--auth-rate-limit", "0", "--auth-account-rate-limit", "0", "--auth-fail-rate-limit", "0",
    "--public-url", `http://127.0.0.1:${port}`, "--smtp-from", "alerts@findash.test"] });
  findash.port = port;
  findash.adminPort = await freePort();
  await findash.start();
  base = findash.url;
  browser = await launchShared();
  ctxA = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  pageA = await ctxA.newPage();
  errorsA = watchErrors(pageA);
});

after(async () => {
  await browser?.close();
  await findash?.stop().catch(() => {});
  findash?.cleanup();
  await mail?.stop();
});

async function check(page, name, { shot = true } = {}) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  a11y[name] = await axe(page);
  if (shot) await page.screenshot({ path: join(shots, `${name}.png`) });
  // asserted all together by the last test, so one page's finding does not hide the flows after it
}

async function signIn(page, addr = email) {
  await page.goto(base + "/signin");
  await page.fill("#signin-form input[name=email]", addr);
  await page.fill("#signin-form input[name=password]", password);
  await page.click("#signin-form button[type=submit]");
  await page.waitForFunction(() => document.documentElement.dataset.user === "in", null, { timeout: 15_000 });
}

test("sign up → verify → sign in → create an API key, shown once", async () => {
  await pageA.goto(base + "/signup");
  await check(pageA, "signup");
  await pageA.fill("#signup-form input[name=email]", email);
  await pageA.fill("#signup-form input[name=password]", password);
  await pageA.click("#signup-form button[type=submit]");
  await pageA.waitForFunction(() => document.getElementById("signup-done") || location.pathname === "/account", null, { timeout: 15_000 });
  assert.ok(await pageA.$("#signup-done"), "signing up asks to open the verification mail");
  {
    // the link of the mail verifies the address
    const m = await mail.waitFor((x) => x.to.includes(email), 10_000);
    const link = m.body.match(/https?:\/\/\S+/)?.[0];
    assert.ok(link, "the verification mail has a link:\n" + m.body);
    assert.ok(link.startsWith(base + "/verify#token="), "the link opens this dashboard's /verify: " + link);
    await pageA.goto(link);
    await pageA.waitForSelector("#verify-status[data-ok=true]", { timeout: 15_000 });
    await check(pageA, "verify");
    await signIn(pageA);
    await pageA.goto(base + "/account");
  }
  await pageA.waitForSelector("#me-email");
  assert.equal(await pageA.textContent("#me-email"), email);

  await pageA.fill("#key-form input[name=name]", "e2e feed");
  await pageA.click("#key-form button[type=submit]");
  await pageA.waitForSelector("#new-key:not([hidden]) #new-key-secret");
  apiKey = (await pageA.textContent("#new-key-secret")).trim();
  assert.match(apiKey, /^fd_/, "the new key's secret is shown");
  await pageA.waitForFunction(() => document.querySelectorAll("#keys tr").length === 1);
  // the sessions: this browser's is marked
  await pageA.waitForSelector("#sessions tr >> text=this browser", { timeout: 15_000 });
  await check(pageA, "account-new-key");
  // the key works: it posts ticks
  await postTicks(base, apiKey, [{ symbol: "E2E-ALERT", ts: Date.now(), price: 100, size: 1 }]);
  // shown once: after a reload the secret is nowhere on the page, only its prefix
  await pageA.reload();
  await pageA.waitForFunction(() => document.querySelectorAll("#keys tr").length === 1);
  assert.ok(!(await pageA.content()).includes(apiKey), "the secret is still on the page after a reload");
  assert.ok((await pageA.textContent("#keys")).includes(apiKey.slice(0, 11)), "the key's prefix is listed");
  await check(pageA, "account");

  // sign out and in again
  await pageA.click("#signout");
  await pageA.waitForFunction(() => document.documentElement.dataset.user === "out");
  await signIn(pageA);
  await check(pageA, "signin", { shot: false });
  assert.deepEqual(errorsA.filter((e) => !/401|Failed to load resource/.test(e)), [], "console errors");
});

test("watchlists: local lists merge at sign-in and sync across two browsers", async () => {
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const pageB = await ctxB.newPage();
  await pageB.goto(base + "/");
  await pageB.waitForFunction(() => document.querySelectorAll("#quotes tbody tr[data-price]:not([data-price=''])").length >= 5, null, { timeout: 20_000 });
  const syms = (await pageB.$$eval("#quotes tbody tr", (rs) => rs.map((r) => r.dataset.symbol))).filter((s) => !s.startsWith("E2E")).sort();
  const [s1, s2] = syms;
  const star = (sym) => `#quotes tr[data-symbol="${sym}"] .star`;
  // signed out: the star keeps the symbol in this browser, and shows it
  await pageB.click(star(s1));
  await pageB.waitForSelector(`${star(s1)}[aria-pressed=true]`, { timeout: 15_000 });
  assert.equal(await pageB.textContent(star(s1)), "★");
  // signing in merges the browser's list into the account's
  await signIn(pageB); // back on the overview (?next=/ by default)
  await pageB.waitForSelector(`${star(s1)}[aria-pressed=true]`, { timeout: 30_000 });
  // the other browser (A, signed in) sees it, and its own star reaches B
  await pageA.goto(base + "/");
  await pageA.waitForSelector(`${star(s1)}[aria-pressed=true]`, { timeout: 15_000 });
  await pageA.click(star(s2));
  await pageA.waitForSelector(`${star(s2)}[aria-pressed=true]`, { timeout: 15_000 });
  const t0 = Date.now();
  await pageB.waitForSelector(`${star(s2)}[aria-pressed=true]`, { timeout: 24_000 });
  console.log(`# a star set in one browser showed in the other after ${Date.now() - t0} ms`);
  const lists = await (await fetch(base + "/api/v1/watchlists", { headers: { Cookie: (await ctxA.cookies()).map((c) => `${c.name}=${c.value}`).join("; ") } })).json();
  assert.deepEqual(lists.data.map((l) => [l.name, [...l.symbols].sort()]), [["Favourites", [s1, s2].sort()]]);
  await check(pageA, "overview-signed-in");
  await ctxB.close();
});

test("an alert fires on a crossing: toast, history and e-mail, once", async () => {
  const sym = "E2E-ALERT";
  await pageA.goto(base + "/s/" + sym);
  const form = ".sym-alerts form";
  await pageA.waitForSelector(form);
  await pageA.selectOption(`${form} select[name=condition]`, "above");
  await pageA.fill(`${form} input[name=threshold]`, "110");
  await pageA.check(`${form} input[name=email]`);
  await pageA.click(`${form} button[type=submit]`);
  await pageA.waitForSelector("#symbol-alerts li", { timeout: 15_000 });
  await check(pageA, "symbol-alerts");

  const t0 = Date.now();
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 120, size: 1 }]);
  await pageA.waitForSelector(`.toast >> text=${sym}`, { timeout: 15_000 });
  console.log(`# toast ${Date.now() - t0} ms after the crossing tick was posted`);
  await pageA.screenshot({ path: join(shots, "alert-toast.png") });
  // still above: no second firing
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 121, size: 1 }]);
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 122, size: 1 }]);
  // back below the re-arm band and across again, within the default cooldown (300 s): no firing
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 100, size: 1 }]);
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 125, size: 1 }]);

  const m = await mail.waitFor((x) => x.to.includes(email) && x.subject.includes(sym), 15_000);
  console.log(`# alert e-mail from ${m.headers.from}: ${m.subject}`);
  assert.match(m.headers.from ?? "", /alerts@findash\.test/, "the mail comes from --smtp-from");
  const link = m.body.match(/https?:\/\/\S+/)?.[0];
  assert.ok(link, "the alert mail has a link:\n" + m.body);
  {
    // the mail links back to the symbol
    assert.ok(link.startsWith(base + "/s/"), "the alert mail links to this dashboard's symbol page: " + link);
    const p = await ctxA.newPage();
    await p.goto(link);
    await p.waitForSelector("#chart", { timeout: 15_000 });
    assert.match(p.url(), new RegExp("/s/" + sym));
    await p.close();
  }

  await pageA.goto(base + "/notifications");
  await pageA.waitForSelector("#events tr");
  await new Promise((r) => setTimeout(r, 1000)); // time for a wrong second firing to show
  await pageA.reload();
  await pageA.waitForSelector("#events tr");
  assert.equal((await pageA.$$("#events tr")).length, 1, "fired once: still above, then a second crossing within the cooldown");
  await check(pageA, "notifications");

  // the list page: edit the threshold, then delete
  await pageA.goto(base + "/alerts");
  await pageA.waitForSelector("#alerts tr");
  await check(pageA, "alerts");
  await pageA.click("#alerts tr >> text=Edit");
  await pageA.fill("#alert-edit form input[name=threshold]", "130");
  await pageA.click("#alert-edit form button[type=submit]");
  await pageA.waitForSelector("#alerts tr >> text=130.00", { timeout: 15_000 });
  pageA.once("dialog", (d) => d.accept());
  await pageA.click("#alerts tr >> text=Delete");
  await pageA.waitForFunction(() => document.querySelectorAll("#alerts tr").length === 0, null, { timeout: 15_000 });
});

test("a report is requested, followed live and downloaded", async () => {
  await pageA.goto(base + "/reports");
  await pageA.fill("#report-form input[name=symbols]", "BTC-USD, ETH-USD");
  // reports hold closed candles only: 1s bars of the last ten minutes exist on a fresh server
  await pageA.selectOption("#report-form select[name=interval]", "1s");
  await pageA.$eval("#report-form input[name=from]", (el) => {
    const d = new Date(Date.now() - 10 * 60_000), p = (n) => String(n).padStart(2, "0");
    el.value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  });
  for (const format of ["csv", "pdf"]) {
    await pageA.selectOption("#report-form select[name=format]", format);
    await pageA.click("#report-form button[type=submit]");
    await pageA.waitForSelector(`#reports tr:first-child[data-status=done] a[download$=".${format}"]`, { timeout: 60_000 });
    const [dl] = await Promise.all([pageA.waitForEvent("download"), pageA.click("#reports tr:first-child a[download]")]);
    const body = readFileSync(await dl.path());
    if (format === "csv") {
      const lines = body.toString("utf8").trim().split("\n");
      assert.ok(lines.length > 1, "the CSV has rows");
      assert.ok(lines.some((l) => l.includes("BTC-USD")), "the CSV has BTC-USD rows");
    } else {
      assert.equal(body.subarray(0, 5).toString(), "%PDF-");
    }
    console.log(`# ${format} report downloaded: ${body.length} B`);
  }
  await check(pageA, "reports");
});

test("portfolio P&L moves with prices, on its page and the overview", async () => {
  const sym = "E2E-PF";
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 100, size: 1 }]);
  await pageA.goto(base + "/portfolio");
  await pageA.fill("#holding-form input[name=symbol]", sym);
  await pageA.fill("#holding-form input[name=quantity]", "2");
  await pageA.fill("#holding-form input[name=cost]", "100");
  await pageA.click("#holding-form button[type=submit]");
  await pageA.waitForSelector(`#holdings tr[data-symbol="${sym}"]`);
  const pnl = (want) => pageA.waitForFunction((w) => document.getElementById("portfolio-totals").dataset.pnl === w, want, { timeout: 15_000 });
  await pnl("0");
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 150, size: 1 }]);
  await pnl("100");
  await check(pageA, "portfolio");
  await postTicks(base, apiKey, [{ symbol: sym, ts: Date.now(), price: 90, size: 1 }]);
  await pnl("-20");
  await pageA.goto(base + "/");
  await pageA.waitForFunction(() => document.getElementById("overview-portfolio")?.dataset.pnl === "-20", null, { timeout: 15_000 });
});

test("every page: no serious accessibility violation; unknown symbols say so; phones get the table first", async () => {
  await pageA.goto(base + "/s/BTC-USD");
  await pageA.waitForSelector("#chart[data-loaded=true]", { timeout: 20_000 });
  // chart tools: line, overlays, compare on a % scale, a range
  await pageA.click("button[data-style=area]");
  await pageA.click("button[data-overlay=ma]");
  await pageA.click("button[data-overlay=vwap]");
  await pageA.fill("#compare", "ETH-USD");
  await pageA.click(".compare button[type=submit]");
  await pageA.waitForSelector("#chart[data-compare='ETH-USD'][data-scale=percent][data-style=area][data-overlays='ma,vwap']", { timeout: 15_000 });
  await pageA.click("button[data-range='1H']");
  await check(pageA, "symbol-tools");

  const t0 = Date.now();
  await pageA.goto(base + "/s/NO-SUCH-SYMBOL");
  await pageA.waitForSelector("#not-found", { timeout: 15_000 });
  console.log(`# "not found" for an unknown symbol after ${Date.now() - t0} ms`);
  await check(pageA, "not-found", { shot: false });

  await pageA.goto(base + "/");
  await pageA.waitForSelector(".movers-list li a");
  await check(pageA, "overview");
  // keyboard focus stays on a movers link across re-renders
  await pageA.focus(".movers-list li a");
  const href = await pageA.evaluate(() => document.activeElement.getAttribute("href"));
  await new Promise((r) => setTimeout(r, 2500));
  const now = await pageA.evaluate(() => document.activeElement?.closest?.(".movers-list") ? document.activeElement.getAttribute("href") : null);
  assert.ok(now, `focus left the movers list (was on ${href})`);

  await pageA.setViewportSize({ width: 390, height: 844 });
  await pageA.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const [table, movers] = await Promise.all([pageA.$eval("#quotes", (e) => e.getBoundingClientRect().top),
    pageA.$eval(".movers", (e) => e.getBoundingClientRect().top)]);
  assert.ok(table < movers, `on a phone the table (top ${table}) comes before the movers (top ${movers})`);
  await pageA.screenshot({ path: join(shots, "overview-phone-signed-in.png") });
  await pageA.setViewportSize({ width: 1280, height: 860 });

  const signedOut = await browser.newContext();
  const p = await signedOut.newPage();
  await p.goto(base + "/signin");
  await p.waitForSelector("#signin-form");
  await check(p, "signin");
  // password reset by the mailed link, for another account
  const other = `forgetful-${Date.now()}@example.com`;
  const res = await fetch(base + "/api/v1/auth/signup", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: other, password: "an old password" }) });
  assert.equal(res.status, 201);
  await p.goto(base + "/reset");
  await p.waitForSelector("#reset-form");
  await check(p, "reset", { shot: false });
  await p.fill("#reset-form input[name=email]", other);
  await p.click("#reset-form button[type=submit]");
  await p.waitForSelector("#reset-form .form-status.ok");
  const m = await mail.waitFor((x) => x.to.includes(other) && /reset-password#token=/.test(x.body), 15_000);
  const link = m.body.match(/https?:\/\/\S+reset-password#token=\S+/)[0];
  assert.ok(link.startsWith(base + "/reset-password#token="), "the reset link opens this dashboard: " + link);
  await p.goto(link);
  await p.fill("#reset-confirm-form input[name=password]", password);
  await p.click("#reset-confirm-form button[type=submit]");
  await p.waitForSelector("text=Password changed", { timeout: 15_000 });
  await signIn(p, other); // with the new password
  await signedOut.close();
  console.log("# axe (serious+critical violations per page): " + Object.entries(a11y).map(([k, v]) => `${k} ${v.length}`).join(", "));
  for (const page of ["signup", "account", "overview-signed-in", "symbol-alerts", "notifications", "alerts", "reports", "portfolio"]) {
    assert.ok(page in a11y, `axe did not run on ${page}`);
  }
  assert.deepEqual(Object.fromEntries(Object.entries(a11y).filter(([, v]) => v.length)), {}, "axe: serious or critical violations");
});
