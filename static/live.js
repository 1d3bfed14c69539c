// Live updates of a channel's conversation: every few seconds the newest page's messages, read
// counts and acknowledgements are fetched again, under the same sign-in as the page. Without
// this script a reload shows the same. When the session ends, the updates stop.
(function () {
  "use strict";
  var list = document.getElementById("conversation");
  if (!list) { return; }
  var url = list.getAttribute("data-live");
  if (!url) { return; }
  var ended = document.getElementById("live-ended");
  var last = list.innerHTML;
  var timer = null;
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.offsetHeight - 80;
  }
  function stop() {
    if (timer) { clearInterval(timer); }
    if (ended) { ended.hidden = false; }
  }
  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", redirect: "manual", cache: "no-store" })
      .then(function (res) {
        if (res.status !== 200) { stop(); return null; }
        return res.text();
      })
      .then(function (html) {
        if (html === null || html === last) { return; }
        var follow = atBottom();
        last = html;
        list.innerHTML = html;
        if (follow) { window.scrollTo(0, document.body.scrollHeight); }
      })
      .catch(function () { /* the network may come back; try again next time */ });
  }
  timer = setInterval(poll, 4000);
})();
