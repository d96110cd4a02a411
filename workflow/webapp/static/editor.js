// The round editor: the form is the draft (every input named by its round-file path); each change is saved at
// once (PUT /api/drafts/{id}) and the round check's problems come back, each shown beside the input it names.
"use strict";
(function () {
  const form = document.getElementById("editor");
  if (!form) { return; }
  const draft = form.dataset.draft;
  const csrf = form.dataset.csrf;
  const saved = document.getElementById("saved");
  const total = document.getElementById("total");
  const list = document.getElementById("all-problems");
  const root = form.querySelector(".root");
  let timer = null;
  let pending = null;

  function members(container) {
    const holder = container.classList.contains("members") ? container : container.querySelector(":scope > .members");
    if (!holder) { return []; }
    return Array.from(holder.children).map(function (child) {
      if (child.matches("li.item")) {
        return child.querySelector(":scope > [data-path]") || child.querySelector(":scope > .field [data-path]");
      }
      if (child.matches(".field")) { return child.querySelector("[data-path]"); }
      return child;
    }).filter(Boolean);
  }

  function read(node) {
    const kind = node.dataset.kind;
    if (kind === "object") {
      const out = {};
      members(node).forEach(function (m) { out[m.dataset.key] = read(m); });
      return out;
    }
    if (kind === "array") { return members(node).map(read); }
    const type = node.dataset.type;
    if (type === "bool") { return node.checked; }
    if (type === "number") {
      const text = node.value.trim();
      if (text === "") { return null; }
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    if (type === "null" && node.value === "") { return null; }
    return node.value;
  }

  function renumber(node, path) {
    if (node !== root) { node.dataset.path = path; }
    const kind = node === root ? "object" : node.dataset.kind;
    if (kind === "object" || kind === "array") {
      members(node).forEach(function (m, i) {
        const key = kind === "array" ? String(i) : m.dataset.key;
        if (kind === "array") {
          m.dataset.key = key;
          const name = node.dataset.item + " " + (i + 1);
          const caption = m.matches("fieldset") ? m.querySelector(":scope > legend") : m.parentElement.querySelector("label");
          if (caption) { caption.textContent = name; }
          const tools = m.closest("li.item").querySelector(":scope > .item-tools");
          if (tools) { tools.setAttribute("aria-label", name); }
        }
        renumber(m, path ? path + "." + key : key);
      });
      const own = node.querySelector(":scope > .problem");
      if (own) { own.dataset.for = path; }
    } else {
      const problem = node.parentElement.querySelector(".problem");
      if (problem) { problem.dataset.for = path; }
      node.id = "f-" + path.replace(/\./g, "-");
      const label = node.parentElement.querySelector("label");
      if (label) { label.htmlFor = node.id; }
    }
  }

  function showProblems(problems) {
    form.querySelectorAll(".problem").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    list.textContent = "";
    problems.forEach(function (problem) {
      let path = problem.path;
      let where = null;
      while (where === null) {
        where = form.querySelector('.problem[data-for="' + CSS.escape(path) + '"]');
        if (where !== null || path === "") { break; }
        path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      }
      const words = problem.vietnamese || problem.message;
      const text = (problem.path || "tệp") + ": " + words;
      if (where) {
        where.hidden = false;
        where.textContent = where.textContent ? where.textContent + " — " + words : words;
        where.title = problem.message;  // as `covenant round check` says it
        const input = form.querySelector('[data-path="' + CSS.escape(problem.path) + '"]');
        if (input && !input.dataset.kind) { input.setAttribute("aria-invalid", "true"); }
      }
      const li = document.createElement("li");
      li.className = "mono";
      li.textContent = text;
      list.appendChild(li);
    });
  }

  function showTotal() {
    const criteria = form.querySelector('[data-path="covenant.criteria"]');
    if (!criteria) { total.textContent = ""; return; }
    let sum = 0;
    members(criteria).forEach(function (group) {
      const points = members(group).find(function (m) { return m.dataset.key === "points"; });
      const value = points ? Number(points.value) : 0;
      sum += Number.isFinite(value) ? value : 0;
    });
    sum = Math.round(sum * 100) / 100;
    total.textContent = "Tổng điểm các nhóm tiêu chí: " + sum + "/100";
    total.className = sum === 100 ? "total ok" : "total bad";
    total.dataset.total = String(sum);
  }

  async function save() {
    timer = null;
    const body = JSON.stringify(read(root));
    pending = body;
    saved.textContent = "Đang lưu…";
    try {
      const r = await fetch("/api/drafts/" + draft, {
        method: "PUT", headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: body,
      });
      const answer = await r.json();
      if (pending !== body) { return; }  // a newer save is on its way
      if (!r.ok) {
        saved.textContent = "Chưa lưu được: " + (answer.message || answer.detail || r.status);
        if (answer.problems) { showProblems(answer.problems); }
        return;
      }
      saved.textContent = "Đã lưu lúc " + new Date().toLocaleTimeString("vi-VN");
      saved.dataset.saved = String(Date.now());
      showProblems(answer.problems);
    } catch (e) {
      saved.textContent = "Chưa lưu được (mất kết nối?): " + e.message;
    }
  }

  function unitChoices() {
    // the unit ids typed in "units", offered wherever a unit is named (chair, attendees, elections, signers)
    const choices = document.getElementById("unit-ids");
    const units = form.querySelector('[data-path="units"]');
    if (!choices || !units) { return; }
    choices.textContent = "";
    members(units).forEach(function (unit) {
      const id = members(unit).find(function (m) { return m.dataset.key === "id"; });
      if (id && id.value) {
        const option = document.createElement("option");
        option.value = id.value;
        choices.appendChild(option);
      }
    });
  }

  function changed() {
    showTotal();
    unitChoices();
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(save, 400);
  }

  function blank(node) {
    node.querySelectorAll("input, textarea").forEach(function (el) {
      if (el.type === "checkbox") { el.checked = false; } else { el.value = ""; }
    });
    node.querySelectorAll(".problem").forEach(function (p) { p.hidden = true; p.textContent = ""; });
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-action]");
    if (!button) { return; }
    const action = button.dataset.action;
    if (action === "add") {
      const array = button.closest('[data-kind="array"]');
      const items = array.querySelector(":scope > .members");
      const last = items.lastElementChild;
      if (!last) { saved.textContent = "Danh sách trống: hãy thêm trong tệp YAML, hoặc nhập lại từ đầu."; return; }
      const copy = last.cloneNode(true);
      blank(copy);
      items.appendChild(copy);
      renumber(root, "");
      const first = copy.querySelector("input, textarea");
      if (first) { first.focus(); }
    } else {
      const item = button.closest("li.item");
      if (action === "remove") {
        const next = item.nextElementSibling || item.previousElementSibling;
        item.remove();
        renumber(root, "");
        if (next) { next.querySelector("button, input, textarea").focus(); }
      } else if (action === "up" && item.previousElementSibling) {
        item.parentElement.insertBefore(item, item.previousElementSibling);
        renumber(root, "");
        button.focus();
      } else if (action === "down" && item.nextElementSibling) {
        item.parentElement.insertBefore(item.nextElementSibling, item);
        renumber(root, "");
        button.focus();
      }
    }
    changed();
  });

  document.getElementById("preview").addEventListener("click", async function () {
    const pages = document.getElementById("pages");
    pages.textContent = "Đang dựng văn bản…";
    if (timer !== null) { clearTimeout(timer); await save(); }
    const shown = [];
    for (const kind of ["covenant", "minutes"]) {
      for (let n = 1; n <= 50; n += 1) {
        const url = "/api/drafts/" + draft + "/preview/" + kind + "/" + n + ".png?t=" + Date.now();
        const r = await fetch(url);
        if (r.status === 422) {
          const answer = await r.json();
          pages.textContent = "Chưa xem trước được: " + answer.message;
          return;
        }
        if (!r.ok) { break; }
        const img = document.createElement("img");
        img.src = URL.createObjectURL(await r.blob());
        img.alt = (kind === "covenant" ? "Bản giao ước" : "Biên bản") + ", trang " + n;
        shown.push(img);
      }
    }
    pages.textContent = "";
    shown.forEach(function (img) { pages.appendChild(img); });
  });

  document.getElementById("launch").addEventListener("click", async function () {
    if (timer !== null) { clearTimeout(timer); await save(); }
    const r = await fetch("/api/drafts/" + draft + "/launch", { method: "POST", headers: { "x-csrf-token": csrf } });
    const answer = await r.json();
    if (r.ok) { window.location.href = "/rounds/" + answer.round_id; return; }
    saved.textContent = "Chưa phát hành được: " + (answer.message || answer.detail);
    if (answer.problems) { showProblems(answer.problems); }
  });

  showTotal();
  fetch("/api/drafts/" + draft).then(function (r) { return r.json(); }).then(function (d) { showProblems(d.problems); });
})();
