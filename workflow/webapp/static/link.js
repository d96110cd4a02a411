// The leader's page: signing with the USB token through the local signing service (the Government CA's VGCA Sign
// Service protocol: one JSON message on wss://127.0.0.1:8987/SignApproved, one JSON answer), and the page updates
// by itself when the signature arrives (from the token, an upload, or an agent).
(function () {
  var script = document.currentScript;
  var token = script.getAttribute("data-token");
  var service = script.getAttribute("data-service") || "wss://127.0.0.1:8987";
  var button = document.getElementById("sign-token");
  var status = document.getElementById("token-status");
  var help = document.getElementById("token-help");

  function say(text, bad) {
    if (!status) { return; }
    status.textContent = text;
    status.className = bad ? "error" : "";
  }

  function poll() {
    fetch("/api/links/" + token, {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) { if (info && info.receipt) { window.location.reload(); } else { setTimeout(poll, 3000); } })
      .catch(function () { setTimeout(poll, 10000); });
  }

  function request(handoff) {
    var meta = [
      ["document", handoff.document], ["field", handoff.field], ["file_name", handoff.file_name],
      ["signer_name", handoff.signer_name], ["signer_title", handoff.signer_title],
      ["unit_name", handoff.unit_name], ["site", handoff.site], ["tsa_url", handoff.tsa_url || ""]
    ];
    return JSON.stringify({
      FileName: handoff.download_url,
      FileUploadHandler: handoff.upload_url,
      SessionId: "",
      JWTToken: "",
      MetaData: meta.map(function (kv) { return {Key: kv[0], Value: kv[1]}; })
    });
  }

  function signWithToken() {
    button.disabled = true;
    say("Đang chuẩn bị văn bản…");
    fetch("/api/links/" + token + "/handoff", {method: "POST", headers: {"Accept": "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || body.detail || "Không chuẩn bị được văn bản."); }
          return body;
        });
      })
      .then(function (handoff) {
        var opened = false;
        var answered = false;
        var socket = new WebSocket(service + "/SignApproved");
        socket.onopen = function () {
          opened = true;
          say("Dịch vụ ký số trên máy đang hỏi đồng chí: xem lại văn bản, người ký và trang yêu cầu, rồi nhập mã PIN ở cửa sổ của dịch vụ.");
          socket.send(request(handoff));
        };
        socket.onmessage = function (event) {
          answered = true;
          var answer = {};
          try { answer = JSON.parse(event.data); } catch (e) { answer = {Status: -1, Message: String(event.data)}; }
          socket.close();
          if (answer.Status === 0) {
            say("Đã ký; đang kiểm tra chữ ký…");
            poll();
          } else {
            say("Chưa ký được: " + (answer.Message || "dịch vụ ký số từ chối yêu cầu."), true);
            button.disabled = false;
          }
        };
        socket.onclose = function () {
          if (!opened) {
            say("Không kết nối được dịch vụ ký số trên máy (" + service + "). Hãy cài VGCA Sign Service hoặc " +
                "covenant agent, mở nó, rồi bấm ký lại.", true);
            if (help) { help.open = true; }
            button.disabled = false;
          } else if (!answered) {
            say("Dịch vụ ký số đã đóng kết nối mà chưa trả lời; hãy bấm ký lại.", true);
            button.disabled = false;
          }
        };
      })
      .catch(function (error) { say(error.message, true); button.disabled = false; });
  }

  if (button) { button.addEventListener("click", signWithToken); }
  setTimeout(poll, 3000);
})();
