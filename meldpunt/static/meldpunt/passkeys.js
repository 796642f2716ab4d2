// Passkeys (WebAuthn): the browser's part of the ceremony. The server sends options as
// JSON with base64url bytes and checks the answer; this file only converts and forwards.
// Without JavaScript or WebAuthn the page says so and the code form (if allowed) remains.
"use strict";
(function () {
  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    return Uint8Array.from(atob(base64), function (c) { return c.charCodeAt(0); });
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBytes(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return { publicKey: o };
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return { publicKey: o };
  }

  function credentialJSON(credential) {
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) { response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: response, clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment
    });
  }

  function post(url, token, fields) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields || {})
    }).then(function (answer) {
      return answer.json().then(function (body) {
        if (!answer.ok) { throw new Error(body.error || answer.statusText); }
        return body;
      });
    });
  }

  function setUp(box) {
    var button = box.querySelector("button"), status = box.querySelector(".passkey-status");
    var notice = box.querySelector(".passkey-nojs");
    var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
    var registering = box.dataset.passkey === "register";
    if (!window.PublicKeyCredential || !navigator.credentials) {
      notice.textContent = box.dataset.unsupported;
      return;
    }
    notice.hidden = true;
    button.hidden = false;

    function run(event) {
      event.preventDefault();
      var name = registering ? box.querySelector("input[name=name]").value.trim() : "";
      if (registering && !name) { box.querySelector("input[name=name]").focus(); return; }
      button.disabled = true;
      status.textContent = "";
      post(box.dataset.options, token).then(function (options) {
        return registering
          ? navigator.credentials.create(creationOptions(options))
          : navigator.credentials.get(requestOptions(options));
      }).then(function (credential) {
        var fields = { response: credentialJSON(credential) };
        if (registering) { fields.name = name; } else { fields.next = box.dataset.next; }
        return post(registering ? box.action : box.dataset.verify, token, fields);
      }).then(function (body) {
        window.location.assign(body.next);
      }).catch(function (error) {
        // A DOMException is the browser's (cancelled, timed out); other errors are ours.
        status.textContent = error instanceof DOMException ? box.dataset.failed : error.message;
        button.disabled = false;
      });
    }

    if (registering) { box.addEventListener("submit", run); } else { button.addEventListener("click", run); }
  }

  document.querySelectorAll("[data-passkey]").forEach(setUp);
})();
