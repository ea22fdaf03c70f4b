// The side panel with everything known about one container's verdict.
import { el, $ } from "./dom.js";
import { badge } from "./list.js";
import { KIND_LABEL, shortDigest, containerTitle } from "./format.js";
import { progressText, outcomeText } from "./updates.js";

/** A digest shown short and monospaced, the full value in the tooltip and selectable on copy. */
function digest(value) {
  if (!value) return el("span", { className: "muted" }, "—");
  return el("code", { className: "digest", title: value }, shortDigest(value));
}

function field(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

function text(value, mono = false) {
  if (value === null || value === undefined || value === "") return el("span", { className: "muted" }, "—");
  return mono ? el("code", { className: "mono", title: value }, value) : String(value);
}

export class DetailPanel {
  /**
   * @param {{openReleaseNotes: (url: string) => Promise<void>, logIn: (registry: string) => void,
   *   update: (container: object) => void, rollBack: (container: object) => void}} actions
   */
  constructor(actions) {
    this.actions = actions;
    this.panel = $("detail");
    this.title = $("detail-title");
    this.body = $("detail-body");
    this.id = null;
    this.returnFocus = null;
    $("detail-close").addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        this.close();
      }
    });
    // Delegated: the panel's buttons are rebuilt on each render.
    this.body.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      if (button.dataset.action === "release-notes") this.releaseNotes(button);
      if (button.dataset.action === "login") this.actions.logIn(button.dataset.registry);
      if (button.dataset.action === "update" && this.container) this.actions.update(this.container);
      if (button.dataset.action === "roll-back" && this.container) this.actions.rollBack(this.container);
    });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open(container, returnFocus) {
    this.id = container.id ?? container.image;
    this.returnFocus = returnFocus ?? document.activeElement;
    this.render(container);
    this.panel.hidden = false;
    this.panel.focus();
  }

  /** Re-renders after a new report (whose rows are new nodes); closes when the container is gone. */
  refresh(container, row) {
    if (!this.isOpen) return;
    if (!container) {
      this.close();
      return;
    }
    this.returnFocus = row ?? this.returnFocus;
    this.render(container);
  }

  close() {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.id = null;
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected) back.focus();
  }

  render(c) {
    this.container = c;
    this.title.textContent = containerTitle(c);
    const parts = [];
    parts.push(el("div", { className: "detail-status" }, badge(c.status), c.name && c.name !== containerTitle(c) ? el("span", { className: "muted" }, c.name) : null));

    if (c.update) {
      const label = KIND_LABEL[c.update.kind] ?? c.update.kind;
      const target = c.update.kind === "digest"
        ? el("p", {}, "The tag ", el("code", {}, c.current_version ?? ""), " now points at a newer image.")
        : el("p", {}, el("code", {}, c.current_version ?? ""), " → ", el("code", { className: "new-tag" }, c.update.tag ?? ""));
      const box = el("div", { className: "update-box" }, el("span", { className: `kind k-${c.update.kind}` }, `${label} update`), target);
      if (c.can_update) {
        box.append(el("button", { type: "button", className: "button primary", id: "detail-update", dataset: { action: "update" } }, "Update…"));
      }
      parts.push(box);
    }
    parts.push(...this.activity(c));

    // The backend words a failed check for the window (never "run tidewatch …") and says what
    // it offers; `detail` is the explanation without the part the problem already says.
    if (c.problem) {
      const box = el("div", { className: "alert error", dataset: { testid: "problem" } }, el("strong", {}, "Check failed: "), c.problem.message);
      if (c.problem.action?.kind === "login") {
        box.append(el("p", {}, el("button", { type: "button", className: "button", dataset: { action: "login", registry: c.problem.action.registry } }, "Log in…")));
      }
      parts.push(box);
    }

    if (c.detail) parts.push(el("p", { className: "explanation" }, c.detail));

    if (c.release_notes) {
      parts.push(el("button", { type: "button", className: "button", dataset: { action: "release-notes", url: c.release_notes } }, "Release notes ↗"));
    }

    const service = c.kind === "service";
    if (service && c.rollout) {
      const phase = c.rollout.phase.replaceAll("_", " ");
      const tone = ["rolled_back", "paused", "rollback_paused"].includes(c.rollout.phase) ? "warning" : "info";
      parts.push(el("p", { className: `alert ${tone}`, dataset: { testid: "rollout" } }, el("strong", {}, `Last Swarm update: ${phase}. `), c.rollout.message));
    }

    const dl = el(
      "dl",
      { className: "facts" },
      service ? field("Kind", "Swarm service") : null,
      service ? field("Stack", text(c.stack)) : null,
      service && c.replicas ? field("Tasks running", `${c.replicas.running} of ${c.replicas.desired}`) : null,
      field("Image", text(c.image, true)),
      field("Upstream", text(c.upstream, true)),
      field("Endpoint used", text(c.via, true)),
      service && c.platforms?.length > 1 ? field("Platforms", text(c.platforms.join(", "))) : field("Platform", text(c.platform)),
      field("Engine", text(c.engine)),
      c.update ? field("New tag", text(c.update.tag, true)) : null,
      c.update ? field("New digest", digest(c.update.digest)) : null,
      field(service ? "Deployed digest" : "Local digest", digest(c.local_digest)),
      field("Remote digest", digest(c.remote_digest)),
      c.id ? field(service ? "Service ID" : "Container ID", el("code", { className: "mono", title: c.id }, c.id.slice(0, 12))) : null,
    );
    parts.push(dl);
    this.body.replaceChildren(...parts);
  }

  /** The update running for this container, or how the last one ended, and Roll back. */
  activity(c) {
    const a = c.activity;
    const parts = [];
    if (a?.running) {
      parts.push(el("div", { className: "alert info update-progress", role: "status", dataset: { testid: "detail-update-progress" } }, progressText(a)));
    } else if (a?.outcome) {
      const o = a.outcome;
      const good = o.status === "updated" || o.status === "unchanged";
      const box = el("div", { className: `alert ${good ? "ok" : "error"}`, dataset: { testid: "detail-update-outcome" } },
        el("strong", {}, a.automatic ? "Automatic update: " : ""), outcomeText(o));
      if (o.logs?.length) {
        box.append(el("details", {}, el("summary", {}, "The new container's last output"), el("pre", { className: "logs" }, o.logs.join("\n"))));
      }
      parts.push(box);
    }
    if (c.can_roll_back) {
      parts.push(el("button", { type: "button", className: "button", id: "detail-roll-back", dataset: { action: "roll-back" } }, "Roll back the last update…"));
    }
    return parts;
  }

  async releaseNotes(button) {
    button.disabled = true;
    try {
      await this.actions.openReleaseNotes(button.dataset.url);
    } catch (error) {
      button.after(el("p", { className: "alert error" }, error.message));
    } finally {
      button.disabled = false;
    }
  }
}
