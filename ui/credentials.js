// Registry credentials: the saved list (registry and user only) and the form that verifies a
// login and stores it in the OS keyring. A secret goes to the backend once and never comes back.
import { call } from "./api.js";
import { $, el, setAlert } from "./dom.js";

export class Credentials {
  /** @param {(settings: object) => void} onSettings receives the Settings each command returns */
  constructor(onSettings) {
    this.onSettings = onSettings;
    $("cred-form").addEventListener("submit", (e) => {
      e.preventDefault(); // the CSP forbids form actions; everything goes through invoke
      this.save();
    });
    $("saved-credentials").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-registry]");
      if (button) this.remove(button);
    });
  }

  prefill(registry) {
    $("cred-registry").value = registry;
  }

  render(credentials) {
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


  async save() {
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
      $("cred-status").textContent = `Saved credentials for ${username.value.trim()} at ${registry.value.trim()}. Checking again with them…`;
      // The secret must not linger in the DOM once it is in the keyring.
      password.value = "";
      registry.value = "";
      username.value = "";
      this.onSettings(settings);
    } catch (e) {
      $("cred-status").textContent = "";
      setAlert(error, e.code === "auth_refused" ? `${e.message} Check the user name and password (or token).` : e.message);
      (e.code === "auth_refused" ? password : registry).focus();
      if (e.code === "auth_refused") password.select();
    } finally {
      $("cred-save").disabled = false;
    }
  }

  async remove(button) {
    button.disabled = true;
    try {
      this.onSettings(await call("delete_credential", { registry: button.dataset.registry }));
      $("cred-status").textContent = `Removed the credentials for ${button.dataset.registry}.`;
      $("cred-registry").focus();
    } catch (e) {
      button.disabled = false;
      setAlert($("cred-error"), e.message);
    }
  }

  /** Start at login / start hidden apply immediately; revert the box when the backend refuses. */
}
