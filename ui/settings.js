// The settings view: edits the shared TOML config through save_settings; credentials (credentials.js)
// and start-at-login / start-hidden go through their own commands and apply at once, not on Save.
import { call } from "./api.js";
import { $, el, setAlert } from "./dom.js";
import { KINDS, KIND_LABEL } from "./format.js";
import { ExplainPreview } from "./explain.js";
import { Credentials } from "./credentials.js";
import { engineItem, registryItem, mirrorItem, updateEngineHints, blank, orNull, value } from "./settings-items.js";

const HOST_SCHEMES = /^(unix|tcp|https?|ssh|npipe):\/\/\S+$/;
// humantime's units; a permissive check for instant feedback, the backend has the last word.
const DURATION = /^\s*(\d+\s*(nsec|ns|usec|us|µs|msec|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|months?|M|years?|y)\s*)+$/;

// Tag filters may be one pattern or a list of them; edit either as text and give back the same shape.
const listText = (v) => (Array.isArray(v) ? v.join(", ") : blank(v));
function sameShape(original, text) {
  if (!Array.isArray(original)) return orNull(text);
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

export class Settings {
  constructor() {
    this.settings = null;
    this.dirty = false;
    this.form = $("settings-form");
    this.lists = { engines: $("engines-list"), registries: $("registries-list"), mirrors: $("mirrors-list") };
    this.explain = new ExplainPreview($("explain-ref"), $("explain-out"));

    $("notify-kinds").append(
      ...KINDS.map((k) => el("label", { className: "check" }, el("input", { type: "checkbox", value: k, dataset: { kind: k } }), KIND_LABEL[k])),
    );

    $("add-engine").addEventListener("click", () => this.add(this.lists.engines, engineItem()));
    $("add-registry").addEventListener("click", () => this.add(this.lists.registries, registryItem()));
    $("add-mirror").addEventListener("click", () => this.add(this.lists.mirrors, mirrorItem()));

    // One delegated listener per list for every item's buttons.
    for (const list of Object.values(this.lists)) {
      list.addEventListener("click", (e) => {
        const button = e.target.closest("button[data-action]");
        if (!button) return;
        const item = button.closest(".item");
        if (button.dataset.action === "remove") this.remove(item);
        if (button.dataset.action === "test") this.testEngine(item, button);
      });
    }
    this.lists.engines.addEventListener("input", (e) => updateEngineHints(e.target.closest(".item")));

    this.form.addEventListener("input", () => this.markDirty());
    this.form.addEventListener("change", () => this.markDirty());
    $("notify-enabled").addEventListener("change", () => this.syncKinds());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault(); // the CSP forbids form actions; everything goes through invoke
      this.save();
    });

    this.credentials = new Credentials((settings) => this.apply(settings));

    $("conflict-reload").addEventListener("click", () => this.reloadAfterConflict());
    $("conflict-overwrite").addEventListener("click", () => this.save({ overwrite: true }));

    $("autostart").addEventListener("change", (e) => this.toggle("set_autostart", e.target));
    $("start-hidden").addEventListener("change", (e) => this.toggle("set_start_hidden", e.target));
  }

  /** Opens the view, scrolled to a section; unsaved edits survive leaving and coming back. */
  async open(section, prefill) {
    if (!this.settings || !this.dirty) await this.load();
    if (prefill?.registry) {
      this.credentials.prefill(prefill.registry);
    }
    const target = section ? $(section) : null;
    if (target) target.scrollIntoView({ block: "start" });
    if (section === "set-credentials") $(prefill?.registry ? "cred-username" : "cred-registry").focus();
    else $("close-settings").focus();
  }

  async load() {
    setAlert($("settings-load-error"), "");
    try {
      this.apply(await call("get_settings"), { config: true });
    } catch (error) {
      setAlert($("settings-load-error"), `Could not read the settings: ${error.message}`);
    }
  }

  /** Renders a Settings value; the config part only when asked, so unsaved edits are kept. */
  apply(settings, { config = false } = {}) {
    this.settings = settings;
    $("config-path").textContent = settings.config_path ? `Saved to ${settings.config_path}` : "";
    if (config) setAlert($("settings-load-error"), "");
    if (settings.config_error) {
      setAlert($("settings-load-error"), `The config file has an error and was not loaded: ${settings.config_error.message}. Saving here replaces it.`);
    }
    if (config) this.renderConfig(settings.config ?? {});
    this.renderContainersMirrors(settings.containers_mirrors ?? { mirrors: [], problems: [] });
    this.credentials.render(settings.credentials ?? []);
    $("autostart").checked = !!settings.autostart;
    $("start-hidden").checked = !!settings.start_hidden;
  }

  renderConfig(config) {
    this.lists.engines.replaceChildren(...(config.engines ?? []).map(engineItem));
    this.lists.registries.replaceChildren(...(config.registries ?? []).map(registryItem));
    this.lists.mirrors.replaceChildren(...(config.mirrors ?? []).map(mirrorItem));
    $("sched-interval").value = blank(config.schedule?.interval);
    $("sched-jitter").value = blank(config.schedule?.jitter);
    $("tags-include").value = listText(config.tags?.include);
    $("tags-exclude").value = listText(config.tags?.exclude);
    $("updates-auto").value = config.updates?.auto ?? "off";
    $("updates-health-timeout").value = blank(config.updates?.health_timeout);
    const n = config.notifications ?? {};
    $("notify-enabled").checked = n.enabled ?? true;
    const kinds = new Set(n.kinds ?? KINDS);
    for (const box of $("notify-kinds").querySelectorAll("input")) box.checked = kinds.has(box.value);
    this.syncKinds();
    this.dirty = false;
    $("save-status").textContent = "";
    setAlert($("save-error"), "");
    $("save-conflict").hidden = true;
  }

  /** Podman's registries.conf mirrors: read-only here, with the file they come from. */
  renderContainersMirrors({ mirrors, problems }) {
    const items = [
      ...mirrors.map((m) =>
        el("li", { dataset: { testid: "containers-mirror" } },
          el("span", { className: "mono" }, m.mirror), " → ", el("span", { className: "mono" }, m.upstream),
          el("span", { className: "muted" }, ` (${m.kind === "location" ? "pulled from" : "mirror, asked first"}; ${m.source})`)),
      ),
      ...problems.map((p) => el("li", { className: "muted" }, p)),
    ];
    $("containers-mirrors-list").replaceChildren(...items);
    $("containers-mirrors").hidden = items.length === 0;
  }

  syncKinds() {
    $("notify-kinds").disabled = !$("notify-enabled").checked;
  }

  markDirty() {
    this.dirty = true;
    $("save-status").textContent = "Unsaved changes";
  }

  add(list, item) {
    list.append(item);
    item.querySelector("input").focus();
    this.markDirty();
  }

  remove(item) {
    // Keep focus in the section: on the next item's first field, or the section's Add button.
    const next = item.nextElementSibling ?? item.previousElementSibling;
    const section = item.closest("section");
    item.remove();
    (next?.querySelector("input") ?? section.querySelector("button[id^=add-]")).focus();
    this.markDirty();
  }

  /** Reads the form into a config, starting from the loaded one so keys this view lacks survive. */
  collect() {
    const base = structuredClone(this.settings?.config ?? {});
    const items = (list) => [...list.querySelectorAll(".item")];
    base.engines = items(this.lists.engines).map((i) => ({
      name: value(i, "name").trim(),
      host: value(i, "host").trim(),
      tls_ca: orNull(value(i, "tls_ca")),
      tls_cert: orNull(value(i, "tls_cert")),
      tls_key: orNull(value(i, "tls_key")),
    }));
    base.registries = items(this.lists.registries).map((i) => ({
      host: value(i, "host").trim(),
      insecure: i.querySelector("[data-field=insecure]").checked,
      ca_cert: orNull(value(i, "ca_cert")),
      max_in_flight: orNull(value(i, "max_in_flight")) === null ? null : Number(value(i, "max_in_flight")),
    }));
    base.mirrors = items(this.lists.mirrors).map((i) => ({
      mirror: value(i, "mirror").trim(),
      upstream: value(i, "upstream").trim(),
      query: value(i, "query"),
    }));
    base.schedule = { ...base.schedule, interval: orNull($("sched-interval").value), jitter: orNull($("sched-jitter").value) };
    base.tags = {
      ...base.tags,
      include: sameShape(base.tags?.include, $("tags-include").value),
      exclude: sameShape(base.tags?.exclude, $("tags-exclude").value),
    };
    base.updates = {
      ...base.updates,
      auto: $("updates-auto").value,
      health_timeout: $("updates-health-timeout").value.trim() || "2m",
    };
    base.notifications = {
      ...base.notifications,
      enabled: $("notify-enabled").checked,
      kinds: [...$("notify-kinds").querySelectorAll("input:checked")].map((b) => b.value),
    };
    return base;
  }

  /** Marks what is clearly wrong before a round trip; returns the first invalid field. */
  validate() {
    let first = null;
    const flag = (node, message, errorBox) => {
      node.setAttribute("aria-invalid", "true");
      if (errorBox && !errorBox.textContent) errorBox.textContent = message;
      first ??= node;
    };
    for (const node of this.form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    for (const box of this.form.querySelectorAll(".item-error, .field-error")) box.textContent = "";

    const names = new Set();
    for (const item of this.lists.engines.querySelectorAll(".item")) {
      const err = item.querySelector(".item-error");
      const name = item.querySelector("[data-field=name]");
      const host = item.querySelector("[data-field=host]");
      if (!name.value.trim()) flag(name, "Give the engine a name.", err);
      else if (names.has(name.value.trim())) flag(name, `Another engine is already named “${name.value.trim()}”.`, err);
      names.add(name.value.trim());
      if (!HOST_SCHEMES.test(host.value.trim())) flag(host, "The host must start with unix://, tcp://, https:// or ssh://.", err);
    }
    for (const item of this.lists.registries.querySelectorAll(".item")) {
      const host = item.querySelector("[data-field=host]");
      if (!host.value.trim() || host.value.includes("://")) flag(host, "Give the registry host (and port), without a scheme.", item.querySelector(".item-error"));
      const limit = item.querySelector("[data-field=max_in_flight]");
      const wanted = limit.value.trim();
      if (wanted && !(/^\d+$/.test(wanted) && Number(wanted) >= 1 && Number(wanted) <= 256)) {
        flag(limit, "Requests at once is a number from 1 to 256 (empty: 64).", item.querySelector(".item-error"));
      }
    }
    for (const item of this.lists.mirrors.querySelectorAll(".item")) {
      for (const field of ["mirror", "upstream"]) {
        const node = item.querySelector(`[data-field=${field}]`);
        if (!node.value.trim()) flag(node, "Both the mirror and the upstream prefix are needed.", item.querySelector(".item-error"));
      }
    }
    const durationErrors = [];
    for (const id of ["sched-interval", "sched-jitter"]) {
      const node = $(id);
      if (node.value.trim() && !DURATION.test(node.value)) {
        flag(node);
        durationErrors.push(`“${node.value.trim()}” is not a duration`);
      }
    }
    return { first, message: durationErrors.length ? `${durationErrors.join("; ")}: use forms like 6h, 90m or 1h 30m.` : null };
  }

  /**
   * Saves the form. The backend edits the file in place and refuses when another program changed
   * it since this view read it; then the user chooses: reload it, or save these edits over it.
   */
  async save({ overwrite = false } = {}) {
    const { first, message } = this.validate();
    if (first) {
      setAlert($("save-error"), message ?? "Some fields need attention (marked in red).");
      first.focus();
      return;
    }
    const button = $("settings-save");
    button.disabled = true;
    $("save-conflict").hidden = true;
    $("save-status").textContent = "Saving…";
    try {
      const revision = overwrite ? null : this.settings?.config_revision ?? null;
      this.apply(await call("save_settings", { config: this.collect(), revision }), { config: true });
      $("save-status").textContent = "Saved.";
    } catch (error) {
      // Keep what the user typed; the message names the line or key at fault.
      $("save-status").textContent = "Not saved.";
      if (error.code === "config_changed") {
        $("save-conflict-text").textContent = `${error.message}.`;
        $("save-conflict").hidden = false;
        $("conflict-reload").focus();
        return;
      }
      const prefix = error.code === "config_invalid" || error.code === "config_parse" ? "The settings were not saved: " : "";
      setAlert($("save-error"), `${prefix}${error.message}`);
      this.markFieldFromMessage(error.message);
    } finally {
      button.disabled = false;
    }
  }

  async reloadAfterConflict() {
    $("save-conflict").hidden = true;
    await this.load();
    $("save-status").textContent = "Reloaded from the file; your unsaved edits were dropped.";
  }

  /**
   * Core config errors name the key at fault ("schedule.interval: …", "engines[1].host: …");
   * mark that field too, so the message and the place line up. Unknown shapes mark nothing.
   */
  markFieldFromMessage(message) {
    const scalar = { "updates.health_timeout": "updates-health-timeout", "schedule.interval": "sched-interval", "schedule.jitter": "sched-jitter", "tags.include": "tags-include", "tags.exclude": "tags-exclude" };
    for (const [key, id] of Object.entries(scalar)) {
      if (message.includes(key)) $(id).setAttribute("aria-invalid", "true");
    }
    const m = /\b(engines|registries|mirrors)\[(\d+)\](?:\.(\w+))?/.exec(message);
    if (!m) return;
    const item = this.lists[m[1]].querySelectorAll(".item")[Number(m[2])];
    const node = item?.querySelector(m[3] ? `[data-field=${m[3]}]` : "input");
    node?.setAttribute("aria-invalid", "true");
  }

  async testEngine(item, button) {
    const result = item.querySelector(".result");
    if (!value(item, "host").trim()) {
      result.className = "result bad";
      result.textContent = "Enter the engine's host first.";
      item.querySelector("[data-field=host]").focus();
      return;
    }
    result.className = "result muted";
    result.textContent = "Connecting…";
    button.disabled = true;
    const engine = {
      name: value(item, "name").trim() || "test",
      host: value(item, "host").trim(),
      tls_ca: orNull(value(item, "tls_ca")),
      tls_cert: orNull(value(item, "tls_cert")),
      tls_key: orNull(value(item, "tls_key")),
    };
    try {
      const { api_version } = await call("test_engine", { engine });
      result.className = "result ok";
      result.textContent = `✓ Connected · Docker API ${api_version}`;
    } catch (error) {
      result.className = "result bad";
      result.textContent = `✗ ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  async toggle(command, box) {
    setAlert($("general-error"), "");
    box.disabled = true;
    try {
      this.apply(await call(command, { enabled: box.checked }));
    } catch (e) {
      box.checked = !box.checked;
      setAlert($("general-error"), e.message);
    } finally {
      box.disabled = false;
    }
  }
}