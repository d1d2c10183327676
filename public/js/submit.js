// Upload with a progress bar (XMLHttpRequest upload events). Without JavaScript the form posts
// normally and the server redirects to the receipt.
(function () {
  var form = document.getElementById('submit-form');
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var bar = document.getElementById('upload-progress');
  var message = document.getElementById('upload-message');
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    send(0);
  });
  // A restart that ends while the upload is still arriving answers 503 with "restarting": the
  // server stored nothing, so the same files are sent once more by themselves.
  function send(attempt) {
    var button = form.querySelector('button[type=submit]');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('action'));
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round((e.loaded / e.total) * 100);
      bar.hidden = false;
      bar.value = pct;
      bar.textContent = pct + ' %';
      message.textContent = 'Uploading… ' + pct + ' %';
    });
    xhr.addEventListener('load', function () {
      var data;
      try {
        data = JSON.parse(xhr.responseText);
      } catch (_err) {
        data = null;
      }
      if (xhr.status === 201 && data && data.url) {
        message.textContent = 'Received. Opening your receipt…';
        window.location.assign(data.url);
        return;
      }
      if (xhr.status === 503 && data && data.restarting && attempt === 0) {
        var wait = Math.min(10, Math.max(1, Number(xhr.getResponseHeader('Retry-After')) || 2));
        message.textContent = 'The server is restarting; sending your files again in ' + wait + ' s…';
        setTimeout(function () {
          send(1);
        }, wait * 1000);
        return;
      }
      button.disabled = false;
      bar.hidden = true;
      message.textContent = (data && data.error) || 'The upload failed (' + xhr.status + '). Try again.';
      message.className = 'bad';
    });
    xhr.addEventListener('error', function () {
      button.disabled = false;
      message.textContent = 'The connection failed during the upload. Try again.';
      message.className = 'bad';
    });
    button.disabled = true;
    message.className = '';
    xhr.send(new FormData(form));
  }
})();
