// The live stream (GET /api/events): EventSource cannot send headers, so each connection
// uses a fresh short-lived stream token (POST /api/events/token). On any drop it reconnects
// with ?last_event_id= (what it saw last), so nothing is missed, even across a gateway
// restart; a `resync` frame means the gap was too old: the page re-reads its state.
import { api } from "./api.js";

const TYPES = [
  "generation.status", "generation.progress", "generation.completed", "generation.failed",
  "generation.cancelled", "generation.deleted", "notification.created", "generation.queued",
];

export class LiveEvents {
  constructor({ onEvent, onResync, onState, onPreview }) {
    Object.assign(this, { onEvent, onResync, onState, onPreview });
    this.lastId = null;
    this.source = null;
    this.delay = 500;
    this.stopped = false;
    this.firstReady = null;
    this.ready = new Promise((resolve) => { this.firstReady = resolve; });
  }

  async connect() {
    if (this.stopped) return;
    this.onState("connecting");
    let url;
    try {
      ({ url } = await api("/api/events/token", { method: "POST" }));
    } catch (err) {
      if (err.status === 401) return; // signed out
      return this.retry();
    }
    if (this.lastId !== null) url += `&last_event_id=${this.lastId}`;
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener("ready", (e) => {
      this.lastId ??= JSON.parse(e.data).last_event_id;
      this.delay = 500;
      this.onState("live");
      this.firstReady();
    });
    source.addEventListener("resync", () => this.onResync());
    // A running job's live preview: no id (never replayed), so lastId stays.
    source.addEventListener("preview", (e) => this.onPreview?.(JSON.parse(e.data)));
    for (const type of TYPES) {
      source.addEventListener(type, (e) => {
        this.lastId = Number(e.lastEventId);
        this.onEvent(type, JSON.parse(e.data));
      });
    }
    // The browser would reconnect with the same (soon expired) stream token: do it ourselves.
    source.onerror = () => {
      source.close();
      if (this.source === source) this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    this.onState("reconnecting");
    setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 8000);
  }

  close() {
    this.stopped = true;
    this.source?.close();
  }
}
