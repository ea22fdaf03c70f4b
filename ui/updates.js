// Applying updates from the window: the confirmation (what changes, what is recreated, the
// downtime), starting an update, a rollback or "Update all", and the words for an update's
// progress and result. What runs, what ended and what may be rolled back come from the backend.
import { call } from "./api.js";
import { el, $ } from "./dom.js";
import { KIND_LABEL, containerTitle, plural } from "./format.js";

const MB = 1024 * 1024;

function size(bytes) {
  if (!bytes) return "0 MB";
  return bytes < MB ? `${Math.max(1, Math.round(bytes / 1024))} kB` : `${(bytes / MB).toFixed(1)} MB`;
}

/** One line for an update's current step (the row and the detail panel show it). */
export function progressText(activity) {
  const p = activity?.progress;
  const rollback = activity?.running === "rollback";
  if (!p) return rollback ? "Rolling back…" : "Starting the update…";
  switch (p.phase) {
    case "queued": return "Queued: waiting for another update on this engine";
    case "checking": return "Checking for the newest version…";
    case "pulling": {
      const layers = p.layers_total ? ` · ${p.layers_done} of ${p.layers_total} layers` : "";
      const bytes = p.bytes_total ? ` · ${size(p.bytes_done)} of ${size(p.bytes_total)}` : "";
      return `Pulling ${p.reference}${layers}${bytes}`;
    }
    case "stopping": return `Stopping ${p.container}…`;
    case "recreating": return `Recreating ${p.container}…`;
    case "starting": return `Starting ${p.container}…`;
    case "waiting_healthy": {
      const waited = `${Math.round(p.elapsed_ms / 1000)} s of ${Math.round(p.timeout_ms / 1000)} s`;
      return p.health ? `Waiting until healthy (${p.health}, ${waited})` : `Making sure it keeps running (${waited})`;
    }
    case "compose": return `Running ${p.command}`;
    case "rolling_back": return `Rolling back: ${p.reason}`;
    case "removing_old": return `Removing the old ${p.container}…`;
    default: return "Updating…";
  }
}

/** One line for how the last update or rollback ended. */
export function outcomeText(outcome) {
  if (!outcome) return "";
  const why = outcome.error?.message ? `: ${outcome.error.message}` : "";
  const rollback = outcome.action === "rollback";
  switch (outcome.status) {
    case "updated": return rollback ? `Rolled back to ${outcome.image_after}` : `Updated to ${outcome.image_after}`;
    case "unchanged": return `Nothing to change${why}`;
    case "rolled_back": return `${rollback ? "Rollback" : "Update"} undone, runs as before${why}`;
    case "refused": return `Not ${rollback ? "rolled back" : "updated"}${why}`;
    case "failed": return `${rollback ? "Rollback" : "Update"} failed, nothing changed${why}`;
    case "interrupted": return `Interrupted${why}`;
    default: return outcome.status;
  }
}

/** What the row shows under the name: the running step, or the last result. */
export function activityLine(c) {
  const a = c.activity;
  if (!a) return null;
  if (a.running) return el("span", { className: "sub update-activity running", dataset: { testid: "update-activity" } }, progressText(a));
  if (!a.outcome) return null;
  const good = a.outcome.status === "updated" || a.outcome.status === "unchanged";
  return el("span", { className: `sub update-activity ${good ? "done" : "error-text"}`, dataset: { testid: "update-activity" } }, outcomeText(a.outcome));
}

function planSummary(plan) {
  const kind = KIND_LABEL[plan.target.kind] ?? plan.target.kind;
  const parts = [
    el("p", { className: "confirm-change" },
      el("code", {}, plan.current_version), " → ", el("code", { className: "new-tag" }, plan.target.version),
      " ", el("span", { className: `kind k-${plan.target.kind}` }, `${kind} update`)),
    el("p", { className: "muted mono" }, `${plan.image} → ${plan.target.reference}`),
  ];
  if (plan.target.mirror) parts.push(el("p", {}, "Pulled through the mirror ", el("code", {}, plan.target.mirror), ", as it was."));
  if (plan.method === "compose") {
    const edit = plan.compose?.edit;
    parts.push(el("p", {}, `Compose service ${plan.compose?.service?.service ?? ""}: recreated by the compose CLI.`));
    if (edit) {
      parts.push(el("p", {}, "Its compose file changes in place (a copy is kept beside it): ",
        el("code", {}, `${edit.file}:${edit.line}`), " ", el("code", {}, edit.old_value), " → ", el("code", {}, edit.new_value)));
    }
  } else {
    parts.push(el("p", {}, `${plan.container} is recreated with the same configuration (networks, volumes, ports, environment); the old container is kept until the new one has proved itself, then removed (never its volumes).`));
  }
  if (plan.dependents.length) {
    parts.push(el("p", {}, "Also recreated (they share its network): ", plan.dependents.join(", "), "."));
  }
  const d = plan.downtime;
  const gate = d.healthcheck
    ? `then up to ${d.health_gate_s} s until its healthcheck passes`
    : `then ${d.health_gate_s} s of steady running`;
  parts.push(el("p", { className: "confirm-downtime" },
    `Downtime: from the stop (up to ${d.stop_timeout_s} s) until the new container starts; ${gate}. If it fails, the old container comes back as it was.`));
  return el("div", { className: "confirm-plan", dataset: { testid: "update-plan" } }, parts);
}

export class UpdateFlow {
  /** @param {(state: object) => void} render  @param {(error: object) => void} showError */
  constructor(render, showError) {
    this.render = render;
    this.showError = showError;
    this.dialog = $("confirm");
    this.title = $("confirm-title");
    this.body = $("confirm-body");
    this.ok = $("confirm-ok");
    this.onConfirm = null;
    $("confirm-cancel").addEventListener("click", () => this.dialog.close());
    this.ok.addEventListener("click", async () => {
      const action = this.onConfirm;
      this.onConfirm = null;
      this.dialog.close();
      if (action) await action();
    });
  }

  show(title, body, okLabel, onConfirm) {
    this.title.textContent = title;
    this.body.replaceChildren(...body);
    this.ok.textContent = okLabel;
    this.ok.disabled = !onConfirm;
    this.ok.hidden = !onConfirm;
    this.onConfirm = onConfirm;
    if (!this.dialog.open) {
      this.dialog.showModal();
      this.opened = {};
    }
    (onConfirm ? this.ok : $("confirm-cancel")).focus();
    return this.opened;
  }

  /** Whether the confirmation opened by `show` is still the one on screen (not cancelled since). */
  stillOpen(opened) {
    return this.dialog.open && this.opened === opened;
  }

  /** Plans the update of one container and asks; on yes, starts it. */
  async update(engine, id, name) {
    const opened = this.show(`Update ${name ?? "container"}?`, [el("p", { className: "muted" }, "Preparing the update…")], "Update", null);
    let plan;
    try {
      plan = await call("plan_update", { engine, container: id });
    } catch (error) {
      if (!this.stillOpen(opened)) return;
      this.show(`${name ?? "The container"} cannot be updated`, [el("p", { className: "alert error", dataset: { testid: "update-refused" } }, error.message)], "Update", null);
      return;
    }
    if (!this.stillOpen(opened)) return; // cancelled while it was being prepared
    this.show(`Update ${plan.container}?`, [planSummary(plan)], "Update", () => this.start(plan));
  }

  async start(plan) {
    try {
      this.render(await call("start_update", { engine: plan.engine, container: plan.container_id }));
    } catch (error) {
      this.showError(error);
    }
  }

  async rollBack(c) {
    const last = c.activity?.outcome;
    const text = last && last.action === "update" && last.status === "updated"
      ? `${c.name} goes back to ${last.image_before}, through the same health gate; what you set is kept.`
      : `${c.name} goes back to the image it ran before Tidewatch's last update, through the same health gate; what you set is kept.`;
    this.show(`Roll back ${c.name}?`, [el("p", {}, text)], "Roll back", async () => {
      try {
        this.render(await call("roll_back", { engine: c.engine, container: c.id }));
      } catch (error) {
        this.showError(error);
      }
    });
  }

  /** Plans every container given (the visible rows with an update) and asks once for them all. */
  async updateAll(containers) {
    const title = `Update ${plural(containers.length, "container")}?`;
    const opened = this.show(title, [el("p", { className: "muted" }, "Preparing the updates…")], "Update all", null);
    const plans = [];
    const refused = [];
    for (const c of containers) {
      try {
        plans.push(await call("plan_update", { engine: c.engine, container: c.id }));
      } catch (error) {
        refused.push(el("li", {}, el("strong", {}, containerTitle(c)), `: ${error.message}`));
      }
    }
    if (!this.stillOpen(opened)) return; // cancelled while they were being prepared
    const body = plans.map((plan) => el("section", { className: "confirm-item" }, el("h3", {}, plan.container), planSummary(plan)));
    if (refused.length) body.push(el("div", { className: "alert error" }, el("p", {}, "Not updated:"), el("ul", {}, refused)));
    body.push(el("p", { className: "muted" }, "One update runs at a time on each engine; the others wait their turn."));
    const startAll = async () => {
      for (const plan of plans) await this.start(plan);
    };
    this.show(plans.length ? `Update ${plural(plans.length, "container")}?` : title, body, "Update all", plans.length ? startAll : null);
  }
}
