// Tidewatch's window: wires the backend state to the header, the list, the detail panel and settings.
import { call, on } from "./api.js";
import { $, el } from "./dom.js";
import { plural } from "./format.js";
import { Header } from "./header.js";
import { ContainerList } from "./list.js";
import { DetailPanel } from "./detail.js";
import { banners, emptyState, noMatches } from "./notices.js";
import { Settings } from "./settings.js";
import { LoginDialog } from "./login.js";
import { UpdateFlow } from "./updates.js";

let state = null;
let bannerKey = null;
let pendingFocus = null; // a container id from focus-container, waiting for its row

const actions = {
  checkNow: () => run(call("check_now")),
  setPaused: (paused) => run(call("set_paused", { paused })),
  openSettings: (section, prefill) => showSettings(section, prefill),
  openReleaseNotes: (url) => call("open_release_notes", { url }),
  logIn: (registry) => login.open(registry),
  update: (c) => updates.update(c.engine, c.id, c.name),
  rollBack: (c) => updates.rollBack(c),
};
const updates = new UpdateFlow(render, showCommandError);

const header = new Header(actions);
const list = new ContainerList($("containers"), openDetail);
const detail = new DetailPanel(actions);
const settings = new Settings();
// After a login the backend checks again by itself; the banner says so until that check is done.
const login = new LoginDialog((saved, registry) => {
  settings.apply(saved);
  loggedIn = registry;
  render(state);
});
let loggedIn = null;

const search = $("search");
const filters = { status: $("filter-status"), engine: $("filter-engine"), kind: $("filter-kind") };

/** Commands that return AppState render it at once; failures show as a banner. */
async function run(promise) {
  try {
    render(await promise);
  } catch (error) {
    showCommandError(error);
  }
}

function showCommandError(error) {
  const b = el("div", { className: "banner error", role: "alert" }, el("div", { className: "banner-text" }, el("strong", {}, "That did not work. "), error.message));
  const close = el("button", { type: "button", className: "button small" }, "Dismiss");
  close.addEventListener("click", () => b.remove());
  b.append(close);
  $("banners").prepend(b);
}

/**
 * The window is created hidden each time it opens (closing it releases the web view) and shown
 * once the page has laid out the backend's state, so no blank or stale page is ever seen. Told
 * again the first time rows are listed (the app logs both moments; the benchmark reads them).
 */
let reportedRows = null;
function reportRendered() {
  const rows = state?.report?.containers?.length ?? 0;
  if (reportedRows !== null && (reportedRows > 0 || rows === 0)) return;
  reportedRows = rows;
  void document.body.offsetHeight; // lay out now: a hidden window does not paint until shown
  call("window_ready", { rows }).catch(() => {});
}

function render(next) {
  if (!next) return;
  state = next;
  header.render(state);
  // Progress ticks arrive many times a second: rebuild banners only when what they say changes,
  // so a focused banner button is not replaced under the keyboard and alerts are not re-announced.
  const rebuilt = list.setReport(state.report);
  // A check after the login has finished: its result speaks for itself.
  if (loggedIn && state.phase !== "checking" && rebuilt) loggedIn = null;
  const active = rebuilt ? [] : list.updateActivity(state.report);
  const key = `${state.phase}|${JSON.stringify(state.error)}|${JSON.stringify(state.recovered)}|${list.signature}|${loggedIn}`;
  if (key !== bannerKey || rebuilt) {
    bannerKey = key;
    $("banners").replaceChildren(...banners(state, actions, loggedIn));
  }
  if (rebuilt) {
    fillEngineFilter(state.report);
    if (detail.isOpen) {
      // An update recreates the container under a new ID: the panel follows it by name.
      const id = list.container(detail.id) ? detail.id : list.idOf(detail.container?.engine, detail.container?.name);
      if (id) detail.id = id;
      detail.refresh(list.container(id), list.row(id));
    }
  } else if (detail.isOpen && active.includes(detail.id)) {
    detail.refresh(list.container(detail.id), list.row(detail.id));
  }
  applyFilters();
  if (rebuilt && pendingFocus) focusContainer(pendingFocus);
  reportRendered();
}

function fillEngineFilter(report) {
  const current = filters.engine.value;
  const names = [...new Set((report?.containers ?? []).map((c) => c.engine ?? ""))].sort();
  filters.engine.replaceChildren(
    el("option", { value: "" }, "All"),
    names.map((n) => el("option", { value: n }, n || "Images")),
  );
  filters.engine.value = names.includes(current) ? current : "";
  filters.engine.disabled = names.length < 2;
}

function applyFilters() {
  const table = $("containers");
  const emptyBox = $("empty");
  const blank = state ? emptyState(state, actions) : null;
  $("toolbar").hidden = !!blank;
  if (blank) {
    table.hidden = true;
    // Same reason as the banners: keep the node (and focus) while the message is unchanged.
    if (emptyBox.hidden || emptyBox.textContent !== blank.textContent) emptyBox.replaceChildren(blank);
    emptyBox.hidden = false;
    $("summary").textContent = "";
    return;
  }
  const visible = list.filter({
    query: search.value,
    status: filters.status.value,
    engine: filters.engine.value,
    kind: filters.kind.value,
  });
  table.hidden = visible === 0;
  emptyBox.hidden = visible !== 0;
  if (visible === 0 && !emptyBox.querySelector(".no-matches")) emptyBox.replaceChildren(noMatches(clearFilters));
  $("summary").textContent = summary(state.report, visible);
  const updatable = list.updatable();
  const all = $("update-all");
  all.hidden = updatable.length < 2;
  all.textContent = `Update all (${updatable.length})`;
}

$("update-all").addEventListener("click", () => updates.updateAll(list.updatable()));

function summary(report, visible) {
  const s = report.summary ?? {};
  const total = s.containers ?? report.containers.length;
  const services = report.containers.filter((c) => c.kind === "service").length;
  const parts = [plural(total - services, "container")];
  if (services) parts.push(plural(services, "service"));
  parts.push(plural(s.updates ?? 0, "update"));
  if (s.errors) parts.push(plural(s.errors, "error"));
  if (visible !== total) parts.unshift(`showing ${visible} of`);
  return parts.join(" · ").replace("of · ", "of ");
}

function clearFilters() {
  search.value = "";
  for (const f of Object.values(filters)) f.value = "";
  applyFilters();
  search.focus();
}

function openDetail(id) {
  const c = list.container(id);
  if (c) detail.open(c, list.row(id));
}

// Typing in the search box refilters at most once per frame.
let pending = 0;
search.addEventListener("input", () => {
  cancelAnimationFrame(pending);
  pending = requestAnimationFrame(applyFilters);
});
for (const f of Object.values(filters)) f.addEventListener("change", applyFilters);

document.addEventListener("keydown", (e) => {
  // Escape in the confirmation closes only the confirmation (the dialog does that itself).
  if (e.key !== "Escape" || e.defaultPrevented || $("confirm").open) return;
  if (detail.isOpen) detail.close();
  else if (!$("settings-view").hidden && !e.target.closest?.("input, select")) showList();
  else if (e.target === search && search.value) clearFilters();
});

function showSettings(section, prefill) {
  detail.close();
  $("list-view").hidden = true;
  $("settings-view").hidden = false;
  $("open-settings").setAttribute("aria-pressed", "true");
  settings.open(section, prefill);
}

function showList() {
  $("settings-view").hidden = true;
  $("list-view").hidden = false;
  $("open-settings").setAttribute("aria-pressed", "false");
  $("open-settings").focus();
}

$("open-settings").addEventListener("click", () => ($("settings-view").hidden ? showSettings() : showList()));
$("close-settings").addEventListener("click", showList);

on("state-changed", render);
// From a notification click: show that container even when filters would hide it. The window may
// be opening just now, before any report is here; then the focus waits for the next rebuild.
function focusContainer(id) {
  showList();
  if (list.row(id)?.hidden) clearFilters();
  const row = list.row(id);
  pendingFocus = row ? null : id;
  if (!row) return;
  list.focus(row);
  list.open(row);
}
on("focus-container", ({ id }) => focusContainer(id));
// From a notification's "Update": the same confirmation as the detail panel's button.
function confirmUpdate({ engine, id }) {
  focusContainer(id);
  updates.update(engine, id, list.container(id)?.name);
}
on("confirm-update", confirmUpdate);
// From the tray's "N updates available".
function showUpdates() {
  showList();
  search.value = "";
  filters.engine.value = "";
  filters.kind.value = "";
  filters.status.value = "update_available";
  applyFilters();
}
on("show-updates", showUpdates);

/** What the window was opened for (a notification, the tray's updates item), set by the shell. */
function applyIntent() {
  const intent = window.__TIDEWATCH_INTENT__;
  window.__TIDEWATCH_INTENT__ = null;
  if (intent?.kind === "show_updates") showUpdates();
  else if (intent?.kind === "focus_container") focusContainer(intent.id);
  else if (intent?.kind === "confirm_update") confirmUpdate(intent);
}

/**
 * First paint. A state-changed event may beat get_state's answer; the event is newer, so an
 * answer arriving after it is dropped.
 */
async function start() {
  try {
    const initial = await call("get_state");
    if (!state) render(initial);
    applyIntent();
  } catch (error) {
    $("engine-status").textContent = "Not connected";
    const retry = el("button", { type: "button", className: "button primary" }, "Try again");
    retry.addEventListener("click", start);
    $("toolbar").hidden = true;
    $("empty").replaceChildren(
      el("div", { className: "empty-inner" }, el("h3", {}, "Tidewatch could not load its state"), el("p", {}, error.message), retry),
    );
    $("empty").hidden = false;
    reportRendered();
  }
}

start();
