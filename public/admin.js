// The admin pages' only script (the CSP allows no inline script): Enter on a
// checkbox does nothing instead of submitting its form, so an operator moving
// through twenty event boxes by keyboard does not save half a choice. Space
// ticks, as everywhere.
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (e.key === 'Enter' && t instanceof HTMLInputElement && (t.type === 'checkbox' || t.type === 'radio')) e.preventDefault();
});
