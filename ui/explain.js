// Live "explain" preview in the mirror rules section: how a reference resolves to its upstream.
import { call } from "./api.js";
import { el } from "./dom.js";

const DELAY_MS = 300;

export class ExplainPreview {
  constructor(input, out) {
    this.input = input;
    this.out = out;
    this.timer = 0;
    this.seq = 0; // answers can arrive out of order; only the latest request may render
    input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), DELAY_MS);
    });
  }

  async run() {
    const reference = this.input.value.trim();
    const seq = ++this.seq;
    if (!reference) {
      this.out.replaceChildren();
      return;
    }
    try {
      const result = await call("explain", { reference });
      if (seq === this.seq) this.render(result);
    } catch (error) {
      if (seq !== this.seq) return;
      this.out.replaceChildren(el("p", { className: "alert error" }, error.message));
    }
  }

  render({ upstream, endpoints, normalization, resolution }) {
    const steps = [...(normalization ?? []), ...(resolution ?? [])];
    this.out.replaceChildren(
      el("p", {}, "Upstream: ", el("code", {}, upstream)),
      el(
        "table",
        { className: "endpoints" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Order"), el("th", { scope: "col" }, "Registry"), el("th", { scope: "col" }, "Repository"), el("th", { scope: "col" }, "Role"))),
        el("tbody", {}, (endpoints ?? []).map((e, i) => el("tr", {}, el("td", {}, String(i + 1)), el("td", { className: "mono" }, e.registry), el("td", { className: "mono" }, e.repository), el("td", {}, e.role)))),
      ),
      el("ol", { className: "steps" }, steps.map((s) => el("li", {}, s))),
    );
  }
}
