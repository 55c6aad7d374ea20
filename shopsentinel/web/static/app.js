// ShopSentinel alert center: live polling for new alerts, select-all for bulk actions. No dependencies.
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One cell per column name listed in the table body's data-new-rows attribute.
  function cell(column, a) {
    var td = el("td");
    if (column === "check") {
      var box = el("input"); box.type = "checkbox"; box.name = "ids"; box.value = a.id;
      box.setAttribute("aria-label", a.id); td.appendChild(box);
    } else if (column === "starts_at") {
      td.className = "nowrap"; td.textContent = a.starts_at;
    } else if (column === "severity" || column === "severity_state") {
      td.appendChild(el("span", "sev " + a.severity, a.labels.severity));
      if (column === "severity_state") { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "state " + a.state, a.labels.state)); }
    } else if (column === "store") {
      td.textContent = a.labels.platform + " / " + a.store;
    } else if (column === "rule") {
      td.className = "small"; td.textContent = a.rule;
    } else if (column === "message") {
      var link = el("a", "", a.message || a.rule); link.href = "/alerts/" + a.id; td.appendChild(link);
    } else if (column === "state") {
      td.appendChild(el("span", "state " + a.state, a.labels.state));
    }
    return td;
  }

  var live = document.querySelector("[data-poll]");
  if (live) {
    var cursor = live.getAttribute("data-cursor") || "";
    var every = parseInt(live.getAttribute("data-interval") || "5000", 10);
    var tick = function () {
      fetch("/poll?since=" + encodeURIComponent(cursor), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var total = 0;
          Object.keys(data.firing).forEach(function (sev) {
            total += data.firing[sev];
            var count = document.querySelector("[data-count='" + sev + "']");
            if (count) count.textContent = data.firing[sev];
          });
          var totalEl = document.querySelector("[data-count='total']");
          if (totalEl) totalEl.textContent = total;
          if (data.cursor) cursor = data.cursor;
          if (!data["new"].length) return;
          var body = document.querySelector("tbody[data-new-rows]");
          if (body) {
            var columns = body.getAttribute("data-new-rows").split(",");
            data["new"].slice().reverse().forEach(function (a) {
              if (document.getElementById("alert-" + a.id)) return;
              var tr = el("tr", "new"); tr.id = "alert-" + a.id;
              columns.forEach(function (column) { tr.appendChild(cell(column, a)); });
              body.insertBefore(tr, body.firstChild);
            });
          }
          var badge = document.querySelector("[data-new-badge]");
          if (badge) badge.hidden = false;
        })
        .catch(function () { /* offline for a moment: try again next tick */ });
    };
    setInterval(tick, every);
  }

  var all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name='ids']").forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
