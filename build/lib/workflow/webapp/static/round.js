// Live progress of a round: each slot's status, refreshed every two seconds.
(function () {
  var labels = {pending: "chờ gửi", notified: "chờ ký", signed: "đã ký", declined: "từ chối", expired: "hết hạn",
    draft: "nháp", generating: "đang tạo văn bản", open: "đang ký", paused: "tạm dừng", completed: "đã ký đủ",
    archived: "đã lưu trữ", voided: "đã hủy", superseded: "đã phát hành lại"};
  function show(el, status) { el.setAttribute("data-status", status); el.textContent = labels[status] || status; }
  var round = document.currentScript.getAttribute("data-round");
  function poll() {
    fetch("/api/rounds/" + round, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        show(document.getElementById("round-status"), data.status);
        data.documents.forEach(function (d) {
          d.slots.forEach(function (s) {
            var cell = document.querySelector('[data-field="' + d.name + "/" + s.field + '"]');
            if (cell) { show(cell, s.status); }
          });
        });
      })
      .finally(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
