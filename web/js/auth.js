// The bearer token: in memory and sessionStorage (this tab only), never in a URL.
// A production frontend replaces the development sign-in with its identity provider:
//   setTokenProvider(() => clerk.session.getToken())   // or Auth0's getTokenSilently()
const KEY = "sorami.token";
let provider = null;

export function getToken() {
  return provider ? provider() : sessionStorage.getItem(KEY);
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function setTokenProvider(fn) {
  provider = fn;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

// The user id (the JWT's `sub`), for display only: the gateway verifies the token.
export async function currentUser() {
  const token = await getToken();
  if (!token) return null;
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub ?? null;
  } catch {
    return null;
  }
}

// Development only: POST /api/dev/token (the gateway refuses it elsewhere, 403).
export async function devSignIn(user) {
  const response = await fetch("/api/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail[0]?.msg : body.detail;
    throw new Error(detail || `sign-in failed (${response.status})`);
  }
  setToken(body.access_token);
}
