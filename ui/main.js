// Tidewatch's window: lists the local engine's containers through the app's own commands.
const { invoke } = window.__TAURI__.core;

const status = document.getElementById("engine-status");
const table = document.getElementById("containers");
const rows = document.getElementById("container-rows");
const message = document.getElementById("message");

function showMessage(kind, title, text) {
  table.hidden = true;
  message.hidden = false;
  message.className = `message ${kind}`;
  message.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = title;
  const body = document.createElement("p");
  body.textContent = text;
  message.append(heading, body);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render(result) {
  status.textContent = `${result.engine} engine · ${result.host} · API ${result.api_version}`;
  if (result.containers.length === 0) {
    showMessage("empty", "No containers yet", "Containers on this engine appear here as soon as they are created.");
    return;
  }
  message.hidden = true;
  table.hidden = false;
  rows.replaceChildren(
    ...result.containers.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.testid = "container-row";
      tr.tabIndex = 0;
      const state = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = `badge ${c.running ? "running" : "stopped"}`;
      badge.textContent = c.running ? "running" : "stopped";
      state.append(badge);
      tr.append(cell(c.name, "name"), cell(c.image, "image"), state);
      return tr;
    }),
  );
}

async function refresh() {
  status.textContent = "Connecting to the engine…";
  try {
    render(await invoke("list_containers"));
  } catch (error) {
    status.textContent = "Engine unreachable";
    showMessage("error", "Cannot reach the Docker engine", error.message ?? String(error));
  }
}

document.getElementById("refresh").addEventListener("click", refresh);
refresh();
