// The run viewer: a bird's-eye canvas, time series and decision log of re-simulated runs, one or two
// side by side on one time slider. Data come from JSON script elements with id "run-" + key
// (or, for large reports, from files beside the report that call window.drivestackRun(K, data)).
// Every text from data goes through textContent, never innerHTML.
(function () {
  var viewer = document.getElementById("viewer");
  if (!viewer) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var VIEW = 60; // width of the view around the ego [m]
  var OVERLAP = "rgb(255,0,0)";
  var panesBox = viewer.querySelector(".viewer-panes");
  var slider = viewer.querySelector(".viewer-slider");
  var clock = viewer.querySelector(".viewer-clock");
  var other = viewer.querySelector(".viewer-other");
  var playButton = viewer.querySelector("[data-act=play]");
  var cache = {};
  var waiting = {};
  var panes = [];
  var timer = null;

  window.drivestackRun = function (key, data) {
    cache[key] = data;
    (waiting[key] || []).forEach(function (done) { done(data); });
    delete waiting[key];
  };
  function load(key, done) {
    if (cache[key]) { done(cache[key]); return; }
    var inline = document.getElementById("run-" + key);
    if (inline) { cache[key] = JSON.parse(inline.textContent); done(cache[key]); return; }
    var folder = document.body.getAttribute("data-runs");
    if (!folder) { done(null); return; }
    (waiting[key] = waiting[key] || []).push(done);
    var script = document.createElement("script");
    script.src = folder + "/" + encodeURIComponent(key) + ".js";
    script.onerror = function () { window.drivestackRun(key, null); };
    document.body.appendChild(script);
  }
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function svgElement(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    return node;
  }
  function corners(x, y, yaw, length, width) {
    var c = Math.cos(yaw), s = Math.sin(yaw), l = length / 2, w = width / 2;
    return [[l, w], [-l, w], [-l, -w], [l, -w]].map(function (p) {
      return [x + c * p[0] - s * p[1], y + s * p[0] + c * p[1]];
    });
  }

  // --- one pane: canvas, event line, series, decision log ---------------------------------------
  function Pane(key, data) {
    this.key = key;
    this.data = data;
    this.count = data.steps.length;
    this.root = element("div", "pane");
    this.root.setAttribute("data-run", key);
    this.root.appendChild(element("div", "pane-title", data.title));
    this.sentence = element("p", "event", data.events.text.length ? data.events.text.join("; ") : "no failure event");
    this.root.appendChild(this.sentence);
    var body = element("div", "pane-body");
    this.canvas = element("canvas", "bev");
    this.canvas.width = 560;
    this.canvas.height = 380;
    body.appendChild(this.canvas);
    this.log = element("ol", "log");
    var self = this;
    this.entries = data.decisions.map(function (entry) {
      var item = element("li");
      item.setAttribute("data-step", data.steps[entry[0]]);
      item.appendChild(element("span", "t", (data.steps[entry[0]] * data.dt).toFixed(1) + " s"));
      item.appendChild(document.createTextNode(" " + entry[1]));
      self.log.appendChild(item);
      return [entry[0], item];
    });
    if (!data.decisions.length) { this.log.appendChild(element("li", "note", "the planner states no decisions")); }
    data.failures.forEach(function (failure) { self.log.appendChild(element("li", "failure", failure)); });
    body.appendChild(this.log);
    this.root.appendChild(body);
    this.root.appendChild(this.series());
  }
  Pane.prototype.series = function () {
    var data = this.data, width = 560, rowHeight = 44, flagHeight = 9, left = 120;
    var names = Object.keys(data.series), flags = Object.keys(data.flags);
    var height = names.length * rowHeight + flags.length * flagHeight + 14;
    var svg = svgElement("svg", { "class": "series", width: width, height: height, viewBox: "0 0 " + width + " " + height });
    var span = Math.max(this.count - 1, 1), plotWidth = width - left - 6;
    this.xOf = function (i) { return left + (i / span) * plotWidth; };
    var xOf = this.xOf;
    names.forEach(function (name, row) {
      var values = data.series[name], top = row * rowHeight + 4, bottom = top + rowHeight - 10;
      var finite = values.filter(function (v) { return v !== null; });
      var low = Math.min.apply(null, finite.concat([0])), high = Math.max.apply(null, finite.concat([0]));
      if (high - low < 1e-6) { high = low + 1; }
      var label = svgElement("text", { x: 2, y: top + 12, "class": "label" });
      label.textContent = name;
      svg.appendChild(label);
      var range = svgElement("text", { x: 2, y: top + 26, "class": "range" });
      range.textContent = low.toFixed(1) + " … " + high.toFixed(1);
      svg.appendChild(range);
      svg.appendChild(svgElement("rect", { x: left, y: top, width: plotWidth, height: bottom - top, "class": "frame" }));
      var points = [];
      values.forEach(function (v, i) {
        if (v !== null) { points.push(xOf(i).toFixed(1) + "," + (bottom - ((v - low) / (high - low)) * (bottom - top)).toFixed(1)); }
      });
      svg.appendChild(svgElement("polyline", { points: points.join(" "), "class": "line" }));
    });
    var flagTop = names.length * rowHeight + 4;
    flags.forEach(function (name, row) {
      var y = flagTop + row * flagHeight;
      var label = svgElement("text", { x: 2, y: y + 8, "class": "flag-label" });
      label.textContent = name;
      svg.appendChild(label);
      data.flags[name].forEach(function (on, i) {
        if (on) {
          svg.appendChild(svgElement("rect", { x: xOf(i) - 0.5, y: y + 1, width: Math.max(plotWidth / span, 1), height: flagHeight - 2, "class": "flag " + (name === "goal" ? "good" : "bad") }));
        }
      });
    });
    data.events.marks.forEach(function (event) {
      var mark = svgElement("line", { x1: xOf(event.index), x2: xOf(event.index), y1: 0, y2: height, "class": "event-mark", "data-step": data.steps[event.index], "data-kind": event.kind });
      var tip = svgElement("title", {});
      tip.textContent = event.kind + " at step " + data.steps[event.index];
      mark.appendChild(tip);
      svg.appendChild(mark);
    });
    this.cursor = svgElement("line", { x1: left, x2: left, y1: 0, y2: height, "class": "cursor" });
    svg.appendChild(this.cursor);
    return svg;
  };
  Pane.prototype.show = function (requested) {
    var i = Math.min(requested, this.count - 1), data = this.data, step = data.steps[i];
    this.root.setAttribute("data-step", step);
    this.canvas.setAttribute("data-step", step);
    this.cursor.setAttribute("x1", this.xOf(i));
    this.cursor.setAttribute("x2", this.xOf(i));
    this.cursor.setAttribute("data-step", step);
    this.draw(i);
    var current = null;
    this.entries.forEach(function (entry) {
      entry[1].classList.remove("current");
      if (entry[0] <= i) { current = entry[1]; }
    });
    if (current) {
      current.classList.add("current");
      this.log.scrollTop = current.offsetTop - this.log.clientHeight / 3; // the log is the items' offsetParent
    }
  };
  Pane.prototype.draw = function (i) {
    var data = this.data, canvas = this.canvas, ctx = canvas.getContext("2d"), palette = data.palette;
    var cx = data.ego.x[i], cy = data.ego.y[i], scale = canvas.width / VIEW;
    canvas.setAttribute("data-cx", cx);
    canvas.setAttribute("data-cy", cy);
    canvas.setAttribute("data-scale", scale);
    function px(x, y) { return [canvas.width / 2 + (x - cx) * scale, canvas.height / 2 - (y - cy) * scale]; }
    function path(flat) {
      ctx.beginPath();
      for (var k = 0; k + 1 < flat.length; k += 2) {
        var p = px(flat[k], flat[k + 1]);
        if (k === 0) { ctx.moveTo(p[0], p[1]); } else { ctx.lineTo(p[0], p[1]); }
      }
    }
    function polygon(points) {
      ctx.beginPath();
      points.forEach(function (point, k) {
        var p = px(point[0], point[1]);
        if (k === 0) { ctx.moveTo(p[0], p[1]); } else { ctx.lineTo(p[0], p[1]); }
      });
      ctx.closePath();
    }
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 1;
    data.lanes.forEach(function (lane) {
      path(lane); ctx.closePath();
      ctx.fillStyle = "#e9ecef"; ctx.fill();
      ctx.strokeStyle = "#adb5bd"; ctx.stroke();
    });
    data.goals.forEach(function (goal) {
      path(goal); ctx.closePath();
      ctx.fillStyle = "rgba(43,138,62,0.25)"; ctx.fill();
      ctx.strokeStyle = palette.goal; ctx.stroke();
    });
    data.lights.forEach(function (light) {
      var color = palette[light.c.charAt(Math.min(i, light.c.length - 1))] || "#868e96";
      ctx.strokeStyle = color; ctx.lineWidth = 4;
      light.bars.forEach(function (bar) { path(bar); ctx.stroke(); });
      var p = px(light.x, light.y);
      ctx.beginPath(); ctx.arc(p[0], p[1], 5, 0, 2 * Math.PI);
      ctx.fillStyle = color; ctx.fill(); ctx.lineWidth = 1; ctx.strokeStyle = "#212529"; ctx.stroke();
    });
    if (data.human) {
      path(data.human);
      ctx.setLineDash([5, 4]); ctx.strokeStyle = "#495057"; ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
    }
    var ego = corners(data.ego.x[i], data.ego.y[i], data.ego.yaw[i], data.ego.l, data.ego.w);
    var hits = [];
    ctx.font = "11px system-ui, sans-serif";
    data.objects.forEach(function (object) {
      if (object.x[i] === null) { return; }
      var box = corners(object.x[i], object.y[i], object.yaw[i], object.l, object.w);
      var hit = object.hit.indexOf(i) >= 0;
      polygon(box);
      ctx.fillStyle = palette[object.group] || "#6c757d"; ctx.fill();
      ctx.lineWidth = hit ? 3 : 1; ctx.strokeStyle = hit ? OVERLAP : "#ffffff"; ctx.stroke();
      if (hit) { hits.push(box); }
      var p = px(object.x[i], object.y[i]);
      ctx.fillStyle = "#212529";
      ctx.fillText(String(object.id), p[0] + 6, p[1] - 6);
    });
    var plan = data.plans[i];
    if (plan) { path(plan); ctx.strokeStyle = "#1971c2"; ctx.lineWidth = 2.5; ctx.stroke(); }
    polygon(ego);
    ctx.fillStyle = "rgba(201,42,42,0.55)"; ctx.fill();
    ctx.lineWidth = 2; ctx.strokeStyle = hits.length ? OVERLAP : palette.ego; ctx.stroke();
    hits.forEach(function (box) { // the overlap itself, in pure red
      ctx.save(); polygon(ego); ctx.clip(); polygon(box); ctx.fillStyle = OVERLAP; ctx.fill(); ctx.restore();
    });
    ctx.fillStyle = "#212529";
    ctx.fillText("t = " + (data.steps[i] * data.dt).toFixed(1) + " s  step " + data.steps[i] + "  v = " + (data.series[Object.keys(data.series)[0]][i] || 0).toFixed(1) + " m/s", 8, 16);
  };

  // --- the viewer: which runs, the slider, play -----------------------------------------------------
  function length() { return Math.max.apply(null, panes.map(function (pane) { return pane.count; }).concat([1])); }
  function show(i) {
    slider.value = i;
    panes.forEach(function (pane) { pane.show(i); });
    var first = panes[0];
    if (first) {
      var k = Math.min(i, first.count - 1);
      clock.textContent = "step " + first.data.steps[k] + " · t = " + (first.data.steps[k] * first.data.dt).toFixed(1) + " s";
    }
    viewer.setAttribute("data-index", i);
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playButton.textContent = "▶ play";
    viewer.removeAttribute("data-playing");
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (+slider.value >= length() - 1) { show(0); }
    var dt = panes.length ? panes[0].data.dt : 0.1;
    timer = setInterval(function () {
      var next = +slider.value + 1;
      if (next >= length()) { stop(); return; }
      show(next);
    }, Math.max(dt * 1000, 20));
    playButton.textContent = "❚❚ pause";
    viewer.setAttribute("data-playing", "1");
  }
  function open(keys) {
    stop();
    var loaded = [];
    var notes = [];
    var pending = keys.length;
    keys.forEach(function (key, k) {
      load(key, function (data) {
        loaded[k] = data && !data.unavailable ? new Pane(key, data) : null;
        if (data && data.unavailable) { notes.push(data.title + ": " + data.unavailable); }
        pending -= 1;
        if (pending === 0) { start(keys, loaded, notes); }
      });
    });
  }
  function start(keys, loaded, notes) {
    panes = loaded.filter(function (pane) { return pane !== null; });
    while (panesBox.firstChild) { panesBox.removeChild(panesBox.firstChild); }
    panes.forEach(function (pane) { panesBox.appendChild(pane.root); });
    panesBox.classList.toggle("two", panes.length > 1);
    notes.forEach(function (note) { panesBox.appendChild(element("p", "note", note)); });
    if (!panes.length && !notes.length) { panesBox.appendChild(element("p", "note", "this run was not re-simulated for the report")); }
    viewer.querySelector(".viewer-title").textContent = panes.length ? panes[0].data.title : "";
    while (other.options.length > 1) { other.remove(1); }
    if (panes.length) {
      panes[0].data.partners.forEach(function (partner) {
        var option = element("option", "", partner[1]);
        option.value = partner[0];
        if (panes[1] && String(panes[1].key) === String(partner[0])) { option.selected = true; }
        other.appendChild(option);
      });
    }
    viewer.setAttribute("data-runs", keys.join(" "));
    viewer.hidden = false;
    slider.max = length() - 1;
    show(0);
    viewer.scrollIntoView();
  }
  playButton.addEventListener("click", play);
  viewer.querySelector("[data-act=prev]").addEventListener("click", function () { stop(); show(Math.max(+slider.value - 1, 0)); });
  viewer.querySelector("[data-act=next]").addEventListener("click", function () { stop(); show(Math.min(+slider.value + 1, length() - 1)); });
  viewer.querySelector("[data-act=close]").addEventListener("click", function () { stop(); viewer.hidden = true; });
  slider.addEventListener("input", function () { stop(); show(+slider.value); });
  other.addEventListener("change", function () {
    var first = panes.length ? panes[0].key : null;
    if (first !== null) { open(other.value ? [first, other.value] : [first]); }
  });
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-open]") : null;
    if (target) { open(target.getAttribute("data-open").split(" ")); }
  });
})();
