// Test harness: starts a real findash (and, when that findash does not serve
// the dashboard itself yet, web/devserver in front of it) and a headless
// Debian chromium driven by playwright-core. Never downloads a browser.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
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

/** A findash process with fixed ports and data directory, restartable. */
export class Findash {
  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), "findash-e2e-"));
    this.proc = null;
    this.log = [];
  }

  async start() {
    if (!this.port) {
      this.port = await freePort();
      this.adminPort = await freePort();
    }
    const args = ["serve", "--http-addr", `127.0.0.1:${this.port}`, "--admin-addr", `127.0.0.1:${this.adminPort}`,
      "--data-dir", this.dataDir];
    const p = spawn(FINDASH, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FINDASH_LOG_FORMAT: "json" } });
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
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "findash-e2e-chromium-"));
  // a persistent context is how playwright takes --user-data-dir (a fresh one)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
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
