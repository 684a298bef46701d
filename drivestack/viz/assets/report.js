// Sorting and filtering of the report's tables (no dependencies; runs offline).
(function () {
  function value(cell) {
    var raw = cell.getAttribute("data-value");
    if (raw === null) { return cell.textContent.trim().toLowerCase(); }
    if (raw === "") { return null; }
    var number = parseFloat(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }
  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === typeof b) { return a < b ? -1 : 1; }
    return typeof a === "number" ? -1 : 1;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (header, column) {
      header.addEventListener("click", function () {
        var ascending = !header.classList.contains("asc");
        headers.forEach(function (other) { other.classList.remove("asc", "desc"); });
        header.classList.add(ascending ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var order = compare(value(r.cells[column]), value(s.cells[column]));
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  function names(select, cell) { // a cell's values: its text, or its list split by the select's data-split
    var split = select.getAttribute("data-split");
    return split ? cell.textContent.split(split) : [cell.textContent];
  }
  document.querySelectorAll(".filters").forEach(function (bar) {
    var table = document.getElementById(bar.getAttribute("data-table"));
    var text = bar.querySelector("input");
    var selects = bar.querySelectorAll("select");
    var count = bar.querySelector(".count");
    var keys = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.getAttribute("data-key"); });
    selects.forEach(function (select) {
      var column = keys.indexOf(select.getAttribute("data-key"));
      var seen = {};
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        names(select, row.cells[column]).forEach(function (name) { if (name) { seen[name] = true; } });
      });
      Object.keys(seen).sort().forEach(function (name) {
        var option = document.createElement("option");
        option.value = name; option.textContent = name; select.appendChild(option);
      });
    });
    function apply() {
      var query = text.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var visible = !query || row.textContent.toLowerCase().indexOf(query) >= 0;
        selects.forEach(function (select) {
          var column = keys.indexOf(select.getAttribute("data-key"));
          if (select.value && names(select, row.cells[column]).indexOf(select.value) < 0) { visible = false; }
        });
        row.style.display = visible ? "" : "none";
        if (visible) { shown += 1; }
      });
      count.textContent = shown + " of " + table.tBodies[0].rows.length + " rows";
    }
    text.addEventListener("input", apply);
    selects.forEach(function (select) { select.addEventListener("change", apply); });
    apply();
  });
})();
