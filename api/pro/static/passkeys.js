/* Passkeys on Espace Pro: add one (security page), sign in with one (sign-in page).
 * The server makes the options and checks every answer; this only carries them to the browser's
 * WebAuthn API and back, as JSON with base64url bytes. Plain ES2020, no library. */
(() => {
"use strict";
const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
const enc = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function post(url, csrf, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || String(response.status));
  return data;
}

function credentialJSON(credential) {
  const r = credential.response;
  const json = { id: credential.id, rawId: enc(credential.rawId), type: credential.type, response: { clientDataJSON: enc(r.clientDataJSON) } };
  if (r.attestationObject) {
    json.response.attestationObject = enc(r.attestationObject);
    json.response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    json.response.authenticatorData = enc(r.authenticatorData);
    json.response.signature = enc(r.signature);
    if (r.userHandle) json.response.userHandle = enc(r.userHandle);
  }
  json.clientExtensionResults = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
  return json;
}

async function addPasskey(button) {
  const status = document.getElementById("passkey-status");
  const csrf = button.dataset.csrf;
  try {
    status.textContent = button.dataset.working;
    const options = await post("/pro/account/security/passkeys/options", csrf);
    options.challenge = dec(options.challenge);
    options.user.id = dec(options.user.id);
    (options.excludeCredentials || []).forEach((c) => (c.id = dec(c.id)));
    const credential = await navigator.credentials.create({ publicKey: options });
    const name = (document.getElementById("passkey-name") || {}).value || "";
    await post("/pro/account/security/passkeys", csrf, { credential: credentialJSON(credential), name });
    location.assign("/pro/account/security?done=passkey");
  } catch (error) {
    status.textContent = button.dataset.failed;
  }
}

async function signIn(button) {
  const status = document.getElementById("passkey-status");
  const csrf = button.dataset.csrf;
  try {
    const options = await post("/pro/login/passkey/options", csrf);
    options.challenge = dec(options.challenge);
    (options.allowCredentials || []).forEach((c) => (c.id = dec(c.id)));
    const credential = await navigator.credentials.get({ publicKey: options });
    const answer = await post("/pro/login/passkey", csrf, { credential: credentialJSON(credential), next: button.dataset.next || "" });
    location.assign(answer.redirect);
  } catch (error) {
    status.textContent = button.dataset.failed;
  }
}

function start() {
  if (!window.PublicKeyCredential) return;
  const add = document.getElementById("passkey-add");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", () => addPasskey(add));
  }
  const login = document.getElementById("passkey-sign-in");
  if (login) {
    login.hidden = false;
    login.addEventListener("click", () => signIn(login));
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
