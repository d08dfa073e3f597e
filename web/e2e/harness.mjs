// Test harness: starts a real findash (and, when that findash does not serve
// the dashboard itself yet, web/devserver in front of it) and a headless
// Debian chromium driven by playwright-core. Never downloads a browser.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const here = dirname(fileURLToPath(import.meta.url));
export const shots = join(here, "screenshots");

const FINDASH = process.env.FINDASH_BIN || "/tmp/findash-e2e";
const DEVSERVER = process.env.FINDASH_DEVSERVER_BIN || "/tmp/findash-e2e-devserver";
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with p's value, or with null when ms pass first. The timer is
 * cleared as soon as p settles: a pending timer keeps Node's event loop (and
 * so the test run) alive until it fires.
 */
export function within(p, ms) {
  let timer;
  const timeout = new Promise((r) => { timer = setTimeout(() => r(null), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function waitHTTP(url, okStatus, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      if (okStatus(res.status)) return res;
      last = "status " + res.status;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutMs} ms (${last})`);
}

/**
 * A real SMTP server on loopback that keeps every message (plain SMTP, no
 * TLS, no auth: findash's mailer speaks to it as to any relay).
 */
export class MailCapture {
  constructor() {
    this.messages = [];
    this.waiters = new Set();
  }

  async start() {
    this.server = createServer((sock) => this.session(sock));
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
    this.url = `smtp://127.0.0.1:${this.port}`;
  }

  session(sock) {
    let buf = "", inData = false, env = { from: "", to: [] };
    const say = (l) => sock.write(l + "\r\n");
    sock.setEncoding("utf8");
    sock.on("error", () => {});
    say("220 capture ESMTP");
    sock.on("data", (chunk) => {
      buf += chunk;
      if (buf.length > 4 << 20) return sock.destroy(); // bounded
      for (;;) {
        if (inData) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end < 0) return;
          const raw = buf.slice(0, end).split("\r\n").map((l) => (l.startsWith("..") ? l.slice(1) : l)).join("\n");
          buf = buf.slice(end + 5);
          inData = false;
          this.add({ ...env, raw });
          env = { from: "", to: [] };
          say("250 OK queued");
          continue;
        }
        const nl = buf.indexOf("\r\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") say("250-capture\r\n250 8BITMIME");
        else if (verb === "HELO" || verb === "RSET" || verb === "NOOP") say("250 OK");
        else if (verb === "MAIL") { env.from = line.replace(/^MAIL FROM:\s*/i, ""); say("250 OK"); }
        else if (verb === "RCPT") { env.to.push(line.replace(/^RCPT TO:\s*/i, "").replace(/[<>]/g, "")); say("250 OK"); }
        else if (verb === "DATA") { inData = true; say("354 end with ."); }
        else if (verb === "QUIT") { say("221 bye"); sock.end(); return; }
        else say("502 not implemented");
      }
    });
  }

  add(m) {
    const i = m.raw.indexOf("\n\n");
    const head = m.raw.slice(0, i), body = m.raw.slice(i + 2);
    const headers = {};
    for (const l of head.split("\n")) {
      const c = l.indexOf(":");
      if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    const msg = { ...m, headers, subject: headers.subject ?? "", body };
    this.messages.push(msg);
    for (const w of this.waiters) w();
  }

  /** The first message matching pred, waiting up to ms for it. */
  async waitFor(pred, ms = 10_000) {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.messages.find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error(`no matching mail within ${ms} ms; have: ${this.messages.map((x) => x.to + " " + x.subject).join("; ")}`);
      await new Promise((r) => {
        const w = () => { this.waiters.delete(w); r(); };
        this.waiters.add(w);
        setTimeout(w, 200);
      });
    }
  }

  async stop() {
    await new Promise((r) => this.server?.close(r) ?? r());
  }
}

/** A findash process with fixed ports and data directory, restartable. */
export class Findash {
  /** opts.mail: a MailCapture to send e-mails to; opts.args: more flags. */
  constructor(opts = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), "findash-e2e-"));
    this.proc = null;
    this.log = [];
    this.opts = opts;
  }

  async start() {
    if (!this.port) {
      this.port = await freePort();
      this.adminPort = await freePort();
    }
    const args = ["serve", "--http-addr", `127.0.0.1:${this.port}`, "--admin-addr", `127.0.0.1:${this.adminPort}`,
      "--data-dir", this.dataDir, ...(this.opts.args ?? [])];
    if (this.opts.mail) {
      // the SMTP URL through a file: a secret never goes on a command line
      const f = join(this.dataDir, "smtp-url");
      writeFileSync(f, this.opts.mail.url, { mode: 0o600 });
      args.push("--smtp-url-file", f);
    }
    const p = spawn(FINDASH, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FINDASH_LOG_FORMAT: "json", ...(this.opts.env ?? {}) } });
    const keep = (b) => {
      this.log.push(b.toString());
      if (this.log.length > 200) this.log.shift();
    };
    p.stdout.on("data", keep);
    p.stderr.on("data", keep);
    this.exited = new Promise((resolve) => p.on("exit", (code, sig) => resolve({ code, sig })));
    this.proc = p;
    this.url = `http://127.0.0.1:${this.port}`;
    const failed = this.exited.then((e) => { throw new Error(`findash exited early (${JSON.stringify(e)}):\n${this.log.join("")}`); });
    await Promise.race([waitHTTP(this.url + "/readyz", (s) => s === 200, 30_000, "findash"), failed]);
    failed.catch(() => {});
  }

  /** SIGTERM (graceful drain: clients get `reconnect`), then wait for the exit. */
  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    p.kill("SIGTERM");
    const res = await within(this.exited, 40_000);
    if (res === null) {
      p.kill("SIGKILL");
      await this.exited;
      throw new Error("findash did not stop within 40 s of SIGTERM");
    }
    return res;
  }

  cleanup() {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** web/devserver in front of findash (only while findash does not serve the dashboard). */
export class DevServer {
  async start(upstream) {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(DEVSERVER, ["-addr", `127.0.0.1:${this.port}`, "-upstream", upstream], { stdio: "inherit" });
    await waitHTTP(this.url + "/", (s) => s === 200, 15_000, "devserver");
  }

  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    const exited = new Promise((r) => p.on("exit", r));
    p.kill("SIGTERM");
    await exited;
  }
}

/** Whether findash itself serves the dashboard at / (the web handler is mounted). */
export async function servesDashboard(base) {
  try {
    const res = await fetch(base + "/");
    return res.ok && (await res.text()).includes('<script type="module"');
  } catch {
    return false;
  }
}

/** Starts the headless chromium of the system with a fresh profile (--user-data-dir). */
export async function launchBrowser(viewport = { width: 1280, height: 860 }) {
  const profile = mkdtempSync(join(tmpdir(), "findash-e2e-chromium-"));
  // a persistent context is how playwright takes --user-data-dir (a fresh one)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(shots, { recursive: true });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Collects console errors and page errors (CSP violations show up here). */
export function watchErrors(page) {
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

/** A headless chromium for several isolated contexts (each its own cookies and storage). */
export async function launchShared() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(shots, { recursive: true });
  return browser;
}

const axeSource = () => import("node:fs").then((fs) =>
  fs.readFileSync(join(here, "..", "node_modules", "axe-core", "axe.min.js"), "utf8"));

/**
 * Runs axe-core (WCAG 2 A and AA rules) on the page and returns the serious
 * and critical violations as "rule: target" strings. The script goes in
 * through the DevTools protocol, which the page's CSP does not govern.
 */
export async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(await axeSource());
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    resultTypes: ["violations"],
  }));
  return res.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(" ")} — ${n.failureSummary?.split("\n")[1]?.trim() ?? v.help}`));
}

/** POSTs ticks with an API key; resolves with the response status. */
export async function postTicks(base, key, ticks) {
  const res = await fetch(base + "/api/v1/ticks", {
    method: "POST",
    headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
    body: JSON.stringify(ticks),
  });
  if (res.status !== 202) throw new Error(`POST ticks: ${res.status} ${await res.text()}`);
  return res.status;
}
