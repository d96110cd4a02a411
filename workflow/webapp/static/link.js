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
      ["unit_name", handoff.unit_name], ["site", handoff.site], ["tsa_url", handoff.tsa_url || ""],
      ["stamp", handoff.stamp || "person"], ["number", handoff.number || ""], ["issued_date", handoff.issued_date || ""]
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

  // Remote signing approved on the phone (VNPT SmartCA, Viettel MySign): the server asks the provider, the page
  // counts down and asks the server every two seconds whether the approval has come.
  var phoneButton = document.getElementById("sign-phone");
  var phoneStatus = document.getElementById("phone-status");
  var provider = document.getElementById("phone-provider");
  var user = document.getElementById("phone-user");

  function phoneSay(text, bad) {
    phoneStatus.textContent = text;
    phoneStatus.className = bad ? "error" : "";
  }

  function answer(r) {
    return r.json().then(function (body) {
      if (!r.ok) { throw new Error(body.message || body.detail || "Không ký được."); }
      return body;
    });
  }

  function waitForPhone(name, deadline) {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    phoneSay("Hãy mở ứng dụng " + name + " trên điện thoại và xác nhận yêu cầu ký. Còn " + left + " giây.");
    fetch("/api/links/" + token + "/remote", {headers: {"Accept": "application/json"}})
      .then(answer)
      .then(function (state) {
        if (state.state === "signed") { phoneSay("Đã ký; đang mở biên nhận…"); window.location.reload(); return; }
        setTimeout(function () { waitForPhone(name, deadline); }, 2000);
      })
      .catch(function (error) { phoneSay("Chưa ký được: " + error.message, true); phoneButton.disabled = false; });
  }

  function signWithPhone() {
    phoneButton.disabled = true;
    phoneSay("Đang gửi yêu cầu ký…");
    fetch("/api/links/" + token + "/remote", {
      method: "POST",
      headers: {"Accept": "application/json", "Content-Type": "application/json"},
      body: JSON.stringify({provider: provider.value, user_id: user.value})
    })
      .then(answer)
      .then(function (state) { waitForPhone(state.provider, Date.now() + state.seconds_left * 1000); })
      .catch(function (error) { phoneSay("Chưa ký được: " + error.message, true); phoneButton.disabled = false; });
  }

  if (provider && user) {
    provider.addEventListener("change", function () {
      user.value = provider.options[provider.selectedIndex].getAttribute("data-user") || "";
    });
  }
  if (phoneButton) { phoneButton.addEventListener("click", signWithPhone); }
  if (button) { button.addEventListener("click", signWithToken); }
  setTimeout(poll, 3000);
})();
