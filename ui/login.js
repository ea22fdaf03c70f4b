// The "Log in…" dialog offered where a check failed for want of credentials: the registry is
// filled in, the login is verified and kept in the OS keyring, and the backend checks again by itself.
import { call } from "./api.js";
import { $, setAlert } from "./dom.js";

export class LoginDialog {
  /** @param {(settings: object) => void} onSaved receives the Settings save_credential returns */
  constructor(onSaved) {
    this.onSaved = onSaved;
    this.dialog = $("login-dialog");
    this.returnFocus = null;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault(); // the CSP forbids form actions; everything goes through invoke
      this.save();
    });
    $("login-cancel").addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => this.reset());
  }

  open(registry) {
    this.returnFocus = document.activeElement;
    $("login-registry").value = registry ?? "";
    $("login-title-registry").textContent = registry ?? "a registry";
    setAlert($("login-error"), "");
    this.dialog.showModal();
    $(registry ? "login-username" : "login-registry").focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  reset() {
    // The secret must not linger in the DOM.
    $("login-password").value = "";
    $("login-submit").disabled = false;
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected) back.focus();
  }

  async save() {
    const registry = $("login-registry").value.trim();
    const username = $("login-username").value.trim();
    const password = $("login-password");
    if (!registry || !username || !password.value) {
      setAlert($("login-error"), "Fill in the registry, the user name and the password.");
      $(!registry ? "login-registry" : !username ? "login-username" : "login-password").focus();
      return;
    }
    setAlert($("login-error"), "");
    $("login-submit").disabled = true;
    $("login-status").textContent = `Logging in to ${registry}…`;
    try {
      const settings = await call("save_credential", { registry, username, password: password.value });
      $("login-status").textContent = "";
      this.close();
      this.onSaved(settings, registry);
    } catch (e) {
      $("login-status").textContent = "";
      setAlert($("login-error"), e.code === "auth_refused" ? `${e.message}. Check the user name and password (or token).` : e.message);
      password.select();
      password.focus();
    } finally {
      $("login-submit").disabled = false;
    }
  }
}
