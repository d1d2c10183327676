// Upload progress for plain forms marked data-upload-progress (bundle uploads): the form is sent
// with XMLHttpRequest so its upload events can move the <progress> bar; the answer is then shown
// as the browser would have shown it (a redirect is followed, a page with problems replaces the
// main content). Without JavaScript the form posts normally.
(function () {
  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-upload-progress')) return;
    event.preventDefault();
    var bar = form.querySelector('progress');
    var message = form.querySelector('[data-upload-message]');
    var button = form.querySelector('button[type=submit]');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('action'));
    xhr.setRequestHeader('Accept', 'text/html');
    xhr.upload.addEventListener('progress', function (e) {
      if (!e.lengthComputable || !bar) return;
      var pct = Math.round((e.loaded / e.total) * 100);
      bar.hidden = false;
      bar.value = pct;
      bar.textContent = pct + ' %';
      if (message) message.textContent = 'Uploading… ' + pct + ' %';
    });
    xhr.addEventListener('load', function () {
      var sent = new URL(form.getAttribute('action'), window.location.href);
      var landed = new URL(xhr.responseURL || sent.href);
      if (xhr.status < 400 && landed.pathname + landed.search !== sent.pathname + sent.search) {
        window.location.assign(landed.href);
        return;
      }
      var doc = new DOMParser().parseFromString(xhr.responseText, 'text/html');
      var main = doc.querySelector('main');
      var current = document.querySelector('main');
      if (main && current) {
        current.replaceWith(main);
        var title = doc.querySelector('title');
        if (title) document.title = title.textContent;
      } else if (message) {
        if (button) button.disabled = false;
        message.textContent = 'The upload failed (' + xhr.status + '). Try again.';
      }
    });
    xhr.addEventListener('error', function () {
      if (button) button.disabled = false;
      if (message) message.textContent = 'The connection failed during the upload. Try again.';
    });
    if (button) button.disabled = true;
    if (message) message.textContent = 'Uploading…';
    xhr.send(new FormData(form));
  });
})();
