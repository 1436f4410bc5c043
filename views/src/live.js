// Keeps an open page current: when the server says that newer rows have
// landed, the page fetches itself again and swaps its content in place,
// without a reload, and tells screen readers. Without JavaScript the page
// is complete, only not live.
(function () {
  var main = document.querySelector('main[data-live]');
  if (!main || !window.EventSource) return;
  var status = document.getElementById('live-status');
  var events = new EventSource(main.getAttribute('data-live'));
  events.addEventListener('rows', function () {
    fetch(window.location.href, { credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        if (fresh) main.innerHTML = fresh.innerHTML;
        if (status) status.textContent = 'Updated with new data at ' + new Date().toLocaleTimeString();
      });
  });
})();
