// The leader's page updates by itself when the signature arrives (signed by the agent or uploaded elsewhere).
(function () {
  var token = document.currentScript.getAttribute("data-token");
  function poll() {
    fetch("/api/links/" + token, {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) { if (info && info.receipt) { window.location.reload(); } else { setTimeout(poll, 3000); } })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 3000);
})();
