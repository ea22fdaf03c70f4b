// Banners above the list and the empty states inside it: each says what happened and what to do.
import { el } from "./dom.js";
import { plural } from "./format.js";

// Recovery happens once, at start: once read, its banner stays away.
let dismissedRecovery = false;

/**
 * @param {object} state AppState
 * @param {{checkNow, setPaused, openSettings, logIn}} actions
 * @param {string|null} loggedIn a registry just logged in to, while the check it started runs
 * @returns {HTMLElement[]} banners to show above the list
 */
export function banners(state, actions, loggedIn = null) {
  const out = [];
  const report = state.report;

  if (loggedIn) {
    out.push(banner("info", `Logged in to ${loggedIn}.`, "Checking your containers again with the new login…"));
  }

  if (state.phase === "offline") {
    out.push(banner("warn", "You are offline.", "Checks resume by themselves when the network is back."));
  }
  if (state.phase === "paused") {
    out.push(banner("info", "Checks are paused.", "No scheduled checks run until you resume.", {
      buttons: [button("Resume checks", () => actions.setPaused(false))],
    }));
  }
  if (state.error) {
    const buttons = [];
    if (state.error.code?.startsWith("config")) {
      buttons.push(button("Open Settings", () => actions.openSettings("settings-title")));
    }
    out.push(banner("error", "The last check failed.", state.error.message, { buttons }));
  }
  if (state.recovered?.length && !dismissedRecovery) {
    const pending = state.recovered.some((r) => r.outcome === "pending");
    const b = banner(
      pending ? "warn" : "info",
      "Tidewatch settled updates an earlier run left unfinished.",
      pending ? "Some wait until their engine answers again; nothing is lost." : "Your containers run as before.",
      {
        details: [el("ul", { className: "engine-errors", dataset: { testid: "recovered" } }, state.recovered.map((r) => el("li", {}, r.message)))],
        buttons: [button("Dismiss", () => {
          dismissedRecovery = true;
          b.remove();
        })],
      },
    );
    out.push(b);
  }
  if (!report) return out;

  const down = report.engines.filter((e) => e.status === "unreachable" || e.status === "error");
  // Its containers are listed, its Swarm services are not.
  const partial = report.engines.filter((e) => e.status === "partial");
  // All engines down is an empty state (below), not a banner.
  if (down.length && down.length < report.engines.length) {
    out.push(banner("warn", `${plural(down.length, "engine")} did not answer.`, "Their containers are not listed.", {
      details: [engineErrors(down)],
      buttons: [button("Check Settings → Engines", () => actions.openSettings("set-engines"))],
    }));
  }
  if (partial.length) {
    out.push(banner("warn", `${plural(partial.length, "engine")} answered only in part.`, "Their containers are listed; their Swarm services could not be.", {
      details: [engineErrors(partial)],
    }));
  }

  // Checks that failed for want of a login: one banner per registry, with the action right there.
  const needLogin = new Map();
  for (const c of report.containers) {
    const action = c.problem?.action;
    if (action?.kind !== "login") continue;
    if (!needLogin.has(action.registry)) needLogin.set(action.registry, []);
    needLogin.get(action.registry).push(c);
  }
  for (const [registry, containers] of needLogin) {
    if (registry === loggedIn) continue;
    out.push(banner(
      "error",
      `Registry ${registry} needs a login.`,
      `${plural(containers.length, "container")} could not be checked: ${containers[0].problem.message}.`,
      { buttons: [button("Log in…", () => actions.logIn(registry), "", { testid: "banner-login" })] },
    ));
  }
  return out;
}

/** The empty state for the list area, or null when there are rows to show. */
export function emptyState(state, actions) {
  const report = state.report;
  if (!report) {
    if (state.phase === "checking") {
      return empty("Checking your containers…", "This first check reads every container on your engines and asks their registries for newer versions.");
    }
    return empty(
      "No check yet",
      "Tidewatch has not looked at your containers yet. Run your first check now; after that it checks on its schedule.",
      button("Run your first check", actions.checkNow, "primary"),
    );
  }
  const engines = report.engines ?? [];
  if (engines.length && engines.every((e) => e.status === "unreachable" || e.status === "error")) {
    return empty(
      engines.length === 1 ? "The engine is not reachable" : "No engine is reachable",
      "Make sure Docker is running and that Tidewatch can reach it, or fix the engine address in Settings.",
      engineErrors(engines),
      el("div", { className: "actions" },
        button("Open Settings → Engines", () => actions.openSettings("set-engines"), "primary"),
        button("Try again", actions.checkNow)),
    );
  }
  if (report.containers.length === 0) {
    return empty(
      "No containers yet",
      "None of your engines runs a container. Start one and Tidewatch checks it automatically, or check again now.",
      button("Check now", actions.checkNow),
    );
  }
  return null;
}

export function noMatches(clear) {
  const node = empty("No containers match", "Nothing matches the search and filters.", button("Clear search and filters", clear));
  node.classList.add("no-matches");
  return node;
}

function engineErrors(engines) {
  return el(
    "ul",
    { className: "engine-errors" },
    engines.map((e) => el("li", {}, el("strong", {}, e.name), e.endpoint ? el("span", { className: "mono muted" }, ` ${e.endpoint}`) : null, `: ${e.error ?? "unreachable"}`)),
  );
}

/** A banner: title and text on the left, with optional details under them; buttons on the right. */
function banner(kind, title, text, { details = [], buttons = [] } = {}) {
  return el(
    "div",
    { className: `banner ${kind}`, role: kind === "error" ? "alert" : "status" },
    el("div", { className: "banner-text" }, el("strong", {}, title), " ", text, details),
    buttons,
  );
}

function empty(title, text, ...extra) {
  return el("div", { className: "empty-inner" }, el("h3", {}, title), el("p", {}, text), ...extra);
}

function button(label, onClick, variant = "", dataset = undefined) {
  const b = el("button", { type: "button", className: `button ${variant}`.trim(), dataset }, label);
  b.addEventListener("click", onClick);
  return b;
}
