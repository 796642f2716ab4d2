// The report form's optional proof-of-work (ALTCHA v1): find the number n with
// SHA-256(salt + n) == challenge, then send it along. Without JavaScript, or without
// crypto.subtle (plain http), nothing happens and the form posts as it always did.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pow]");
  if (!form || !window.crypto || !window.crypto.subtle || !window.TextEncoder) return;
  var challenge = JSON.parse(form.getAttribute("data-pow"));
  var field = form.querySelector("input[name=altcha]");
  var encoder = new TextEncoder();
  var done = false;
  var waiting = false;

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  async function solve() {
    for (var n = 0; n <= challenge.maxnumber; n++) {
      var digest = await window.crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) return n;
    }
    return null;
  }

  solve().then(function (number) {
    if (number !== null) {
      field.value = btoa(JSON.stringify({
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number: number,
        salt: challenge.salt,
        signature: challenge.signature
      }));
    }
    done = true;
    if (waiting) form.requestSubmit ? form.requestSubmit() : form.submit();
  });

  // A finder who is quicker than the check waits a moment; the form then sends itself.
  form.addEventListener("submit", function (event) {
    if (done) return;
    event.preventDefault();
    waiting = true;
    var button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-busy", "true");
  });
})();
