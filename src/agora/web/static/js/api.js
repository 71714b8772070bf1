// The REST client: bearer token, JSON errors as ApiError, an Idempotency-Key on every POST,
// and a client-side pace well under the server's per-user rate limit (429 is retried once).

const MAX_PER_SECOND = 20;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || "http_" + status;
    this.rule = body?.rule || null;
  }
}

export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain http off loopback
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  constructor(token, { onUnauthorized } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized || (() => {});
    this.sent = []; // start times of the last second's requests
  }

  get headers() {
    return { Authorization: `Bearer ${this.token}` };
  }

  async pace() {
    for (;;) {
      const now = performance.now();
      this.sent = this.sent.filter((at) => now - at < 1000);
      if (this.sent.length < MAX_PER_SECOND) {
        this.sent.push(now);
        return;
      }
      await sleep(1000 - (now - this.sent[0]) + 5);
    }
  }

  async request(method, path, body, { retried = false } = {}) {
    await this.pace();
    const headers = { ...this.headers, Accept: "application/json" };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method === "POST") headers["Idempotency-Key"] = newKey();
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text.slice(0, 200) };
    }
    if (response.ok) return data;
    if (response.status === 429 && !retried) {
      const seconds = Number(response.headers.get("Retry-After")) || 1;
      await sleep(seconds * 1000);
      return this.request(method, path, body, { retried: true });
    }
    const error = new ApiError(response.status, data);
    if (response.status === 401) this.onUnauthorized(error);
    throw error;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  put(path, body) {
    return this.request("PUT", path, body);
  }

  patch(path, body) {
    return this.request("PATCH", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}
