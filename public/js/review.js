// The staff grading view: click a line number to comment on it (shift-click for a range), and
// keys for graders who grade hundreds: 1-9 toggle rubric items, j/k move down/up the lines
// (J/K stretch a range), c comment on them, g graded and next, n next, p previous student.
// Everything also works as plain forms and links without JavaScript.
(function () {
  var root = document.querySelector('[data-review]');
  if (!root) return;
  var form = document.getElementById('comment-form');
  var from = document.getElementById('c-from');
  var to = document.getElementById('c-to');
  var body = document.getElementById('c-body');
  var anchor = null;

  function mark(a, b) {
    var rows = document.querySelectorAll('table.code tr.line.selected');
    Array.prototype.forEach.call(rows, function (r) { r.classList.remove('selected'); });
    for (var n = a; n <= b; n++) {
      var row = document.getElementById('L' + n);
      if (row) row.classList.add('selected');
    }
  }

  // The line the keys move (j/k) and the range they stretch (J/K) from the anchor.
  var cursor = null;

  function range(n, extend) {
    var a = extend && anchor !== null ? Math.min(anchor, n) : n;
    var b = extend && anchor !== null ? Math.max(anchor, n) : n;
    if (!extend) anchor = n;
    cursor = n;
    return [a, b];
  }

  function lineCount() {
    return document.querySelectorAll('table.code tr.line').length;
  }

  function move(step, extend) {
    var count = lineCount();
    if (!count) return;
    var n = cursor === null ? 1 : Math.min(count, Math.max(1, cursor + step));
    var r = range(n, extend);
    mark(r[0], r[1]);
    window.history.replaceState(null, '', '#L' + n);
    var row = document.getElementById('L' + n);
    if (row && row.scrollIntoView) row.scrollIntoView({ block: 'nearest' });
  }

  function selected() {
    var rows = document.querySelectorAll('table.code tr.line.selected');
    if (!rows.length) return null;
    return [Number(rows[0].id.slice(1)), Number(rows[rows.length - 1].id.slice(1))];
  }

  function choose(n, extend) {
    if (!form) return;
    var r = range(n, extend);
    openForm(r[0], r[1]);
  }

  function openForm(a, b) {
    from.value = String(a);
    to.value = String(b);
    mark(a, b);
    // The form moves under the last chosen line, where the comment will appear.
    var row = document.getElementById('L' + b);
    if (row) {
      var holder = document.getElementById('comment-form-row');
      if (!holder) {
        holder = document.createElement('tr');
        holder.id = 'comment-form-row';
        holder.className = 'comment-row';
        holder.appendChild(document.createElement('td'));
        holder.appendChild(document.createElement('td'));
      }
      var next = row.nextSibling;
      while (next && next.classList && next.classList.contains('comment-row') && next !== holder) next = next.nextSibling;
      row.parentNode.insertBefore(holder, next);
      holder.lastChild.appendChild(form);
    }
    body.focus();
  }

  document.addEventListener('click', function (e) {
    var a = e.target.closest ? e.target.closest('td.ln a[data-line]') : null;
    if (!a || !form) return;
    e.preventDefault();
    window.history.replaceState(null, '', '#L' + a.getAttribute('data-line'));
    choose(Number(a.getAttribute('data-line')), e.shiftKey);
  });

  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) {
      if (e.key === 'Escape' && t.blur) t.blur();
      return;
    }
    var btn = null;
    if (/^[1-9]$/.test(e.key)) btn = document.querySelector('[data-shortcut="' + e.key + '"]');
    else if (e.key === 'g') btn = document.querySelector('[data-shortcut-graded]');
    else if (e.key === 'n') btn = document.querySelector('[data-shortcut-next]');
    else if (e.key === 'p') btn = document.querySelector('[data-shortcut-prev]');
    else if (e.key === 'j' || e.key === 'J' || e.key === 'k' || e.key === 'K') {
      e.preventDefault();
      move(e.key.toLowerCase() === 'j' ? 1 : -1, e.shiftKey);
      return;
    } else if (e.key === 'c' && form) {
      e.preventDefault();
      var sel = selected();
      var hash = /^#L(\d+)$/.exec(location.hash);
      if (sel) openForm(sel[0], sel[1]);
      else if (hash) choose(Number(hash[1]), false);
      else { from.focus(); }
      return;
    }
    if (btn) {
      e.preventDefault();
      btn.click();
    }
  });

  var initial = /^#L(\d+)$/.exec(location.hash);
  if (initial) {
    anchor = cursor = Number(initial[1]);
    mark(cursor, cursor);
  }
})();
