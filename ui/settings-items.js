// Editable rows of the settings form: one builder per config list (engines, registries, mirrors).
import { el } from "./dom.js";

const QUERY_POLICIES = [
  ["upstream-first", "Upstream first, mirror as fallback"],
  ["mirror-first", "Mirror first, upstream as fallback"],
  ["mirror-only", "Mirror only (upstream unreachable)"],
];

export const blank = (v) => (v === undefined || v === null ? "" : String(v));
export const orNull = (v) => (v.trim() === "" ? null : v.trim());

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

export function engineItem(e = {}) {
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
export function updateEngineHints(item) {
  const host = item.querySelector("[data-field=host]").value.trim();
  const hasTls = [...item.querySelectorAll(".tls input")].some((i) => i.value.trim());
  item.querySelector(".tls").hidden = !(host.startsWith("https://") || hasTls);
  item.querySelector(".ssh-hint").hidden = !host.startsWith("ssh://");
}

export function registryItem(r = {}) {
  return el(
    "div",
    { className: "item registry" },
    el(
      "div",
      { className: "item-row" },
      input("host", "Host", r.host, { mono: true, placeholder: "registry.corp.example:5000" }),
      input("ca_cert", "CA certificate", r.ca_cert, { mono: true, placeholder: "/etc/ssl/corp-ca.pem" }),
      input("max_in_flight", "Requests at once", r.max_in_flight, { placeholder: "64", type: "number" }),
      el("label", { className: "check f-insecure" }, el("input", { type: "checkbox", checked: !!r.insecure, dataset: { field: "insecure" } }), "Plain HTTP"),
      el("div", { className: "item-actions" }, removeButton("registry")),
    ),
    el("p", { className: "item-error", role: "alert" }),
  );
}

export function mirrorItem(m = {}) {
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

/** The current text of an item's field. */
export const value = (item, field) => item.querySelector(`[data-field=${field}]`).value;
