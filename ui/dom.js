// Small DOM builders. Text always goes through textContent, so data can never become markup.

/**
 * el("p", {className: "x", dataset: {id}}, "text", child)
 * Props are assigned as properties (className, title, type, value, hidden, tabIndex…),
 * except `dataset` (merged), `role` and names containing "-" (set as attributes, e.g. aria-label),
 * since ARIA property reflection is not in every webview.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.includes("-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export const $ = (id) => document.getElementById(id);

/** Shows a message in an alert box, or hides it when message is empty. */
export function setAlert(node, message) {
  node.textContent = message ?? "";
  node.hidden = !message;
}
