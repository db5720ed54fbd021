// Sortable and filterable leaderboard tables (docs/leaderboard/).
// Hand-written: the site is built and tested offline, so no table library is fetched from a CDN,
// and what is needed is two behaviours (sort on a header click, filter rows by task).
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return null;
    var raw = cell.getAttribute("data-value");
    if (raw === null || raw === "") return cell.textContent.trim().toLowerCase();
    var num = parseFloat(raw);
    return isNaN(num) ? raw.toLowerCase() : num;
  }

  function sortTable(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = header.getAttribute("aria-sort") !== "descending";
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var missingX = x === null || x === "", missingY = y === null || y === "";
      if (missingX || missingY) return missingX - missingY; // empty cells last
      if (x < y) return descending ? 1 : -1;
      if (x > y) return descending ? -1 : 1;
      return 0;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.classList.add("jz-sort");
      th.setAttribute("role", "button");
      th.setAttribute("tabindex", "0");
      th.addEventListener("click", function () { sortTable(table, index, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, index, th); }
      });
    });
  }

  function applyFilter(select) {
    var table = document.getElementById(select.getAttribute("data-table"));
    var key = select.getAttribute("data-key");
    var value = select.value;
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var keep = value === "" || row.getAttribute("data-" + key) === value;
      row.hidden = !keep;
      if (keep) shown += 1;
    });
    var count = document.getElementById(select.getAttribute("data-table") + "-count");
    if (count) count.textContent = shown + " rows";
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.jz-sortable"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("select.jz-filter"), function (s) {
      s.addEventListener("change", function () { applyFilter(s); });
      applyFilter(s);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
