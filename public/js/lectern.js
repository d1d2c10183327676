// Progressive enhancement only: every page works without this file.
document.documentElement.classList.add('js');

// A deadline shown in the course's time zone also says how long is left and the reader's own time.
for (const el of document.querySelectorAll('time[data-countdown]')) {
  const at = Date.parse(el.getAttribute('datetime') || '');
  if (Number.isNaN(at)) continue;
  const left = at - Date.now();
  const mins = Math.round(Math.abs(left) / 60000);
  const span = mins >= 2880 ? `${Math.round(mins / 1440)} days` : mins >= 120 ? `${Math.round(mins / 60)} hours` : `${mins} minutes`;
  const local = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(at);
  const note = document.createElement('span');
  note.className = 'countdown';
  note.textContent = ` (${left >= 0 ? `in ${span}` : `${span} ago`}; your time: ${local})`;
  el.after(note);
}
