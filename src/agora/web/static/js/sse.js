// Server-Sent Events read with fetch(), so the bearer token goes in the Authorization header
// (EventSource cannot send headers, and a token in a URL ends up in logs and history).
// Reconnects with backoff; resumes with Last-Event-ID when the stream numbers its events.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function parseBlock(block) {
  const message = { event: "message", data: "", id: null };
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") message.event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") message.id = value;
  }
  message.data = data.join("\n");
  return data.length ? message : null;
}

export class EventStream {
  // ``onMessage({event, data, id})``; ``onState("live" | "connecting" | "down")``;
  // ``onOpen(resumed)`` after each (re)connection, resumed when Last-Event-ID was sent.
  constructor(path, token, { onMessage, onState = () => {}, onOpen = () => {}, onUnauthorized = () => {} }) {
    Object.assign(this, { path, token, onMessage, onState, onOpen, onUnauthorized });
    this.lastEventId = null;
    this.closed = false;
    this.controller = null;
  }

  start() {
    this.run();
    return this;
  }

  close() {
    this.closed = true;
    this.controller?.abort();
  }

  async run() {
    let delay = 500;
    while (!this.closed) {
      this.onState("connecting");
      try {
        const status = await this.connect();
        if (status === 401) {
          this.onState("down");
          this.onUnauthorized();
          return;
        }
        delay = 500;
      } catch (error) {
        if (this.closed) return;
      }
      if (this.closed) return;
      this.onState("down");
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  async connect() {
    this.controller = new AbortController();
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" };
    const resumed = this.lastEventId !== null;
    if (resumed) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(this.path, { headers, signal: this.controller.signal, cache: "no-store" });
    if (!response.ok || !response.body) {
      await response.text().catch(() => "");
      return response.status;
    }
    this.onState("live");
    this.onOpen(resumed);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return response.status;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const message = parseBlock(block);
        if (!message) continue;
        if (message.id !== null) this.lastEventId = message.id;
        if (message.event === "overflow") {
          this.controller.abort(); // too slow: reconnect and resume
          return response.status;
        }
        this.onMessage(message);
      }
    }
  }
}
