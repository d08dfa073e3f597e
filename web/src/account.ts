// The account pages: sign in, sign up, e-mail verification, password reset,
// and the account itself (API keys — created, shown once, revoked — and
// sessions).
import * as api from "./api";
import type { Context } from "./context";
import { h, setText } from "./dom";
import type { APIKey, Session, User } from "./types";
import { button, dateTime, field, input, onSubmit, signedIn, status } from "./ui";

/** Where to go after signing in: ?next= when it is a path of this app. */
function next(): string {
  const n = new URLSearchParams(location.search).get("next") ?? "";
  return n.startsWith("/") && !n.startsWith("//") ? n : "/";
}

const email = () => input({ type: "email", name: "email", autocomplete: "email", required: true, maxlength: 254 });
const password = (auto: string) =>
  input({ type: "password", name: "password", autocomplete: auto, required: true, minlength: 10, maxlength: 1024 });

/** /signin */
export function signin(main: HTMLElement, ctx: Context): () => void {
  const em = email(), pw = password("current-password");
  const st = status();
  const form = h("form", { class: "card form", id: "signin-form" },
    field("E-mail", em), field("Password", pw),
    h("button", { type: "submit", class: "btn primary" }, "Sign in"), st.el,
    h("p", {}, "No account? ", h("a", { href: "/signup" }, "Sign up"), " · ", h("a", { href: "/reset" }, "Forgot your password?")));
  main.replaceChildren(h("h1", {}, "Sign in"), form);
  onSubmit(form, st, async () => {
    try {
      await ctx.auth.login(em.value.trim(), pw.value);
    } catch (e) {
      if ((e as api.APIError).status === 401) throw new Error("Wrong e-mail address or password.");
      throw e;
    }
    ctx.navigate(next());
  });
  em.focus();
  return () => {};
}

/** /signup */
export function signup(main: HTMLElement, ctx: Context): () => void {
  const em = email(), pw = password("new-password");
  const st = status();
  const form = h("form", { class: "card form", id: "signup-form" },
    field("E-mail", em), field("Password", pw, "At least 10 characters."),
    h("button", { type: "submit", class: "btn primary" }, "Create account"), st.el,
    h("p", {}, "Have an account? ", h("a", { href: "/signin" }, "Sign in")));
  main.replaceChildren(h("h1", {}, "Create an account"), form);
  onSubmit(form, st, async () => {
    const u = await api.signup(em.value.trim(), pw.value);
    if (u.email_verified === false) {
      main.replaceChildren(h("h1", {}, "Check your inbox"),
        h("p", { id: "signup-done" }, `We sent a link to ${u.email}. Open it to verify your address, then `,
          h("a", { href: "/signin" }, "sign in"), "."));
      return;
    }
    // no verification on this server: sign straight in
    await ctx.auth.login(em.value.trim(), pw.value);
    ctx.navigate("/account");
  });
  em.focus();
  return () => {};
}

/**
 * The token of a mailed link: in the fragment (/verify#token=…, which
 * browsers never send to a server), or the query.
 */
function linkToken(): string {
  return new URLSearchParams(location.hash.slice(1)).get("token") ?? new URLSearchParams(location.search).get("token") ?? "";
}

/** /verify#token=… (the link of the verification mail) */
export function verify(main: HTMLElement, ctx: Context): () => void {
  const token = linkToken();
  const msg = h("p", { id: "verify-status", "aria-live": "polite" }, "Verifying…");
  main.replaceChildren(h("h1", {}, "Verify your e-mail"), msg);
  if (!token) {
    setText(msg, "This link has no token. Open the link of the latest mail we sent.");
    return () => {};
  }
  api.verifyEmail(token).then(() => {
    msg.dataset.ok = "true";
    msg.replaceChildren("Your e-mail address is verified. ",
      ctx.auth.user ? h("a", { href: "/account" }, "Go to your account.") : h("a", { href: "/signin" }, "Sign in."));
    void ctx.auth.load();
  }).catch((e) => {
    msg.dataset.ok = "false";
    setText(msg, "This link does not work (" + (e as Error).message + "). It may be used or expired: sign in and ask for a new one.");
  });
  return () => {};
}

/** /reset: ask for a link; /reset-password#token=… (the mailed link): choose a new password. */
export function reset(main: HTMLElement, ctx: Context): () => void {
  const token = linkToken();
  const st = status();
  if (!token) {
    const em = email();
    const form = h("form", { class: "card form", id: "reset-form" }, field("E-mail", em),
      h("button", { type: "submit", class: "btn primary" }, "Send me a link"), st.el);
    main.replaceChildren(h("h1", {}, "Reset your password"), form);
    onSubmit(form, st, async () => {
      await api.requestPasswordReset(em.value.trim());
      st.ok("If an account has this address, a link to reset its password is on its way.");
    });
    return () => {};
  }
  const pw = password("new-password");
  const form = h("form", { class: "card form", id: "reset-confirm-form" }, field("New password", pw, "At least 10 characters."),
    h("button", { type: "submit", class: "btn primary" }, "Set password"), st.el);
  main.replaceChildren(h("h1", {}, "Choose a new password"), form);
  onSubmit(form, st, async () => {
    await api.resetPassword(token, pw.value);
    main.replaceChildren(h("h1", {}, "Password changed"), h("p", {}, "Your other sessions were signed out. ",
      h("a", { href: "/signin" }, "Sign in"), " with the new password."));
    void ctx.auth.load();
  });
  return () => {};
}

/** /account */
export function account(main: HTMLElement, ctx: Context): () => void {
  return signedIn(main, ctx, "Account", (m, u) => accountPage(m, ctx, u));
}

function accountPage(main: HTMLElement, ctx: Context, u: User): () => void {
  const abort = new AbortController();
  const keysBody = h("tbody", { id: "keys" });
  const keysEmpty = h("p", { class: "empty", hidden: true }, "No API keys yet.");
  const secretBox = h("div", { class: "card secret", id: "new-key", hidden: true });
  const name = input({ type: "text", name: "name", required: true, maxlength: 64, placeholder: "e.g. my feed" });
  const syms = input({ type: "text", name: "symbols", placeholder: "BTC-*, ETH-USD" });
  const st = status();
  const keyForm = h("form", { class: "inline-form", id: "key-form" },
    field("Name", name), field("Symbols (optional)", syms, "Patterns the key may post ticks for; empty: every symbol."),
    h("button", { type: "submit", class: "btn primary" }, "Create key"));
  const sessBody = h("tbody", { id: "sessions" });
  const sessSection = h("section", { class: "card", "aria-labelledby": "sess-h", hidden: true },
    h("h2", { id: "sess-h" }, "Sessions"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Signed in"), h("th", { scope: "col" }, "Expires"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      sessBody)));
  const signOut = button("Sign out", { id: "signout" });
  const verified = u.email_verified === undefined ? null
    : u.email_verified ? h("span", { class: "badge ok" }, "verified")
      : h("span", {}, h("span", { class: "badge warn" }, "not verified"), " ", resendButton());

  main.replaceChildren(
    h("h1", {}, "Account"),
    h("section", { class: "card", "aria-labelledby": "me-h" },
      h("h2", { id: "me-h" }, "You"),
      h("p", {}, h("span", { id: "me-email" }, u.email), " ", verified, " · member since ", dateTime(u.created_at)),
      signOut),
    h("section", { class: "card", "aria-labelledby": "keys-h" },
      h("h2", { id: "keys-h" }, "API keys"),
      h("p", { class: "muted" }, "Programs post ticks with a key: ", h("code", {}, "Authorization: Bearer <key>"), "."),
      keyForm, st.el, secretBox,
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Key"),
          h("th", { scope: "col" }, "Symbols"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Last used"),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
        keysBody)),
      keysEmpty),
    sessSection,
  );

  function resendButton(): HTMLButtonElement {
    const b = button("Send the link again", { id: "resend" });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api.resendVerification(u.email);
        ctx.notify("A new verification link is on its way.");
      } catch (e) {
        ctx.notify("Cannot send the link: " + (e as Error).message);
        b.disabled = false;
      }
    });
    return b;
  }

  function keyRow(k: APIKey): HTMLTableRowElement {
    const revoke = button("Revoke", { "aria-label": `Revoke the key ${k.name}` });
    revoke.addEventListener("click", async () => {
      if (!confirm(`Revoke the key “${k.name}”? Programs using it stop working at once.`)) return;
      try {
        await api.revokeAPIKey(k.id);
        ctx.notify(`Key “${k.name}” revoked.`);
        await loadKeys();
      } catch (e) {
        ctx.notify("Cannot revoke: " + (e as Error).message);
      }
    });
    return h("tr", { "data-key-id": String(k.id) },
      h("td", {}, k.name), h("td", {}, h("code", {}, k.prefix + "…")),
      h("td", {}, k.symbols.length ? k.symbols.join(", ") : h("span", { class: "muted" }, "all")),
      h("td", {}, dateTime(k.created_at)), h("td", {}, dateTime(k.last_used_at)), h("td", {}, revoke));
  }

  async function loadKeys(): Promise<void> {
    const ks = await api.apiKeys(abort.signal);
    keysBody.replaceChildren(...ks.map(keyRow));
    keysEmpty.hidden = ks.length > 0;
  }

  onSubmit(keyForm, st, async () => {
    const patterns = syms.value.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
    const k = await api.createAPIKey(name.value.trim(), patterns);
    const code = h("code", { id: "new-key-secret" }, k.secret ?? "");
    const copy = button("Copy");
    copy.addEventListener("click", () => {
      void navigator.clipboard?.writeText(k.secret ?? "").then(() => ctx.notify("Key copied."),
        () => ctx.notify("Copy it by hand: the clipboard is not available."));
    });
    const done = button("I stored it");
    done.addEventListener("click", () => {
      secretBox.hidden = true;
      secretBox.replaceChildren();
    });
    secretBox.replaceChildren(h("p", {}, h("strong", {}, `Your new key “${k.name}”. `),
      "It is shown only now: store it somewhere safe."), h("p", { class: "secret-line" }, code, " ", copy), done);
    secretBox.hidden = false;
    keyForm.reset();
    await loadKeys();
    done.focus();
  });

  function sessRow(s: Session): HTMLTableRowElement {
    const cell = s.current ? h("span", { class: "badge ok" }, "this browser") : (() => {
      const b = button("Sign out", { "aria-label": "Sign out this session" });
      b.addEventListener("click", async () => {
        try {
          await api.revokeSession(s.id);
          await loadSessions();
        } catch (e) {
          ctx.notify("Cannot sign it out: " + (e as Error).message);
        }
      });
      return b;
    })();
    return h("tr", { "data-session-id": s.id }, h("td", {}, dateTime(s.created_at)), h("td", {}, dateTime(s.expires_at)),
      h("td", {}, cell));
  }

  async function loadSessions(): Promise<void> {
    try {
      const ss = await api.sessions(abort.signal);
      sessBody.replaceChildren(...ss.map(sessRow));
      sessSection.hidden = false;
    } catch (e) {
      if ((e as api.APIError).status !== 404) throw e; // this server lists no sessions
    }
  }

  signOut.addEventListener("click", async () => {
    await ctx.auth.logout().catch(() => {});
    ctx.navigate("/");
  });

  loadKeys().catch((e) => (e as Error).name !== "AbortError" && st.error("Cannot load the keys: " + (e as Error).message));
  loadSessions().catch(() => {});
  return () => abort.abort();
}
