// Live grading status: replaces the status block with what the server pushes (HTML rendered
// and escaped on the server). Without JavaScript the page has a reload link.
(function () {
  var box = document.getElementById('live-status');
  if (!box || !window.EventSource) return;
  var url = box.getAttribute('data-events');
  var source = new EventSource(url);
  source.addEventListener('status', function (e) {
    try {
      var data = JSON.parse(e.data);
      box.innerHTML = data.html;
      box.setAttribute('data-state', data.state);
    } catch (_err) {
      // A malformed event is ignored; the next one replaces it.
    }
  });
  source.addEventListener('end', function () {
    source.close();
  });
})();
