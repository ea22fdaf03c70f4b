// The settings view: edits the shared TOML config through save_settings, and manages keyring
// credentials and start-at-login through their own commands (those apply at once, not on Save).
import { call } from "./api.js";
import { $, el, setAlert } from "./dom.js";
import { KINDS, KIND_LABEL } from "./format.js";
import { ExplainPreview } from "./explain.js";

const HOST_SCHEMES = /^(unix|tcp|https?|ssh|npipe):\/\/\S+$/;
// humantime's units; a permissive check for instant feedback, the backend has the last word.
const DURATION = /^\s*(\d+\s*(nsec|ns|usec|us|µs|msec|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|months?|M|years?|y)\s*)+$/;
const QUERY_POLICIES = [
  ["upstream-first", "Upstream first, mirror as fallback"],
  ["mirror-first", "Mirror first, upstream as fallback"],
  ["mirror-only", "Mirror only (upstream unreachable)"],
];

const blank = (v) => (v === undefined || v === null ? "" : String(v));
const orNull = (v) => (v.trim() === "" ? null : v.trim());

function input(field, label, value, { mono = false, placeholder = "", type = "text" } = {}) {
  return el(
    "label",
    { className: `f-${field}` },
    label,
    el("input", { type, className: `input${mono ? " mono" : ""}`, value: blank(value), placeholder, spellcheck: false, autocomplete: "off", dataset: { field } }),
  );
}

function removeButton(what) {
  return el("button", { type: "button", className: "button small danger", dataset: { action: "remove" }, "aria-label": `Remove ${what}` }, "Remove");
}

function engineItem(e = {}) {
  const tls = el(
    "div",
    { className: "tls grid3" },
    input("tls_ca", "CA certificate", e.tls_ca, { mono: true, placeholder: "/path/ca.pem" }),
    input("tls_cert", "Client certificate", e.tls_cert, { mono: true, placeholder: "/path/cert.pem" }),
    input("tls_key", "Client key", e.tls_key, { mono: true, placeholder: "/path/key.pem" }),
  );
  const item = el(
    "div",
    { className: "item engine" },
    el(
      "div",
      { className: "item-row" },
      input("name", "Name", e.name, { placeholder: "local" }),
      input("host", "Host", e.host, { mono: true, placeholder: "unix:///var/run/docker.sock" }),
      el("div", { className: "item-actions" },
        el("button", { type: "button", className: "button small", dataset: { action: "test" } }, "Test"),
        removeButton("engine")),
    ),
    el("p", { className: "hint ssh-hint muted" }, "ssh:// uses your SSH config and agent; the remote user must be allowed to use the Docker socket (e.g. in the docker group)."),
    tls,
    el("p", { className: "result", "aria-live": "polite" }),
    el("p", { className: "item-error", role: "alert" }),
  );
  updateEngineHints(item);
  return item;
}

/** TLS paths only matter for https:// (shown anyway when already set); ssh gets a hint. */
function updateEngineHints(item) {
  const host = item.querySelector("[data-field=host]").value.trim();
  const hasTls = [...item.querySelectorAll(".tls input")].some((i) => i.value.trim());
  item.querySelector(".tls").hidden = !(host.startsWith("https://") || hasTls);
  item.querySelector(".ssh-hint").hidden = !host.startsWith("ssh://");
}

function registryItem(r = {}) {
  return el(
    "div",
    { className: "item registry" },
    el(
      "div",
      { className: "item-row" },
      input("host", "Host", r.host, { mono: true, placeholder: "registry.corp.example:5000" }),
      input("ca_cert", "CA certificate", r.ca_cert, { mono: true, placeholder: "/etc/ssl/corp-ca.pem" }),
      el("label", { className: "check f-insecure" }, el("input", { type: "checkbox", checked: !!r.insecure, dataset: { field: "insecure" } }), "Plain HTTP"),
      el("div", { className: "item-actions" }, removeButton("registry")),
    ),
    el("p", { className: "item-error", role: "alert" }),
  );
}

function mirrorItem(m = {}) {
  const select = el(
    "select",
    { className: "input", dataset: { field: "query" } },
    QUERY_POLICIES.map(([value, label]) => el("option", { value }, label)),
  );
  select.value = m.query ?? "upstream-first";
  return el(
    "div",
    { className: "item mirror" },
    el(
      "div",
      { className: "item-row" },
      input("mirror", "Mirror prefix", m.mirror, { mono: true, placeholder: "harbor.corp.example/dockerhub" }),
      input("upstream", "Upstream prefix", m.upstream, { mono: true, placeholder: "docker.io" }),
      el("label", { className: "f-query" }, "Query", select),
      el("div", { className: "item-actions" }, removeButton("mirror rule")),
    ),
    el("p", { className: "item-error", role: "alert" }),
  );
}

// Tag filters may be one pattern or a list of them; edit either as text and give back the same shape.
const listText = (v) => (Array.isArray(v) ? v.join(", ") : blank(v));
function sameShape(original, text) {
  if (!Array.isArray(original)) return orNull(text);
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

const value = (item, field) => item.querySelector(`[data-field=${field}]`).value;

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

    $("cred-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveCredential();
    });
    $("saved-credentials").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-registry]");
      if (button) this.deleteCredential(button);
    });

    $("autostart").addEventListener("change", (e) => this.toggle("set_autostart", e.target));
    $("start-hidden").addEventListener("change", (e) => this.toggle("set_start_hidden", e.target));
  }

  /** Opens the view, scrolled to a section; unsaved edits survive leaving and coming back. */
  async open(section, prefill) {
    if (!this.settings || !this.dirty) await this.load();
    if (prefill?.registry) {
      $("cred-registry").value = prefill.registry;
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
    this.renderCredentials(settings.credentials ?? []);
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
    const n = config.notifications ?? {};
    $("notify-enabled").checked = n.enabled ?? true;
    const kinds = new Set(n.kinds ?? KINDS);
    for (const box of $("notify-kinds").querySelectorAll("input")) box.checked = kinds.has(box.value);
    this.syncKinds();
    this.dirty = false;
    $("save-status").textContent = "";
    setAlert($("save-error"), "");
  }

  renderCredentials(credentials) {
    const list = $("saved-credentials");
    if (credentials.length === 0) {
      list.replaceChildren(el("li", { className: "muted none" }, "No credentials saved. Registries fall back to your Docker config, then anonymous access."));
      return;
    }
    list.replaceChildren(
      ...credentials.map((c) =>
        el(
          "li",
          { dataset: { testid: "saved-credential", registry: c.registry } },
          el("span", { className: "mono" }, c.registry),
          el("span", { className: "muted" }, ` as ${c.username}`),
          el("button", { type: "button", className: "button small danger", dataset: { registry: c.registry }, "aria-label": `Remove credentials for ${c.registry}` }, "Remove"),
        ),
      ),
    );
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

  async save() {
    const { first, message } = this.validate();
    if (first) {
      setAlert($("save-error"), message ?? "Some fields need attention (marked in red).");
      first.focus();
      return;
    }
    const button = $("settings-save");
    button.disabled = true;
    $("save-status").textContent = "Saving…";
    try {
      this.apply(await call("save_settings", { config: this.collect() }), { config: true });
      $("save-status").textContent = "Saved.";
    } catch (error) {
      // Keep what the user typed; the message names the line or key at fault.
      $("save-status").textContent = "Not saved.";
      const prefix = error.code === "config_invalid" || error.code === "config_parse" ? "The settings were not saved: " : "";
      setAlert($("save-error"), `${prefix}${error.message}`);
      this.markFieldFromMessage(error.message);
    } finally {
      button.disabled = false;
    }
  }

  /**
   * Core config errors name the key at fault ("schedule.interval: …", "engines[1].host: …");
   * mark that field too, so the message and the place line up. Unknown shapes mark nothing.
   */
  markFieldFromMessage(message) {
    const scalar = { "schedule.interval": "sched-interval", "schedule.jitter": "sched-jitter", "tags.include": "tags-include", "tags.exclude": "tags-exclude" };
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

  async saveCredential() {
    const registry = $("cred-registry");
    const username = $("cred-username");
    const password = $("cred-password");
    const error = $("cred-error");
    const missing = [registry, username, password].find((i) => !i.value.trim());
    if (missing) {
      setAlert(error, "Fill in the registry, the user name and the password.");
      missing.focus();
      return;
    }
    setAlert(error, "");
    $("cred-status").textContent = `Logging in to ${registry.value.trim()}…`;
    $("cred-save").disabled = true;
    try {
      const settings = await call("save_credential", {
        registry: registry.value.trim(),
        username: username.value.trim(),
        password: password.value,
      });
      $("cred-status").textContent = `Saved credentials for ${username.value.trim()} at ${registry.value.trim()}. Run a check to use them.`;
      // The secret must not linger in the DOM once it is in the keyring.
      password.value = "";
      registry.value = "";
      username.value = "";
      this.apply(settings);
    } catch (e) {
      $("cred-status").textContent = "";
      setAlert(error, e.code === "auth_refused" ? `${e.message} Check the user name and password (or token).` : e.message);
      (e.code === "auth_refused" ? password : registry).focus();
      if (e.code === "auth_refused") password.select();
    } finally {
      $("cred-save").disabled = false;
    }
  }

  async deleteCredential(button) {
    button.disabled = true;
    try {
      this.apply(await call("delete_credential", { registry: button.dataset.registry }));
      $("cred-status").textContent = `Removed the credentials for ${button.dataset.registry}.`;
      $("cred-registry").focus();
    } catch (e) {
      button.disabled = false;
      setAlert($("cred-error"), e.message);
    }
  }

  /** Start at login / start hidden apply immediately; revert the box when the backend refuses. */
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
