// The explore view of the AF_UNIX conformance matrix: filters over every scenario x backend cell,
// and a cell's diff opened inline. Data: site/data.js calls afunixData() once; a backend's diffs
// in an area come from site/diffs/<backend>-<area>.js (afunixDetails), loaded the first time one of
// those cells is opened.
// No library, no network: the page works from file:// and any static host.
"use strict";

var D = null;                 // the grid (see runners/conformlib/site/__init__.py, grid_data)
var LETTER = {};              // status letter -> status name
var deviationOf = [];         // per backend: scenario index -> its deviation's signature
var order = [];               // scenario indices, area by area
var details = {};             // "backend-area" -> {scenario index: detail}
var waiting = {};             // "backend-area" -> callbacks waiting for those details
var PAGE = 200;               // rows rendered at a time
var shown = PAGE;
var state = null;
var openKey = null;           // "b:s" of the open cell

function $(id) { return document.getElementById(id); }
function el(tag, attrs, children) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) {
    if (k === "text") e.textContent = attrs[k];
    else if (k === "cls") e.className = attrs[k];
    else e.setAttribute(k, attrs[k]);
  }
  (children || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
  return e;
}
function fileName(scenario) { return scenario.replace(/\//g, "~") + ".json"; }

// ---- data -----------------------------------------------------------------------------------

function afunixData(data) {
  D = data;
  for (var name in D.statuses) LETTER[D.statuses[name]] = name;
  D.backends.forEach(function (b, bi) {
    var m = {};
    D.deviations[bi].forEach(function (d) { d.cells.forEach(function (si) { m[si] = d.signature; }); });
    deviationOf.push(m);
  });
  order = D.scenarios.map(function (_, i) { return i; });
  order.sort(function (a, b) { return (D.scenarios[a][1] - D.scenarios[b][1]) || (a - b); });
  buildFilters();
  window.addEventListener("hashchange", route);
  route();
  document.documentElement.setAttribute("data-ready", "1");
  window.afunixReadyAt = performance.now();
  requestAnimationFrame(function () { setTimeout(function () { window.afunixPaintedAt = performance.now(); }, 0); });
}

function afunixDetails(bi, ai, d) {
  var key = bi + "-" + ai;
  details[key] = d;
  (waiting[key] || []).forEach(function (f) { f(); });
  delete waiting[key];
}

function withDetails(key, done, failed) {
  if (details[key]) return done();
  if (waiting[key]) return waiting[key].push(done);
  waiting[key] = [done];
  var s = el("script", {src: "site/diffs/" + key + ".js"});
  s.onerror = function () { delete waiting[key]; failed(); };
  document.body.appendChild(s);
}

function cell(bi, si) {
  var letter = D.cells[bi].charAt(si);
  if (letter === "." || letter === "") return null;
  var status = LETTER[letter], x = D.extra[bi][si];
  return {status: status, verdict: x ? LETTER[x[0]] : status, unexpected: x ? x[1] === 1 : false,
          change: x ? x[2] : "", message: x && x[3] >= 0 ? D.strings[x[3]] : "", extra: !!x};
}

// ---- filters --------------------------------------------------------------------------------

var STATUS_OPTIONS = [["", "any status"], ["deviating", "deviating (not PASS, UNSUPPORTED)"]];

function buildFilters() {
  var box = $("f-backends");
  D.backends.forEach(function (b, bi) {
    var cb = el("input", {type: "checkbox", id: "f-b-" + bi, value: b.name});
    cb.checked = true;
    cb.addEventListener("change", changed);
    box.appendChild(el("label", {title: b.description}, [cb, " " + b.name]));
  });
  $("f-all").addEventListener("click", function () { setBackends(true); });
  $("f-none").addEventListener("click", function () { setBackends(false); });
  var area = $("f-area");
  area.appendChild(el("option", {value: "", text: "all areas"}));
  D.areas.forEach(function (a) { area.appendChild(el("option", {value: a, text: a})); });
  var st = $("f-status");
  STATUS_OPTIONS.forEach(function (o) { st.appendChild(el("option", {value: o[0], text: o[1]})); });
  Object.keys(D.statuses).forEach(function (s) { st.appendChild(el("option", {value: s, text: s})); });
  st.appendChild(el("option", {value: "changed", text: "changed since the previous run"}));
  ["regressed", "fixed", "changed", "new"].forEach(function (c) { st.appendChild(el("option", {value: "change:" + c, text: "  " + (c === "changed" ? "deviation changed" : c)})); });
  [area, st, $("f-native"), $("f-unexpected")].forEach(function (e) { e.addEventListener("change", changed); });
  $("f-q").addEventListener("input", changed);
  $("more").addEventListener("click", function () { shown += PAGE; render(); });
  var grid = $("grid");
  grid.addEventListener("click", function (ev) {
    var td = ev.target.closest("td[data-b]");
    if (td && !ev.target.closest("a")) toggle(td);
  });
  grid.addEventListener("keydown", keys);
}

function setBackends(on) {
  D.backends.forEach(function (_, bi) { $("f-b-" + bi).checked = on; });
  changed();
}

function readForm() {
  var s = {backends: [], area: $("f-area").value, status: $("f-status").value, q: $("f-q").value.trim(),
           native: $("f-native").checked, unexpected: $("f-unexpected").checked,
           deviation: state ? state.deviation : "", scenarios: state ? state.scenarios : null, open: ""};
  D.backends.forEach(function (_, bi) { if ($("f-b-" + bi).checked) s.backends.push(bi); });
  return s;
}

function changed() {
  state = readForm();
  shown = PAGE;
  openKey = null;
  history.replaceState(null, "", toHash(state));
  render();
}

function toHash(s) {
  var p = new URLSearchParams();
  if (s.backends.length !== D.backends.length) p.set("backend", s.backends.map(function (bi) { return D.backends[bi].name; }).join(","));
  if (s.area) p.set("area", s.area);
  if (s.status) p.set("status", s.status);
  if (s.q) p.set("q", s.q);
  if (s.native) p.set("native", "1");
  if (s.unexpected) p.set("unexpected", "1");
  if (s.deviation) p.set("deviation", s.deviation);
  if (s.scenarios) p.set("scenarios", Array.from(s.scenarios).join(","));
  var q = p.toString();
  return "#explore" + (q ? "?" + q : "");
}

function fromHash(hash) {
  var p = new URLSearchParams(hash.indexOf("?") >= 0 ? hash.slice(hash.indexOf("?") + 1) : "");
  var names = p.get("backend");
  var s = {backends: [], area: p.get("area") || "", status: p.get("status") || "", q: p.get("q") || "",
           native: p.get("native") === "1", unexpected: p.get("unexpected") === "1",
           deviation: p.get("deviation") || "", open: p.get("open") || "",
           scenarios: p.get("scenarios") ? new Set(p.get("scenarios").split(",")) : null};
  var wanted = names ? names.split(",") : null;
  D.backends.forEach(function (b, bi) { if (!wanted || wanted.indexOf(b.name) >= 0) s.backends.push(bi); });
  return s;
}

function writeForm(s) {
  D.backends.forEach(function (_, bi) { $("f-b-" + bi).checked = s.backends.indexOf(bi) >= 0; });
  $("f-area").value = s.area;
  $("f-status").value = s.status;
  $("f-q").value = s.q;
  $("f-native").checked = s.native;
  $("f-unexpected").checked = s.unexpected;
}

function matches(s, bi, si, c) {
  if (!c) return false;
  if (s.area && D.areas[D.scenarios[si][1]] !== s.area) return false;
  if (s.status === "deviating") { if (c.verdict === "PASS" || c.verdict === "UNSUPPORTED") return false; }
  else if (s.status === "changed") { if (!c.change) return false; }
  else if (s.status.indexOf("change:") === 0) { if (c.change !== s.status.slice(7)) return false; }
  else if (s.status && c.status !== s.status) return false;
  if (s.unexpected && !c.unexpected) return false;
  if (s.native) {
    var n = D.oracle === null ? null : cell(D.oracle, si);
    if (D.oracle === null ? c.verdict === "PASS" : (n && n.verdict === c.verdict)) return false;
  }
  if (s.deviation && deviationOf[bi][si] !== s.deviation) return false;
  if (s.scenarios && !s.scenarios.has(D.scenarios[si][0])) return false;
  if (s.q) {
    var q = s.q.toLowerCase();
    if (D.scenarios[si][0].toLowerCase().indexOf(q) < 0 && c.message.toLowerCase().indexOf(q) < 0
        && (deviationOf[bi][si] || "").toLowerCase().indexOf(q) < 0) return false;
  }
  return true;
}

// ---- views ----------------------------------------------------------------------------------

function route() {
  var explore = location.hash.indexOf("#explore") === 0;
  $("overview").hidden = explore;
  $("explore").hidden = !explore;
  $("nav-overview").setAttribute("aria-current", explore ? "false" : "page");
  $("nav-explore").setAttribute("aria-current", explore ? "page" : "false");
  if (!explore) return;
  state = fromHash(location.hash);
  shown = PAGE;
  openKey = null;
  writeForm(state);
  var open = state.open;
  state.open = "";
  render();
  if (open) openByKey(open);
}

function chips() {
  var box = $("chips");
  box.textContent = "";
  function chip(label, clear) {
    var b = el("button", {type: "button", "aria-label": "remove filter " + label, text: "\u00d7"});
    b.addEventListener("click", function () { clear(); changed(); });
    box.appendChild(el("span", {cls: "chip"}, [label, b]));
  }
  if (state.deviation) chip("deviation: " + state.deviation, function () { state.deviation = ""; });
  if (state.scenarios) chip("scenarios: " + Array.from(state.scenarios).join(", "), function () { state.scenarios = null; });
}

function render() {
  chips();
  var s = state, cols = s.backends, rows = [], cells = 0, byStatus = {};
  order.forEach(function (si) {
    var hits = 0;
    cols.forEach(function (bi) {
      var c = cell(bi, si);
      if (matches(s, bi, si, c)) { hits++; byStatus[c.status] = (byStatus[c.status] || 0) + 1; }
    });
    if (hits) { rows.push(si); cells += hits; }
  });
  var mc = $("match-count");
  mc.dataset.cells = cells;
  mc.dataset.scenarios = rows.length;
  mc.textContent = cells + " cell" + (cells === 1 ? "" : "s") + " in " + rows.length + " scenario"
    + (rows.length === 1 ? "" : "s") + " match" + (rows.length > shown ? " (showing the first " + shown + " scenarios)" : "");
  var ul = $("match-statuses");
  ul.textContent = "";
  Object.keys(D.statuses).forEach(function (st) {
    if (byStatus[st]) ul.appendChild(el("li", {cls: "st-" + st, "data-status": st, text: st + " " + byStatus[st]}));
  });

  var grid = $("grid");
  grid.textContent = "";
  var head = el("tr", {}, [el("th", {scope: "col", text: "scenario"})]);
  cols.forEach(function (bi) {
    var b = D.backends[bi];
    head.appendChild(el("th", {scope: "col", cls: "backend", title: b.description + (b.version ? " (" + b.version + ")" : ""), text: b.name}));
  });
  grid.appendChild(el("thead", {}, [head]));
  var body = el("tbody"), lastArea = -1, first = true;
  rows.slice(0, shown).forEach(function (si) {
    var sc = D.scenarios[si];
    if (sc[1] !== lastArea) {
      lastArea = sc[1];
      body.appendChild(el("tr", {cls: "area"}, [el("th", {colspan: cols.length + 1, scope: "rowgroup", text: D.areas[sc[1]]})]));
    }
    var tr = el("tr", {cls: "data"}, [el("th", {scope: "row", title: sc[0], text: sc[0].slice(sc[0].indexOf(".") + 1)})]);
    cols.forEach(function (bi) {
      var c = cell(bi, si);
      if (!c) { tr.appendChild(el("td", {cls: "nores", role: "gridcell", text: "-"})); return; }
      var hit = matches(s, bi, si, c);
      var td = el("td", {role: "gridcell", tabindex: first ? "0" : "-1", "data-b": bi, "data-s": si,
                         cls: "st st-" + c.status + (hit ? "" : " dim"), "aria-expanded": "false",
                         title: (c.message || c.status) + (c.unexpected ? " (unexpected)" : "")}, [c.status]);
      if (c.change) td.appendChild(el("span", {cls: "mark", text: " \u00b7 " + c.change}));
      first = false;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  grid.appendChild(body);
  var more = $("more");
  more.hidden = rows.length <= shown;
  more.textContent = "Show " + Math.min(PAGE, rows.length - shown) + " more (" + (rows.length - shown) + " left)";
  grid.setAttribute("aria-rowcount", rows.length + 1);
}

// ---- keyboard -------------------------------------------------------------------------------

function focusCell(td) {
  if (!td) return;
  var old = $("grid").querySelector("td[tabindex='0']");
  if (old) old.setAttribute("tabindex", "-1");
  td.setAttribute("tabindex", "0");
  td.focus();
}

function keys(ev) {
  var td = ev.target.closest ? ev.target.closest("td[data-b]") : null;
  if (ev.key === "Escape") {
    var open = $("grid").querySelector("td.open");
    if (open) { closeDetail(); focusCell(open); ev.preventDefault(); }
    return;
  }
  if (!td || ev.target !== td) return;
  var rows = Array.from($("grid").querySelectorAll("tbody tr.data"));
  var tr = td.parentNode, r = rows.indexOf(tr);
  var tds = Array.from(tr.querySelectorAll("td")), c = tds.indexOf(td);
  function at(row, col) {
    if (row < 0 || row >= rows.length) return null;
    var t = rows[row].querySelectorAll("td")[col];
    return t && t.hasAttribute("data-b") ? t : null;
  }
  var next = null;
  switch (ev.key) {
    case "ArrowRight": next = at(r, c + 1); break;
    case "ArrowLeft": next = at(r, c - 1); break;
    case "ArrowDown": next = at(r + 1, c); break;
    case "ArrowUp": next = at(r - 1, c); break;
    case "Home": next = at(r, 0); break;
    case "End": next = at(r, tds.length - 1); break;
    case "PageDown": next = at(Math.min(r + 10, rows.length - 1), c); break;
    case "PageUp": next = at(Math.max(r - 10, 0), c); break;
    case "Enter": case " ": toggle(td); ev.preventDefault(); return;
    default: return;
  }
  ev.preventDefault();
  focusCell(next);
}

// ---- an open cell ---------------------------------------------------------------------------

function closeDetail() {
  var row = $("grid").querySelector("tr.detail-row");
  if (row) row.parentNode.removeChild(row);
  var open = $("grid").querySelector("td.open");
  if (open) { open.classList.remove("open"); open.setAttribute("aria-expanded", "false"); }
  openKey = null;
}

function toggle(td) {
  var key = td.dataset.b + ":" + td.dataset.s;
  var was = openKey;
  closeDetail();
  if (was === key) return;
  openKey = key;
  focusCell(td);
  td.classList.add("open");
  td.setAttribute("aria-expanded", "true");
  var bi = +td.dataset.b, si = +td.dataset.s;
  var box = el("div", {cls: "detail", role: "region", id: "detail",
                       "aria-label": D.backends[bi].name + " / " + D.scenarios[si][0], text: "loading\u2026"});
  var cols = td.parentNode.children.length;
  var row = el("tr", {cls: "detail-row"}, [el("td", {colspan: cols}, [box])]);
  td.parentNode.parentNode.insertBefore(row, td.parentNode.nextSibling);
  var c = cell(bi, si), file = bi + "-" + D.scenarios[si][1];
  function show() { if (openKey === key) fill(box, bi, si, c, c.extra ? details[file][si] : null); }
  if (!c.extra) return show();
  withDetails(file, show, function () { box.textContent = "Could not load site/diffs/" + file + ".js."; });
}

function openByKey(key) {
  var i = key.indexOf(":");
  var bi = -1, name = key.slice(0, i), scenario = key.slice(i + 1);
  D.backends.forEach(function (b, n) { if (b.name === name) bi = n; });
  var si = D.scenarios.findIndex(function (s) { return s[0] === scenario; });
  var td = $("grid").querySelector("td[data-b='" + bi + "'][data-s='" + si + "']");
  if (td) { toggle(td); td.scrollIntoView({block: "center"}); }
}

function derivedLinks(bi, si) {
  // A cell with nothing to say (a PASS) has no record; its files follow the naming rules.
  var b = D.backends[bi], sc = D.scenarios[si], name = fileName(sc[0]), links = [];
  if (b.traces) {
    links.push(["observed trace", "traces/" + b.name + "/" + name]);
    links.push(["program output", "traces/" + b.name + "/" + name.slice(0, -5) + ".log"]);
  }
  links.push(["verdict and diff", "diffs/" + b.name + "/" + name.slice(0, -5) + ".txt"]);
  if (D.oracle !== null && D.oracle !== bi && D.backends[D.oracle].traces)
    links.push(["oracle trace", "traces/" + D.backends[D.oracle].name + "/" + name]);
  if (sc[2]) {
    var file = sc[2].slice(0, sc[2].lastIndexOf(":")), line = sc[2].slice(sc[2].lastIndexOf(":") + 1);
    links.push(["source (" + sc[2] + ")", D.base + "/" + file + "#L" + line]);
  }
  return links;
}

function stepsTable(block) {
  var t = el("table", {cls: "steps"}, [el("thead", {}, [el("tr", {}, ["step", "operation", "expected (Linux)", "observed", ""].map(function (h) { return el("th", {scope: "col", text: h}); }))])]);
  var body = el("tbody");
  block.items.forEach(function (it) {
    var tag = it.role === "cause" ? el("span", {cls: "tag cause", text: "cause"})
            : it.role === "knock-on" ? el("span", {cls: "tag", text: "knock-on", title: "follows from an earlier difference: probably a consequence of it"})
            : it.role === "first" ? el("span", {cls: "tag", text: "first difference of this actor"}) : null;
    if (it.kind === "step")
      body.appendChild(el("tr", {cls: "role-" + it.role}, [el("td", {text: String(it.step)}), el("td", {text: it.op}),
        marked(it.expected, it.observed), marked(it.observed, it.expected), el("td", {}, [tag])]));
    else if (it.kind === "end" || it.kind === "identity")
      body.appendChild(el("tr", {cls: "role-" + it.role}, [el("td", {text: it.kind}), el("td", {text: ""}),
        el("td", {text: it.expected}), el("td", {text: it.observed}), el("td", {}, [tag])]));
    else
      body.appendChild(el("tr", {}, [el("td", {colspan: 5, text: it.text})]));
  });
  t.appendChild(body);
  return t;
}

// An observation with the fields that differ from the other side's marked; the text stays exactly
// the trace's line (when it cannot be rebuilt byte for byte it is shown unmarked).
function marked(line, other) {
  var td = el("td");
  var a, b;
  try { a = JSON.parse(line); b = JSON.parse(other); } catch (e) { a = null; }
  if (!a || !b || typeof a !== "object" || typeof b !== "object") { td.textContent = line; return td; }
  var parts = Object.keys(a).map(function (k) {
    return {text: JSON.stringify(k) + ": " + JSON.stringify(a[k]), differs: JSON.stringify(a[k]) !== JSON.stringify(b[k])};
  });
  if ("{" + parts.map(function (p) { return p.text; }).join(", ") + "}" !== line) { td.textContent = line; return td; }
  td.appendChild(document.createTextNode("{"));
  parts.forEach(function (p, i) {
    if (i) td.appendChild(document.createTextNode(", "));
    td.appendChild(p.differs ? el("mark", {text: p.text}) : document.createTextNode(p.text));
  });
  td.appendChild(document.createTextNode("}"));
  return td;
}

function causeText(c) {
  if (c.kind === "note") return c.text;
  var where = "actor " + c.actor + (c.identity ? " (" + c.identity + ")" : "") + ", "
    + (c.kind === "step" ? "step " + c.step + " (" + c.op + ")" : c.kind);
  // The diff's own line for the cause (what differs, by the call's name) when it has one.
  return where + ":" + (c.description ? " " + c.description : "") + "\nexpected: " + c.expected + "\nobserved: " + c.observed;
}

function diffBlocks(box, diff) {
  diff.blocks.forEach(function (b) {
    if (b.heading) box.appendChild(el("h4", {text: b.heading}));
    else if (b.note) box.appendChild(el("p", {cls: "note", text: b.note}));
    else {
      box.appendChild(el("p", {cls: "actor", text: "actor " + b.actor + (b.identity ? " (" + b.identity + ")" : "")}));
      box.appendChild(stepsTable(b));
    }
  });
}

function linkList(links) {
  return el("ul", {cls: "links"}, links.map(function (l) { return el("li", {}, [el("a", {href: l[1], text: l[0]})]); }));
}

function fill(box, bi, si, c, d) {
  box.textContent = "";
  box.setAttribute("data-loaded", "1");
  var title = D.backends[bi].name + " / " + D.scenarios[si][0] + ": " + c.status
    + (c.verdict !== c.status ? " (verdict " + c.verdict + ")" : "") + (c.change ? ", " + c.change + " since the previous run" : "");
  box.appendChild(el("h3", {text: title}));
  if (!d) {
    box.appendChild(el("p", {cls: "message", text: c.status === "PASS" ? "Same as Linux." : c.message}));
    box.appendChild(linkList(derivedLinks(bi, si)));
    return;
  }
  if (d.diff.cause) box.appendChild(el("p", {cls: "cause", id: "cause"}, [el("span", {cls: "tag cause", text: "cause"}), " " + causeText(d.diff.cause)]));
  if (d.message) box.appendChild(el("p", {cls: "message", id: "message", text: d.message}));
  if (d.finding) box.appendChild(el("p", {}, ["Finding: ", d.finding.url ? el("a", {href: d.finding.url, text: d.finding.id}) : d.finding.id,
                                              d.finding.title ? " " + d.finding.title : ""]));
  if (d.reason) box.appendChild(el("p", {text: "Reason: " + d.reason}));
  if (d.signature) box.appendChild(el("p", {text: "Signature: " + d.signature}));
  diffBlocks(box, d.diff);
  if (d.evidence) { box.appendChild(el("h4", {text: "evidence (the attackers' observations, not judged)"})); box.appendChild(el("pre", {text: d.evidence})); }
  (d.attempts || []).forEach(function (a, i) {
    var div = el("div", {cls: "attempt"}, [el("h4", {text: "attempt " + (i + 1) + ": " + a.verdict + (a.message ? ": " + a.message : "")})]);
    diffBlocks(div, a.diff);
    if (a.trace) div.appendChild(linkList([["attempt " + (i + 1) + " trace", a.trace]]));
    box.appendChild(div);
  });
  if (d.left_behind) {
    box.appendChild(el("h4", {text: "left behind"}));
    box.appendChild(el("ul", {}, d.left_behind.map(function (p) { return el("li", {text: p}); })));
  }
  box.appendChild(linkList(d.links));
}
