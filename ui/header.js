// The header: check now, pause, last check time, progress while checking, engine status line.
import { $ } from "./dom.js";
import { relativeTime, localTime, plural } from "./format.js";

export class Header {
  constructor({ checkNow, setPaused }) {
    this.state = null;
    this.checkButton = $("check-now");
    this.pauseButton = $("pause");
    this.progress = $("progress");
    this.progressText = $("progress-text");
    this.progressBar = $("progress-bar");
    this.lastCheck = $("last-check");
    this.engineStatus = $("engine-status");
    this.checkButton.addEventListener("click", checkNow);
    this.pauseButton.addEventListener("click", () =>
      setPaused(this.pauseButton.getAttribute("aria-pressed") !== "true"),
    );
    // "3 min ago" must keep moving without a new state from the backend.
    setInterval(() => this.renderTimes(), 30_000);
  }

  render(state) {
    this.state = state;
    const checking = state.phase === "checking";
    this.checkButton.disabled = checking;
    this.checkButton.textContent = checking ? "Checking…" : "Check now";

    const paused = state.phase === "paused";
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.pauseButton.textContent = paused ? "Resume checks" : "Pause checks";

    const p = state.progress;
    this.progress.hidden = !checking;
    if (checking) {
      if (p && p.total > 0) {
        this.progressText.textContent = `Checking… ${p.checked} of ${p.total}`;
        this.progressBar.max = p.total;
        this.progressBar.value = p.checked;
      } else {
        this.progressText.textContent = "Checking…";
        this.progressBar.removeAttribute("value"); // indeterminate until the total is known
      }
    }
    this.engineStatus.textContent = engineLine(state);
    this.renderTimes();
  }

  renderTimes() {
    const s = this.state;
    if (!s) return;
    const parts = [];
    if (s.last_check_at) parts.push(`checked ${relativeTime(s.last_check_at)}`);
    else if (s.phase !== "checking") parts.push("not checked yet");
    if (s.phase === "paused") parts.push("checks paused");
    else if (s.phase === "offline") parts.push("offline, will retry");
    else if (s.next_check_at && s.phase !== "checking") parts.push(`next ${relativeTime(s.next_check_at)}`);
    this.lastCheck.textContent = parts.join(" · ");
    this.lastCheck.title = [s.last_check_at && `Last check: ${localTime(s.last_check_at)}`, s.next_check_at && `Next check: ${localTime(s.next_check_at)}`]
      .filter(Boolean)
      .join("\n");
  }
}

/** One line saying whether the engines answer, e.g. "2 engines · 1 unreachable". */
function engineLine(state) {
  const engines = state.report?.engines ?? [];
  if (engines.length === 0) {
    return state.phase === "checking" ? "Checking…" : "No check yet";
  }
  const down = engines.filter((e) => e.status !== "ok");
  if (engines.length === 1) {
    const e = engines[0];
    return down.length ? `${e.name}: unreachable` : `${e.name} · ${e.endpoint ?? ""}`.replace(/ · $/, "");
  }
  return down.length
    ? `${plural(engines.length, "engine")} · ${down.length} unreachable`
    : `${plural(engines.length, "engine")} · all reachable`;
}
