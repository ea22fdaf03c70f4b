// The container table: rows in the groups the backend names (an engine's containers, a Swarm
// stack's services, an engine's other services), built once per report, filtered by toggling
// `hidden`. One delegated listener per event type serves every row, so 1,000 containers stay cheap.
import { el } from "./dom.js";
import { activityLine } from "./updates.js";
import {
  STATUS_LABEL, STATUS_ICON, STATUS_ORDER, KINDS, KIND_LABEL, containerTitle, plural,
} from "./format.js";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
const NO_ENGINE = "";

export function badge(status) {
  return el(
    "span",
    { className: `badge s-${status}`, dataset: { testid: "status-badge" } },
    el("span", { className: "badge-icon", "aria-hidden": "true" }, STATUS_ICON[status] ?? "?"),
    STATUS_LABEL[status] ?? status,
  );
}

function rank(c) {
  const s = STATUS_ORDER.indexOf(c.status);
  const k = c.update ? KINDS.indexOf(c.update.kind) : 0;
  return (s < 0 ? STATUS_ORDER.length : s) * 10 + (k < 0 ? 9 : k);
}

function compare(a, b) {
  return rank(a) - rank(b) || collator.compare(containerTitle(a), containerTitle(b));
}

function versionCell(c) {
  const current = c.current_version ?? "—";
  if (!c.update) return el("td", { className: "version" }, el("span", { className: "mono" }, current));
  if (c.update.kind === "digest") {
    return el(
      "td",
      { className: "version" },
      el("span", { className: "mono" }, current),
      el("span", { className: "muted" }, " · new digest"),
    );
  }
  return el(
    "td",
    { className: "version" },
    el("span", { className: "mono" }, current),
    el("span", { className: "arrow", "aria-label": "to" }, " → "),
    el("span", { className: "mono new-tag" }, c.update.tag ?? ""),
  );
}

function buildRow(c) {
  const title = containerTitle(c);
  const nameCell = el("td", { className: "name" }, el("span", { className: "primary" }, title));
  if (c.kind === "service") {
    nameCell.append(el("span", { className: "tag", dataset: { testid: "service-tag" } }, "service"));
    if (c.replicas) nameCell.append(el("span", { className: "sub" }, `${c.replicas.running}/${c.replicas.desired} tasks running`));
  }
  if (c.name && c.name !== title) nameCell.append(el("span", { className: "sub" }, c.name));
  if (c.status === "unknown" && c.problem) {
    nameCell.append(el("span", { className: "sub error-text" }, c.problem.message));
  }
  const activity = activityLine(c);
  if (activity) nameCell.append(activity);
  return el(
    "tr",
    {
      className: "row",
      tabIndex: -1,
      dataset: { testid: "container-row", containerId: c.id ?? c.image, name: c.name ?? "", status: c.status, kind: c.kind, updating: c.activity?.running ? "true" : "false" },
    },
    el("td", { className: "col-status" }, badge(c.status)),
    nameCell,
    el("td", { className: "image mono", title: c.upstream && c.upstream !== c.image ? `${c.image}\nupstream: ${c.upstream}` : c.image }, c.image),
    versionCell(c),
    el("td", { className: "col-kind" }, c.update ? el("span", { className: `kind k-${c.update.kind}` }, KIND_LABEL[c.update.kind] ?? c.update.kind) : ""),
  );
}

export class ContainerList {
  /** @param {HTMLTableElement} table @param {(id: string) => void} onOpen */
  constructor(table, onOpen) {
    this.table = table;
    this.onOpen = onOpen;
    this.items = []; // {row, c, text, group}
    this.groups = []; // {head, count, engine, total}
    this.byId = new Map();
    this.signature = null;
    this.active = null; // the row holding the single tab stop (roving tabindex)
    this.selected = null;

    table.addEventListener("click", (e) => {
      const row = e.target.closest("tr.row");
      if (row) this.open(row);
    });
    table.addEventListener("keydown", (e) => this.onKey(e));
    table.addEventListener("focusin", (e) => {
      const row = e.target.closest("tr.row");
      if (row) this.makeActive(row);
    });
  }

  /** Rebuilds only when the report itself changed, not on every progress tick. */
  setReport(report) {
    const sig = report ? `${report.checked_at}|${report.containers.length}` : null;
    if (sig === this.signature) return false;
    this.signature = sig;
    this.build(report);
    return true;
  }

  build(report) {
    const selectedId = this.selected?.dataset.containerId;
    // A new report replaces every row; put keyboard focus back on the same container afterwards.
    const focusedId = this.table.contains(document.activeElement) ? document.activeElement.closest("tr.row")?.dataset.containerId : null;
    this.table.querySelectorAll("tbody").forEach((b) => b.remove());
    this.items = [];
    this.groups = [];
    this.byId.clear();
    this.active = null;
    this.selected = null;
    if (!report) return;

    // The backend orders the groups and says which one each entry belongs to.
    const buckets = new Map((report.groups ?? []).map((g) => [g.id, { info: g, list: [] }]));
    for (const c of report.containers) buckets.get(c.group)?.list.push(c);

    const fragment = document.createDocumentFragment();
    for (const { info, list } of buckets.values()) {
      if (list.length === 0) continue;
      list.sort(compare);
      const engine = info.engine ?? NO_ENGINE;
      const body = el("tbody", { className: "group", dataset: { engine, group: info.kind, testid: `group-${info.kind}` } });
      const label = el("span", { className: "group-name" }, info.title);
      const count = el("span", { className: "group-count" });
      const head = el("tr", { className: "group-head" }, el("th", { colSpan: 5, scope: "colgroup" }, label, count));
      body.append(head);
      const noun = info.kind === "stack" || info.kind === "services" ? "service" : info.kind === "images" ? "image" : "container";
      const group = { head, count, engine, noun, total: list.length };
      this.groups.push(group);
      for (const c of list) {
        const row = buildRow(c);
        body.append(row);
        const text = `${c.display_name ?? ""}\n${c.name ?? ""}\n${c.image ?? ""}\n${c.upstream ?? ""}`.toLowerCase();
        const item = { row, c, text, group };
        this.items.push(item);
        this.byId.set(row.dataset.containerId, item);
      }
      fragment.append(body);
    }
    this.table.append(fragment);
    if (selectedId && this.byId.has(selectedId)) this.markSelected(this.byId.get(selectedId).row);
    if (focusedId && this.byId.has(focusedId)) this.focus(this.byId.get(focusedId).row);
  }

  /**
   * Takes the rows' update activity from a state whose report is the same check (progress ticks):
   * only the activity line of a row whose activity changed is replaced. Returns the ids changed.
   */
  updateActivity(report) {
    const changed = [];
    for (const c of report?.containers ?? []) {
      const item = this.byId.get(c.id ?? c.image);
      if (!item) continue;
      const before = `${JSON.stringify(item.c.activity)}|${item.c.can_update}|${item.c.can_roll_back}`;
      const after = `${JSON.stringify(c.activity)}|${c.can_update}|${c.can_roll_back}`;
      item.c = c;
      if (before === after) continue;
      changed.push(item.row.dataset.containerId);
      const nameCell = item.row.querySelector("td.name");
      nameCell.querySelector(".update-activity")?.remove();
      const line = activityLine(c);
      if (line) nameCell.append(line);
      item.row.dataset.updating = c.activity?.running ? "true" : "false";
    }
    return changed;
  }

  /** The visible rows' containers that can be updated now ("Update all"). */
  updatable() {
    return this.items.filter((i) => !i.row.hidden && i.c.can_update).map((i) => i.c);
  }

  /** Applies search + filters by toggling `hidden`; returns how many rows are visible. */
  filter({ query = "", status = "", engine = "", kind = "" }) {
    const q = query.trim().toLowerCase();
    const visibleIn = new Map(this.groups.map((g) => [g, 0]));
    let visible = 0;
    for (const item of this.items) {
      const c = item.c;
      const show =
        (!q || item.text.includes(q)) &&
        (!status || c.status === status) &&
        (!engine || (c.engine ?? NO_ENGINE) === engine) &&
        (!kind || c.update?.kind === kind);
      if (item.row.hidden === show) item.row.hidden = !show;
      if (show) {
        visible += 1;
        visibleIn.set(item.group, visibleIn.get(item.group) + 1);
      }
    }
    for (const [group, n] of visibleIn) {
      group.head.hidden = n === 0;
      group.count.textContent = n === group.total ? ` · ${plural(n, group.noun)}` : ` · ${n} of ${group.total}`;
    }
    if (!this.active || this.active.hidden) this.makeActive(this.firstVisible());
    return visible;
  }

  firstVisible() {
    return this.items.find((i) => !i.row.hidden)?.row ?? null;
  }

  makeActive(row) {
    if (this.active === row) return;
    if (this.active) this.active.tabIndex = -1;
    this.active = row;
    if (row) row.tabIndex = 0;
  }

  visibleRows() {
    return this.items.filter((i) => !i.row.hidden).map((i) => i.row);
  }

  onKey(e) {
    const row = e.target.closest("tr.row");
    if (!row) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.open(row);
      return;
    }
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, Home: -Infinity, End: Infinity };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const rows = this.visibleRows();
    const at = rows.indexOf(row);
    const next = rows[Math.max(0, Math.min(rows.length - 1, at + moves[e.key]))];
    if (next) this.focus(next);
  }

  focus(row) {
    this.makeActive(row);
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  open(row) {
    this.markSelected(row);
    this.makeActive(row);
    this.onOpen(row.dataset.containerId);
  }

  markSelected(row) {
    // aria-current, not aria-selected: this is a table, not a grid with selection semantics.
    if (this.selected) this.selected.removeAttribute("aria-current");
    this.selected = row;
    if (row) row.setAttribute("aria-current", "true");
  }

  container(id) {
    return this.byId.get(id)?.c ?? null;
  }

  /** The row id of the container named `name` on `engine` (an update gives it a new ID). */
  idOf(engine, name) {
    if (!name) return null;
    return this.items.find((i) => i.c.name === name && i.c.engine === engine)?.row.dataset.containerId ?? null;
  }

  row(id) {
    return this.byId.get(id)?.row ?? null;
  }
}
