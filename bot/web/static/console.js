// The console's small helpers. Every page works without them; they only make it livelier.
// No inline script anywhere: this file is loaded with <script src> so a strict
// Content-Security-Policy can forbid inline code.
(function () {
  "use strict";

  // How long counts are still fetched every second after a broadcast's last send: the
  // delivery and read receipts of most messages arrive within it.
  var SETTLING = 60 * 1000;

  // A whole number as German text writes it (1.600), the same as the server's pages; not
  // toLocaleString, whose result depends on the browser's locale data.
  function number(value) {
    return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  // What the pages show of a broadcast's counts: sent, delivered and read cumulatively
  // ("reached": a read message was also delivered and sent), the others as counted.
  function shownCounts(data) {
    var shown = {};
    Object.keys(data.counts).forEach(function (key) { shown[key] = data.counts[key]; });
    Object.keys(data.reached || {}).forEach(function (key) { shown[key] = data.reached[key]; });
    return shown;
  }

  // WhatsApp counts characters (code points), not UTF-16 units: an emoji is one.
  function length(text) {
    return Array.from(text.trim()).length;
  }

  // Every text field with a limit (the text, and one per further language) has its own
  // counter and preview.
  function setupCompose() {
    setupCounters(document);
    // The server's objection was to what the form held when it was sent: once the text is
    // changed it no longer applies, and leaving it on screen says the new text is wrong too.
    var error = document.getElementById("server-error");
    if (error) {
      Array.prototype.forEach.call(document.querySelectorAll("form textarea, form input"),
        function (field) {
          field.addEventListener("input", function () { error.hidden = true; });
        });
    }
    setupPicture();
  }

  function setupCounters(root) {
    var fields = root.querySelectorAll("textarea[data-limit]");
    Array.prototype.forEach.call(fields, function (text) {
      var counter = document.getElementById(text.getAttribute("data-counter") || "counter");
      if (!counter) return;
      var limit = parseInt(text.getAttribute("data-limit"), 10);
      var preview = document.getElementById(text.getAttribute("data-preview") || "preview-text");
      var main = text.id === "text";
      var media = main ? document.getElementById("media_url") : null;
      var mediaLine = document.getElementById("preview-media");
      var mediaUrl = document.getElementById("preview-media-url");
      function update() {
        var used = length(text.value);
        counter.textContent = number(used) + " von " + number(limit) + " Zeichen";
        counter.classList.toggle("over", used > limit);
        if (used > limit) counter.textContent += ": " + number(used - limit) + " zu viel";
        if (preview) preview.textContent = text.value;
        if (media && mediaLine) {
          mediaUrl.textContent = media.value.trim();
          mediaLine.hidden = media.value.trim() === "";
        }
      }
      text.addEventListener("input", update);
      if (media) media.addEventListener("input", update);
      update();
    });
  }

  // The chosen picture in the preview, before it is uploaded (read as a data: URL, which the
  // Content-Security-Policy allows for images).
  function setupPicture() {
    var input = document.getElementById("image");
    var text = document.getElementById("preview-text");
    if (!input || !text || !window.FileReader) return;
    input.addEventListener("change", function () {
      var picture = document.getElementById("preview-picture");
      var file = input.files && input.files[0];
      // A video or PDF is previewed once uploaded (poster frame, name and pages).
      if (!file || !/^image\//.test(file.type)) {
        if (picture) picture.hidden = true;
        return;
      }
      var reader = new FileReader();
      reader.onload = function () {
        if (!picture) {
          picture = document.createElement("img");
          picture.id = "preview-picture";
          picture.className = "picture";
          picture.alt = "Bild der Meldung";
          text.parentNode.insertBefore(picture, text);
        }
        picture.src = reader.result;
        picture.hidden = false;
      };
      reader.readAsDataURL(file);
    });
  }

  function setupConfirmations(root) {
    var forms = root.querySelectorAll("form[data-confirm]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
    // A form with several buttons asks only for the one that needs it ("send", not "save").
    var buttons = root.querySelectorAll("button[data-confirm]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function renderReasons(list, reasons, none) {
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    if (reasons.length === 0) reasons = [{ reason: none, count: null }];
    reasons.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.count === null ? item.reason
                                            : item.reason + ": " + number(item.count);
      list.appendChild(li);
    });
  }

  // A poll's results move with every tap: votes, shares (text and bar) and the total.
  function renderPoll(poll) {
    var box = document.getElementById("poll");
    if (!box || !poll) return;
    var total = box.querySelector("[data-poll-total]");
    if (total) total.textContent = number(poll.votes) + (poll.votes === 1 ? " Antwort"
                                                                           : " Antworten");
    poll.answers.forEach(function (answer, index) {
      var votes = box.querySelector('[data-poll-votes="' + index + '"]');
      if (votes) votes.textContent = number(answer.votes);
      box.querySelectorAll('[data-poll-percent="' + index + '"]').forEach(function (part) {
        if (part.tagName === "METER") part.value = answer.percent;
        part.textContent = answer.percent + "\u00a0%";
      });
    });
  }

  // A broadcast that went out while its page was open can now be corrected: the page's
  // "Berichtigung" part (and its reactions as of now) is taken from the page as the server
  // shows it now, so that nobody has to reload to find it. Tried a few times only: a
  // broadcast that reached nobody has none.
  var correctionTries = 3;
  function showCorrection() {
    if (correctionTries <= 0 || document.getElementById("correction-heading")) return;
    var reactions = document.getElementById("reactions-heading");
    if (!reactions || !window.DOMParser) return;
    correctionTries -= 1;
    fetch(window.location.pathname,
          { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var heading = page.getElementById("correction-heading");
        if (!heading || document.getElementById("correction-heading")) return;
        var section = document.importNode(heading.closest("section"), true);
        var old = reactions.closest("section");
        var fresh = page.getElementById("reactions-heading");
        if (fresh) {
          var updated = document.importNode(fresh.closest("section"), true);
          old.parentNode.replaceChild(updated, old);
          old = updated;
        }
        old.parentNode.insertBefore(section, old.nextSibling);
        setupCounters(section);
        setupConfirmations(section);
      })
      .catch(function () { /* the next poll of the counts tries again */ });
  }

  function setupCounts() {
    var box = document.getElementById("counts");
    if (!box) return;
    var url = box.getAttribute("data-counts-url");
    var status = document.getElementById("status");
    var started = Date.now();
    var overSince = null;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          var shown = shownCounts(data);
          Object.keys(shown).forEach(function (key) {
            var cell = box.querySelector('[data-count="' + key + '"]');
            if (cell) cell.textContent = number(shown[key]);
          });
          if (status) status.textContent = data.status_label;
          // Once it is over, nothing is left to cancel, and the page says when it ended.
          var cancel = document.getElementById("cancel-form");
          if (cancel && !data.can_cancel) cancel.hidden = true;
          var finished = document.getElementById("finished");
          if (finished && data.finished) {
            document.getElementById("finished-at").textContent = data.finished;
            finished.hidden = false;
          }
          renderPoll(data.poll);
          renderReasons(document.getElementById("failed-reasons"), data.failed, "Keine Fehler.");
          renderReasons(document.getElementById("skipped-reasons"), data.skipped,
                        "Nichts übersprungen.");
          // Delivery and read receipts keep coming after the last send, most of them in the
          // first seconds, so a finished broadcast is still watched every second for a
          // while, then less often.
          var over = data.status === "done" || data.status === "cancelled";
          if (over && overSince === null) overSince = Date.now();
          if (over) showCorrection();
          if (Date.now() - started < 15 * 60 * 1000) {
            window.setTimeout(poll, over && Date.now() - overSince > SETTLING ? 5000 : 1000);
          }
        })
        .catch(function () {
          window.setTimeout(poll, 5000);
        });
    }
    window.setTimeout(poll, 1000);
  }

  // The broadcast list: rows marked data-live (still sending, or receipts still coming in)
  // are refreshed from one request for all of them; the others never change.
  function setupListCounts() {
    var table = document.getElementById("broadcast-list");
    if (!table) return;
    var url = table.getAttribute("data-counts-url");
    var rows = {};
    Array.prototype.forEach.call(table.querySelectorAll("[data-broadcast][data-live]"), function (row) {
      rows[row.getAttribute("data-broadcast")] = row;
    });
    var ids = Object.keys(rows);
    if (ids.length === 0) return;
    var started = Date.now();
    var doneSince = null;
    function poll() {
      fetch(url + "?ids=" + ids.join(","),
            { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          var sending = false;
          data.broadcasts.forEach(function (item) {
            var row = rows[String(item.id)];
            if (!row) return;
            var shown = shownCounts(item);
            Object.keys(shown).forEach(function (key) {
              var cell = row.querySelector('[data-count="' + key + '"]');
              if (cell) cell.textContent = number(shown[key]);
            });
            var status = row.querySelector("[data-status]");
            if (status) status.textContent = item.status_label;
            var recipients = row.querySelector("[data-recipients]");
            if (recipients) recipients.textContent = number(item.recipients);
            if (item.status !== "done" && item.status !== "cancelled") sending = true;
          });
          if (sending) doneSince = null;
          else if (doneSince === null) doneSince = Date.now();
          if (Date.now() - started < 15 * 60 * 1000) {
            window.setTimeout(poll, sending || Date.now() - doneSince <= SETTLING ? 1000 : 5000);
          }
        })
        .catch(function () {
          if (Date.now() - started < 15 * 60 * 1000) window.setTimeout(poll, 5000);
        });
    }
    window.setTimeout(poll, 1000);
  }

  setupCompose();
  setupConfirmations(document);
  setupCounts();
  setupListCounts();
})();
