// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // The phone menu's copy of the header's links (portal/base.html) is for this script's
  // dialog: hidden from assistive technologies without it, shown with it.
  document.querySelectorAll(".fr-header__menu-links[aria-hidden]").forEach(function (links) {
    links.removeAttribute("aria-hidden");
  });

  // "Use my position": fill the search with coordinates and search.
  var button = document.getElementById("use-position");
  if (button && "geolocation" in navigator) {
    var status = document.getElementById("position-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.locating;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          var field = document.getElementById("id_near");
          field.value = position.coords.latitude.toFixed(5) + "," + position.coords.longitude.toFixed(5);
          field.form.submit();
        },
        function () { status.textContent = button.dataset.failed; },
        { timeout: 10000, maximumAge: 600000 }
      );
    });
  }

  // A booking's link carries its key in the fragment (#cle=…), which never reaches the
  // server's logs: take it out of the address bar and post it.
  var opener = document.querySelector("form[data-open-link]");
  // A management key is hex; a rebooking key is signed (base64url and colons).
  var key = /^#cle=([A-Za-z0-9:_-]+)$/.exec(window.location.hash);
  if (opener && key) {
    opener.elements.cle.value = key[1];
    window.history.replaceState(null, "", window.location.pathname);
    document.querySelector("[data-open-link-fallback]").hidden = true;
    opener.hidden = false;
    opener.submit();
  }

  // An invitation's link carries its code in the fragment (#code=…), which never reaches
  // the server's logs: it fills the invitation form, which is sent.
  var invitation = document.querySelector("form[data-invitation]");
  var code = /^#code=([A-Za-z0-9-]{1,20})$/.exec(window.location.hash);
  if (invitation && code) {
    invitation.elements.code.value = code[1];
    window.history.replaceState(null, "", window.location.pathname);
    invitation.submit();
  }

  // A "Print" button, where a page is meant for paper (the browser's menu does the same).
  document.querySelectorAll("[data-print]").forEach(function (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  });

  // The hold's countdown; screen readers hear it at 5, 2 and 1 minutes only. When time
  // is up, the announcement alone says so, for eyes and ears: once on the page.
  var countdown = document.querySelector(".hold-countdown");
  if (countdown) {
    var expires = new Date(countdown.dataset.expires).getTime();
    var announce = document.getElementById("countdown-announce");
    var announced = {};
    countdown.hidden = false;
    var tick = function () {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      if (left === 0) {
        countdown.hidden = true;
        announce.classList.remove("fr-sr-only");
        announce.classList.add("fr-text--sm");
        announce.textContent = countdown.dataset.over;
        return;
      }
      var minutes = Math.floor(left / 60);
      countdown.textContent = countdown.dataset.left
        .replace("%(minutes)s", minutes)
        .replace("%(seconds)s", left % 60);
      if ([5, 2, 1].indexOf(minutes + 1) >= 0 && left % 60 === 0 && !announced[minutes]) {
        announced[minutes] = true;
        announce.textContent = countdown.textContent;
      }
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  // A double click sends a form once: the second click would find the code already used.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-get") || form.hasAttribute("hx-post")) { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });

  // After a form error, bring the summary to the keyboard and the screen reader.
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
    // A link of the summary puts the cursor in its field, not just the page at it.
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (field) { event.preventDefault(); field.focus(); }
    });
  }

  // A search opens at its answer (the anchor scrolls there); the heading also takes the
  // focus, so that the keyboard and the screen reader start from the results.
  var answer = window.location.hash === "#resultat" && !summary
    ? document.getElementById("resultat")
    : null;
  if (answer) { answer.focus(); }

  // After htmx swaps the slots of another day, move focus to their heading.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var heading = event.detail.target.querySelector
      ? document.getElementById("creneaux-titre")
      : null;
    if (heading) { heading.focus(); }
  });
})();
