// The admin pages' only script (the CSP allows no inline script): Enter on a
// checkbox does nothing instead of submitting its form, so an operator moving
// through twenty event boxes by keyboard does not save half a choice. Space
// ticks, as everywhere.
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (e.key === 'Enter' && t instanceof HTMLInputElement && (t.type === 'checkbox' || t.type === 'radio')) e.preventDefault();
});

// Message templates: the preview follows what is typed, rendered by the
// server exactly as it would be sent (values escaped for the provider).
const csrf = document.querySelector('input[name="_csrf"]');
for (const box of document.querySelectorAll('textarea[data-preview]')) {
  let timer;
  box.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const out = document.getElementById(box.dataset.preview);
      const body = new URLSearchParams({ _csrf: csrf ? csrf.value : '', event_type: box.dataset.eventType, template: box.value });
      const res = await fetch(box.dataset.url, { method: 'POST', body, credentials: 'same-origin' });
      const j = await res.json();
      const example = out.querySelector('.preview__example');
      const latest = out.querySelector('.preview__latest');
      const missing = out.querySelector('.preview__missing');
      if (!res.ok) {
        example.textContent = j.error;
        return;
      }
      example.textContent = j.example;
      if (latest && j.latest !== null) latest.textContent = j.latest;
      missing.hidden = j.missing.length === 0;
      missing.textContent = `Not in this type's example, so empty: ${j.missing.map((x) => `{{${x}}}`).join(', ')}`;
    }, 250);
  });
}
