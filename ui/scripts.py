"""The chat panels' browser code (`gr.HTML(js_on_load=…)`): clicks become named events.

Gradio runs each string with `element` (the panel), `trigger(name, data)` (an event the
app listens to, e.g. `chat.cite`) and `watch('value', fn)` (after every re-render). The
events carry only opaque citation ids (`"3-q0"`) and turn numbers, which the app checks
against the session's own answers; never a document id or a path.

Scrolling moves only a panel's own scroll box, never the page, so the reader keeps their
place; paging through a transcript keeps the turn next to the clicked button where it was.
"""

from __future__ import annotations

_SCROLL = """
const boxOf = (target) => {
  let box = target.parentElement;
  while (box && box !== document.body) {
    const style = getComputedStyle(box);
    if (/(auto|scroll)/.test(style.overflowY) && box.scrollHeight > box.clientHeight) { return box; }
    box = box.parentElement;
  }
  return null;
};
const scrollWithin = (target, where, how) => {
  const box = boxOf(target);
  if (!box) { return; }
  const offset = target.getBoundingClientRect().top - box.getBoundingClientRect().top;
  const centre = where === 'center' ? (box.clientHeight - target.offsetHeight) / 2 : 8;
  box.scrollTo({top: box.scrollTop + offset - Math.max(8, centre), behavior: how || 'smooth'});
};
// Paging: remember where the turn beside the clicked button is, put it back after re-rendering.
let keep = null;
const remember = (button) => {
  const turns = element.querySelectorAll('.tqa-turn');
  if (!turns.length) { keep = null; return; }
  const turn = button.getAttribute('data-dir') === 'earlier' ? turns[0] : turns[turns.length - 1];
  const box = boxOf(turn);
  const top = box ? box.getBoundingClientRect().top : 0;
  keep = {turn: turn.getAttribute('data-turn'), top: turn.getBoundingClientRect().top - top};
};
const restore = () => {
  const wanted = keep;
  keep = null;
  if (!wanted) { return false; }
  const turn = element.querySelector('.tqa-turn[data-turn="' + wanted.turn + '"]');
  const box = turn && boxOf(turn);
  if (box) {
    const now = turn.getBoundingClientRect().top - box.getBoundingClientRect().top;
    box.scrollTop += now - wanted.top;
  }
  return true;
};
const view = () => {
  const root = element.querySelector('[data-view]');
  return root ? root.getAttribute('data-view') : '';
};
const page = (button) => ({
  qid: view(), lo: Number(button.getAttribute('data-lo')), hi: Number(button.getAttribute('data-hi')),
});
"""

CONVERSATION = (
    _SCROLL
    + """
const decode = (data) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
};
const copied = (button, ok) => {
  button.textContent = ok ? 'Copied' : 'Copy failed';
  setTimeout(() => { button.textContent = 'Copy answer'; }, 1600);
};
const copyText = (button, text) => {
  const fallback = () => {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    area.remove();
    copied(button, ok);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => copied(button, true), fallback);
  } else {
    fallback();
  }
};
element.addEventListener('click', (event) => {
  const copy = event.target.closest('.tqa-copy');
  if (copy && element.contains(copy)) {
    copyText(copy, decode(copy.getAttribute('data-md') || ''));
    return;
  }
  const button = event.target.closest('[data-qid]');
  if (button && element.contains(button)) {
    trigger('cite', {qid: button.getAttribute('data-qid')});
  }
});
watch('value', () => {
  const exchanges = element.querySelectorAll('.tqa-exchange');
  const last = exchanges[exchanges.length - 1];
  if (last) { scrollWithin(last, 'start'); }
});
"""
)

SOURCE = (
    _SCROLL
    + """
element.addEventListener('click', (event) => {
  const more = event.target.closest('.tqa-more');
  if (more && element.contains(more)) {
    remember(more);
    trigger('more', page(more));
    return;
  }
  const whole = event.target.closest('.tqa-open-whole');
  if (whole && element.contains(whole)) {
    trigger('whole', {qid: view()});
  }
});
watch('value', () => {
  if (restore()) { return; }
  const turn = element.querySelector('.tqa-focus');
  const mark = element.querySelector('.tqa-focus mark');
  if (!turn) { return; }
  // A short turn is shown whole (with the metadata above if it fits); a long one at its quote.
  if (!mark || turn.offsetHeight < 320) { scrollWithin(turn, 'center'); } else { scrollWithin(mark, 'center'); }
});
"""
)

READER = (
    _SCROLL
    + """
element.addEventListener('click', (event) => {
  const more = event.target.closest('.tqa-more');
  if (more && element.contains(more)) {
    remember(more);
    trigger('turns', page(more));
    return;
  }
  const home = event.target.closest('.tqa-to-quote');
  if (home && element.contains(home)) {
    const focus = element.querySelector('.tqa-focus');
    if (focus) { scrollWithin(focus, 'center'); } else { trigger('turns', page(home)); }
    return;
  }
  const inside = event.target.closest('.tqa-reader');
  if (event.target.closest('.tqa-close') || (!inside && event.target.closest('.tqa-reader-backdrop'))) {
    trigger('close', {});
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && element.querySelector('.tqa-reader')) { trigger('close', {}); }
});
watch('value', () => {
  if (restore()) { return; }
  const focus = element.querySelector('.tqa-focus');
  if (!focus) { return; }
  const mark = element.querySelector('.tqa-focus mark.tqa-best') || element.querySelector('.tqa-focus mark');
  const target = mark && focus.offsetHeight > 360 ? mark : focus;
  scrollWithin(target, 'center', 'auto');
  const close = element.querySelector('.tqa-close');
  if (close) { close.focus({preventScroll: true}); }
});
"""
)
