// Sorami's web app: sign in, generate, watch it happen, browse the gallery.
import { currentUser, devSignIn, getToken, setToken, signOut } from "./auth.js";
import { $, showError } from "./dom.js";
import { LiveEvents } from "./events.js";
import { addJob, onGenerationEvent, onPreview, reloadGallery, setUpGallery } from "./gallery.js";
import { setUpDetail } from "./detail.js";
import { setUpForm } from "./generate.js";
import { onNotification, reloadNotifications, setUpNotifications } from "./notifications.js";

const CONNECTION = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };
let live = null;

function show(view) {
  $("#signin-view").hidden = view !== "signin";
  $("#app-view").hidden = view !== "app";
  $("#account").hidden = view !== "app";
}

async function reread() {
  await Promise.all([reloadGallery(), reloadNotifications()]);
}

async function start() {
  show("app");
  $("#user-name").textContent = (await currentUser()) ?? "";
  live = new LiveEvents({
    onEvent: (type, data) => (type === "notification.created" ? onNotification(data) : onGenerationEvent(type, data)),
    onResync: () => reread().catch((e) => showError(e.message)),
    onPreview,
    onState: (state) => {
      const el = $("#connection");
      el.textContent = CONNECTION[state];
      el.dataset.state = state;
    },
  });
  live.connect();
  await live.ready; // the stream's position first, then the state: nothing falls in between
  await setUpForm({ onCreated: addJob }); // the models first: which cards can Animate
  await reread();
  document.body.dataset.ready = "true";
}

function signInView(message = "") {
  live?.close();
  show("signin");
  $("#signin-error").textContent = message;
  $("#signin-user").focus();
}

async function onSignIn(event) {
  event.preventDefault();
  const token = $("#signin-token").value.trim();
  try {
    if (token) setToken(token);
    else await devSignIn($("#signin-user").value.trim());
    location.reload(); // a clean page for the new user
  } catch (err) {
    $("#signin-error").textContent = err.message;
  }
}

function boot() {
  setUpDetail();
  setUpGallery();
  setUpNotifications();
  $("#signin").addEventListener("submit", onSignIn);
  $("#sign-out").addEventListener("click", () => { signOut(); location.reload(); });
  window.addEventListener("sorami:unauthorized", () => {
    signOut();
    signInView("Your session has ended; sign in again.");
  });
  if (!getToken()) return signInView();
  start().catch((err) => showError(`Sorami could not start: ${err.message}`));
}

boot();
