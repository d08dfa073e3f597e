// Who is signed in. The session itself is the HttpOnly cookie login sets;
// the page learns the user from GET /api/v1/me and tells the views when it
// changes (sign in, sign out, a session that lapsed).
import * as api from "./api";
import type { User } from "./types";

/** The signed-in user of the page, or null. */
export class Auth {
  user: User | null = null;
  /** Whether the first GET /me has answered. */
  known = false;
  private readonly listeners = new Set<(u: User | null) => void>();

  /** Asks the server who the cookie belongs to. */
  async load(): Promise<void> {
    // login sets findash_csrf (readable) beside the HttpOnly session cookie:
    // without it nobody is signed in, and asking would only log a 401
    if (!/(?:^|;\s*)findash_csrf=/.test(document.cookie)) {
      this.set(null);
      return;
    }
    try {
      this.set(await api.me());
    } catch {
      this.set(null); // 401: signed out; network: treated as signed out until the next try
    }
  }

  /** Signs in; throws the API's error (401 for a wrong address or password). */
  async login(email: string, password: string): Promise<User> {
    const r = await api.login(email, password);
    this.set(r.user);
    return r.user;
  }

  /** Signs out (the server deletes the session). */
  async logout(): Promise<void> {
    try {
      await api.logout();
    } finally {
      this.set(null);
    }
  }

  /** Calls fn now and on every change; returns the remover. */
  onChange(fn: (u: User | null) => void): () => void {
    this.listeners.add(fn);
    if (this.known) fn(this.user);
    return () => this.listeners.delete(fn);
  }

  private set(u: User | null): void {
    const changed = !this.known || (u?.id ?? null) !== (this.user?.id ?? null);
    this.user = u;
    this.known = true;
    if (changed) for (const fn of [...this.listeners]) fn(u);
  }
}
