// The only door to the Rust side: Tauri's invoke and event listen, with errors made uniform.
const tauri = window.__TAURI__;

/**
 * Calls a command. Rejections always carry `{code, message}` so callers can show `message`
 * and branch on `code`, even when the backend (or Tauri itself) rejects with a bare string.
 */
export async function call(name, args) {
  try {
    return await tauri.core.invoke(name, args);
  } catch (error) {
    throw toAppError(error);
  }
}

export function toAppError(error) {
  if (error && typeof error === "object" && typeof error.message === "string") {
    return { code: error.code ?? "error", message: error.message };
  }
  return { code: "error", message: String(error) };
}

/** Subscribes to a backend event; the handler receives the payload only. */
export function on(event, handler) {
  return tauri.event.listen(event, (e) => handler(e.payload));
}
