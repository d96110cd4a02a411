// The round editor. The form is made from the round model (workflow/editor_form.py): each node is an element with
// data-kind (object, array, choice, value, raw) and data-key; each input carries its round-file path. The form is
// read back into the round file at every change and saved at once (PUT /api/drafts/{id}); the round check's
// problems come back and are shown beside the input each one names.
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
  let version = form.dataset.version;  // the draft as this page knows it: a save over someone else's is refused
  let timer = null;
  let pending = null;

  // --- the tree ---------------------------------------------------------------------------------------------
  function children(node) {
    const kind = node.dataset.kind;
    if (kind === "object") { return Array.from(node.querySelectorAll(":scope > .members > [data-kind]")); }
    if (kind === "array") { return Array.from(node.querySelectorAll(":scope > ol.members > li.item > [data-kind]")); }
    return [];
  }
  function alternatives(node) { return Array.from(node.querySelectorAll(":scope > .alts > .alt")); }
  function chosen(node) {
    const select = node.querySelector(":scope > .field > select[data-choice]");
    return alternatives(node)[Number(select.value)];
  }
  function control(node) { return node.querySelector(":scope > [data-path]"); }
  function child(node, key) { return children(node).find(function (c) { return c.dataset.key === key; }); }

  // --- reading the form back into the round file ------------------------------------------------------------
  function blank(v) {
    if (v === undefined || v === null || v === "") { return true; }
    if (Array.isArray(v)) { return v.every(blank); }
    if (typeof v === "object") { return Object.keys(v).every(function (k) { return blank(v[k]); }); }
    return false;
  }

  function readValue(input) {
    const type = input.dataset.type;
    if (type === "const") { return JSON.parse(input.dataset.const); }
    if (type === "bool") { return input.checked; }
    if (type === "number" || type === "integer") {
      const text = input.value.trim();
      if (text === "") { return null; }
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    if (type === "raw") {
      const text = input.value;
      if (text.trim() === "") { return undefined; }
      try { return JSON.parse(text); } catch (e) { return text; }
    }
    return input.value;
  }

  // The node's value, or undefined when the key is to be left out: an optional key left empty, or at its default
  // where the draft did not have it.
  function read(node) {
    const kind = node.dataset.kind;
    let value;
    if (kind === "object") {
      value = {};
      children(node).forEach(function (c) {
        const v = read(c);
        if (v !== undefined) { value[c.dataset.key] = v; }
      });
    } else if (kind === "array") {
      value = children(node).map(function (c) { const v = read(c); return v === undefined ? null : v; });
    } else if (kind === "choice") {
      const alt = chosen(node);
      const inner = alt.querySelector(":scope > [data-kind]");
      value = alt.dataset.const !== undefined ? JSON.parse(alt.dataset.const) : (inner ? read(inner) : null);
    } else {
      value = readValue(control(node));
    }
    if (node.dataset.optional) {
      if (blank(value)) { return undefined; }
      if (!node.dataset.present && node.dataset.default !== undefined && JSON.stringify(value) === node.dataset.default) {
        return undefined;
      }
    }
    return value;
  }

  // --- paths, ids and captions after items are added, moved or removed -------------------------------------
  function fid(path) { return "f-" + path.replace(/\./g, "-"); }
  function join(path, key) { return path ? path + "." + key : String(key); }

  function renumber(node, path) {
    const kind = node.dataset.kind;
    const own = node.querySelector(":scope > .problem, :scope > .field > .problem");
    if (kind === "object" || kind === "array") {
      if (node !== root) { node.dataset.path = path; }
      if (own) { own.dataset.for = path; }
      children(node).forEach(function (c, i) {
        if (kind === "array") {
          c.dataset.key = String(i);
          const words = node.dataset.item + " " + (i + 1);
          const caption = c.querySelector(":scope > legend, :scope > label, :scope > .field > label");
          if (caption) { caption.textContent = words; }
          const tools = c.parentElement.querySelector(":scope > .item-tools");
          if (tools) { tools.setAttribute("aria-label", words); }
        }
        renumber(c, join(path, c.dataset.key));
      });
      const hint = node.querySelector(":scope > .hint");
      if (hint) { hint.id = "h-" + fid(path); }
    } else if (kind === "choice") {
      const select = node.querySelector(":scope > .field > select[data-choice]");
      select.id = "c-" + fid(path);
      node.querySelector(":scope > .field > label").htmlFor = select.id;
      if (own) { own.dataset.for = path; }
      const hint = node.querySelector(":scope > .field > .hint");
      if (hint) { hint.id = "h-" + fid(path); select.setAttribute("aria-describedby", hint.id); }
      alternatives(node).forEach(function (alt) {
        const inner = alt.querySelector(":scope > [data-kind]");
        if (inner) { renumber(inner, path); }
      });
    } else {
      const input = control(node);
      input.dataset.path = path;
      if (input.type !== "hidden") {
        input.id = fid(path);
        const label = node.querySelector(":scope > label");
        if (label) { label.htmlFor = input.id; }
      }
      const hint = node.querySelector(":scope > .hint");
      if (hint) { hint.id = "h-" + fid(path); input.setAttribute("aria-describedby", hint.id); }
      if (own) { own.dataset.for = path; }
      const file = node.querySelector(":scope > .upload > input[type=file]");
      if (file) { file.id = "u-" + fid(path); node.querySelector(":scope > .upload > label").htmlFor = file.id; }
    }
  }

  // --- what the page shows ---------------------------------------------------------------------------------
  function showProblems(problems) {
    form.querySelectorAll(".problem").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    list.textContent = "";
    problems.forEach(function (problem) {
      let path = problem.path;
      let where = null;
      for (;;) {  // the problem's own input, or the nearest section that holds it
        where = form.querySelector('.problem[data-for="' + CSS.escape(path) + '"]');
        if (where !== null || path === "") { break; }
        path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      }
      const words = problem.vietnamese || problem.message;
      if (where) {
        where.hidden = false;
        where.textContent = where.textContent ? where.textContent + " — " + words : words;
        where.title = problem.message;  // as `covenant round check` says it
        const input = form.querySelector('[data-path="' + CSS.escape(problem.path) + '"]');
        if (input && !input.dataset.kind) { input.setAttribute("aria-invalid", "true"); }
      }
      const li = document.createElement("li");
      li.className = "mono";
      li.textContent = (problem.path || "tệp") + ": " + words;
      list.appendChild(li);
    });
  }

  function showTotal() {
    const criteria = form.querySelector('[data-path="covenant.criteria"]');
    if (!criteria) { total.textContent = ""; return; }
    let sum = 0;
    children(criteria).forEach(function (group) {
      const points = child(group, "points");
      const value = points ? Number(control(points).value) : 0;
      sum += Number.isFinite(value) ? value : 0;
    });
    sum = Math.round(sum * 100) / 100;
    total.textContent = "Tổng điểm các nhóm tiêu chí: " + sum + "/100";
    total.className = sum === 100 ? "total ok" : "total bad";
    total.dataset.total = String(sum);
  }

  // Wherever a unit is named (the conference's people, the elections, the covenant's signers): the units typed
  // so far, and the value kept even when no unit has it (its problem says so).
  function unitChoices() {
    const units = form.querySelector('[data-path="units"]');
    if (!units) { return; }
    const known = children(units).map(function (u) {
      const id = child(u, "id");
      const short = child(u, "short_name");
      return { id: id ? control(id).value.trim() : "", short: short ? control(short).value.trim() : "" };
    }).filter(function (u) { return u.id; });
    form.querySelectorAll('select[data-type="unit"]').forEach(function (select) {
      const current = select.value;
      select.textContent = "";
      const none = document.createElement("option");
      none.value = "";
      none.textContent = "— chọn đơn vị —";
      select.appendChild(none);
      known.forEach(function (u) {
        const option = document.createElement("option");
        option.value = u.id;
        option.textContent = u.id + " — " + u.short;
        select.appendChild(option);
      });
      if (current && !known.some(function (u) { return u.id === current; })) {
        const option = document.createElement("option");
        option.value = current;
        option.textContent = current + " (không có trong danh sách đơn vị)";
        select.appendChild(option);
      }
      select.value = current;
    });
  }

  // --- saving -------------------------------------------------------------------------------------------------
  async function save(overwrite) {
    timer = null;
    const body = JSON.stringify(read(root));
    pending = body;
    saved.textContent = "Đang lưu…";
    const headers = { "content-type": "application/json", "x-csrf-token": csrf };
    if (!overwrite) { headers["if-match"] = version; }
    try {
      const r = await fetch("/api/drafts/" + draft, { method: "PUT", headers: headers, body: body });
      const answer = await r.json();
      if (pending !== body) { return; }  // a newer save is on its way
      if (r.status === 409 && answer.error === "draft.changed") {
        saved.textContent = answer.message;
        document.getElementById("conflict").hidden = false;
        return;
      }
      if (!r.ok) {
        saved.textContent = "Chưa lưu được: " + (answer.message || answer.detail || r.status);
        if (answer.problems) { showProblems(answer.problems); }
        return;
      }
      version = answer.version;
      document.getElementById("conflict").hidden = true;
      saved.textContent = "Đã lưu lúc " + new Date().toLocaleTimeString("vi-VN");
      saved.dataset.saved = String(Date.now());
      showProblems(answer.problems);
    } catch (e) {
      saved.textContent = "Chưa lưu được (mất kết nối?): " + e.message;
    }
  }

  function changed() {
    showTotal();
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(save, 400);
  }

  form.addEventListener("input", function (e) {
    if (e.target.matches("input[type=file]")) { return; }
    if (e.target.closest('[data-path^="units."]')) { unitChoices(); }
    changed();
  });
  form.addEventListener("change", function (e) {
    if (e.target.matches("input[type=file]")) { return; }
    const select = e.target.closest("select[data-choice]");
    if (select) {
      alternatives(select.closest('[data-kind="choice"]')).forEach(function (alt, i) {
        alt.hidden = i !== Number(select.value);
      });
    }
    changed();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-action]");
    if (!button) { return; }
    const action = button.dataset.action;
    if (action === "add") {
      const array = button.closest('[data-kind="array"]');
      const item = array.querySelector(":scope > template").content.firstElementChild.cloneNode(true);
      array.querySelector(":scope > ol.members").appendChild(item);
      renumber(root, "");
      unitChoices();
      const first = item.querySelector("input:not([type=hidden]), textarea, select");
      if (first) { first.focus(); }
    } else if (action === "remove-key") {
      const node = button.closest('[data-kind="raw"]');
      const next = node.nextElementSibling || node.previousElementSibling;
      node.remove();
      if (next) { (next.querySelector("input, textarea, select, button") || next).focus(); }
    } else {
      const item = button.closest("li.item");
      if (action === "remove") {
        const next = item.nextElementSibling || item.previousElementSibling;
        const array = item.closest('[data-kind="array"]');
        item.remove();
        renumber(root, "");
        const focus = next ? next.querySelector("button, input, textarea, select")
          : array.querySelector(":scope > button[data-action=add]");
        if (focus) { focus.focus(); }
      } else if (action === "up" && item.previousElementSibling) {
        item.parentElement.insertBefore(item, item.previousElementSibling);
        renumber(root, "");
        button.focus();
      } else if (action === "down" && item.nextElementSibling) {
        item.parentElement.insertBefore(item.nextElementSibling, item);
        renumber(root, "");
        button.focus();
      }
      if (item.closest('[data-path="units"]') || action === "remove") { unitChoices(); }
    }
    changed();
  });

  // --- files the round names (images, roots, templates): kept in the draft, named in its field -------------------
  function safeName(name) {
    const dot = name.lastIndexOf(".");
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const suffix = dot > 0 ? name.slice(dot).toLowerCase() : "";
    const plain = stem.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d").toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-").replace(/^[-._]+|-+$/g, "");
    return (plain || "tep").slice(0, 90) + suffix;
  }

  function showFiles(files) {
    const list = document.getElementById("file-list");
    list.textContent = "";
    if (!files.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = "Chưa có tệp nào.";
      list.appendChild(none);
    }
    files.forEach(function (f) {
      const li = document.createElement("li");
      li.dataset.file = f.name;
      const a = document.createElement("a");
      a.href = "/api/drafts/" + draft + "/files/" + f.name;
      a.className = "mono";
      a.textContent = f.name;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.dataset.removeFile = f.name;
      remove.textContent = "Xóa tệp " + f.name;
      li.append(a, " (" + (f.size / 1024).toFixed(1) + " KiB, " + f.by + ") ", remove);
      list.appendChild(li);
    });
  }

  function refusal(answer) {
    const first = answer.problems && answer.problems[0];
    return (first && (first.vietnamese || first.message)) || answer.message || answer.detail || "";
  }

  async function upload(input) {
    const node = input.closest('[data-kind="value"]');
    const field = control(node);
    const folder = input.dataset.upload === "template" ? safeName(field.value.trim() || "mau-van-ban").replace(/\./g, "-") : "";
    for (const file of Array.from(input.files)) {
      const name = (folder ? folder + "/" : "") + safeName(file.name);
      saved.textContent = "Đang tải lên " + name + "…";
      const r = await fetch("/api/drafts/" + draft + "/files/" + name, {
        method: "PUT", headers: { "x-csrf-token": csrf, "content-type": "application/octet-stream" }, body: file,
      });
      const answer = await r.json();
      if (!r.ok) {
        saved.textContent = "Chưa tải lên được " + file.name + ": " + refusal(answer);
        input.value = "";
        return;
      }
      version = answer.version;
      showFiles(answer.files);
      if (!folder) { field.value = name; }
    }
    if (folder) { field.value = folder; }
    input.value = "";
    changed();
  }

  form.addEventListener("change", function (e) {
    if (e.target.matches("input[type=file][data-upload]")) { upload(e.target); }
  });
  document.getElementById("file-list").addEventListener("click", async function (e) {
    const button = e.target.closest("button[data-remove-file]");
    if (!button) { return; }
    const r = await fetch("/api/drafts/" + draft + "/files/" + button.dataset.removeFile, {
      method: "DELETE", headers: { "x-csrf-token": csrf },
    });
    const answer = await r.json();
    if (!r.ok) { saved.textContent = "Chưa xóa được: " + refusal(answer); return; }
    version = answer.version;
    showFiles(answer.files);
    showProblems(answer.problems);
  });

  document.getElementById("reload").addEventListener("click", function () { window.location.reload(); });
  document.getElementById("overwrite").addEventListener("click", function () { save(true); });

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
