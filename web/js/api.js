// fetch() with the bearer token and readable errors.
import { getToken } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message, { fields = {}, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.fields = fields; // {width: "Input should be a multiple of 8"} for a 422
    this.retryAfter = retryAfter;
  }
}

function explain(status, body) {
  const detail = body?.detail;
  if (status === 422 && Array.isArray(detail)) {
    const fields = {};
    for (const e of detail) fields[e.loc?.[e.loc.length - 1] ?? "body"] ??= e.msg;
    return { message: "Some fields need a fix", fields };
  }
  if (typeof detail === "string") return { message: detail };
  if (status >= 500) return { message: "Sorami is having trouble right now; try again shortly" };
  return { message: `Request failed (${status})` };
}

export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const token = await getToken();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, "Cannot reach Sorami; check your connection");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("sorami:unauthorized"));
  }
  const { message, fields } = explain(response.status, data);
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  throw new ApiError(response.status, message, { fields, retryAfter });
}
