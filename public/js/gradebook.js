// Re-run progress on the students page: polls each unfinished batch until it is done. Without
// JavaScript the page has a refresh link; the numbers are the same.
(function () {
  var items = document.querySelectorAll('[data-batch][data-live]');
  if (!items.length || !window.fetch) return;
  Array.prototype.forEach.call(items, function (item) {
    var url = item.getAttribute('data-progress-url');
    var bar = item.querySelector('progress');
    var timer = null;
    function set(name, value) {
      var el = item.querySelector('[data-count="' + name + '"]');
      if (el) el.textContent = String(value);
    }
    function poll() {
      fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (res) {
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (batch) {
          var p = batch.progress;
          set('queued', p.queued);
          set('running', p.running);
          set('done', p.done);
          set('error', p.error);
          if (bar) bar.value = p.done + p.error + p.cancelled;
          if (p.queued + p.running === 0) {
            item.removeAttribute('data-live');
            clearInterval(timer);
          }
        })
        .catch(function () {
          // The server may be restarting; the next poll tries again.
        });
    }
    timer = setInterval(poll, 2000);
  });
})();
