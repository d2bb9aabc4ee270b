"""CSS for the chat's HTML panels (scoped by Gradio to each panel).

Gradio feeds `css_template` through Handlebars and a JS template literal, so this
text must contain no backticks, no dollar-brace and no backslashes.
"""

CSS = """
.tqa-chat { font-size: 15px; line-height: 1.55; color: var(--body-text-color); }
.tqa-empty { padding: 18px 20px; border: 1px dashed var(--border-color-primary); border-radius: 10px; }
.tqa-empty p { margin: 0 0 10px 0; }
.tqa-about { color: var(--body-text-color-subdued); }
.tqa-try { margin: 4px 0 0 18px; padding: 0; }
.tqa-try li { margin: 2px 0; }
.tqa-exchange { margin: 0 0 22px 0; }
.tqa-label { display: block; font-size: 12px; font-weight: 600; letter-spacing: 0.04em;
  text-transform: uppercase; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.tqa-user { margin: 0 0 10px auto; max-width: 85%; padding: 10px 14px; border-radius: 12px;
  background: var(--color-accent-soft); }
.tqa-user .tqa-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.tqa-bot { padding: 2px 0 0 0; }
.tqa-quote { margin: 0 0 14px 0; padding: 0; }
.tqa-quote blockquote { margin: 0; padding: 10px 14px; border-left: 4px solid var(--color-accent);
  background: var(--background-fill-secondary); border-radius: 0 8px 8px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: 15px; }
.tqa-quote figcaption { margin: 6px 0 0 14px; font-size: 13.5px; color: var(--body-text-color-subdued); }
.tqa-cite { all: unset; display: inline !important; width: auto !important; cursor: pointer;
  font: inherit; text-align: left; color: var(--body-text-color-subdued);
  border-bottom: 1px dotted currentColor; }
.tqa-cite:hover, .tqa-cite:focus-visible { color: var(--color-accent); border-bottom-style: solid; }
.tqa-cite .tqa-who { font-weight: 600; color: var(--body-text-color); }
mark { color: inherit; padding: 0 1px; border-radius: 3px; }
mark.tqa-best { background: rgba(250, 204, 21, 0.45); }
mark.tqa-span { background: rgba(250, 204, 21, 0.16); }
.tqa-near blockquote { border-left-color: var(--border-color-primary); opacity: 0.9; }
.tqa-abstain { margin: 4px 0 10px 0; font-weight: 600; }
.tqa-relaxed { margin: 4px 0 8px 0; font-style: italic; }
.tqa-closest { border: 1px dashed var(--border-color-primary); border-radius: 10px; padding: 10px 12px 2px 12px; }
.tqa-closest-label { font-size: 12.5px; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.04em; color: #b45309; margin-bottom: 8px; }
.tqa-message { margin: 4px 0; padding: 8px 12px; border-radius: 8px; border: 1px solid #f59e0b;
  background: rgba(245, 158, 11, 0.10); }
.tqa-pending { color: var(--body-text-color-subdued); font-style: italic; }
.tqa-filters { margin: 0 0 10px 0; font-size: 13px; color: var(--body-text-color-subdued); }
.tqa-chip { display: inline-block; margin: 2px 4px 2px 0; padding: 2px 9px; border-radius: 999px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color); font-size: 12.5px; }
.tqa-chip-implied { border-color: var(--color-accent); }
.tqa-implied { font-size: 11.5px; color: var(--color-accent); }
.tqa-none { color: var(--body-text-color-subdued); font-size: 13px; }
.tqa-source { font-size: 14.5px; line-height: 1.55; color: var(--body-text-color); }
.tqa-source h3 { margin: 0 0 8px 0; font-size: 17px; }
.tqa-meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 10px 0;
  font-size: 13px; }
.tqa-meta dt { color: var(--body-text-color-subdued); }
.tqa-meta dd { margin: 0; overflow-wrap: anywhere; }
.tqa-lead { font-style: italic; color: var(--body-text-color-subdued); margin: 0 0 10px 0; }
.tqa-gap { text-align: center; color: var(--body-text-color-subdued); font-size: 12.5px; margin: 6px 0; }
.tqa-turn { margin: 0 0 10px 0; padding: 8px 12px; border-radius: 8px;
  border: 1px solid var(--border-color-primary); }
.tqa-turn.tqa-focus { border: 2px solid var(--color-accent); }
.tqa-turn-who { font-weight: 600; margin-bottom: 4px; }
.tqa-role { font-weight: 400; color: var(--body-text-color-subdued); font-size: 13px; }
.tqa-turn-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.tqa-time { font-variant-numeric: tabular-nums; white-space: nowrap; }
.tqa-link { color: var(--color-accent); text-decoration: underline; text-underline-offset: 2px; }
.tqa-turn-who .tqa-time, .tqa-quote-time { font-weight: 400; font-size: 13px; margin-left: 6px; }
.tqa-meta .tqa-link { overflow-wrap: anywhere; }
.tqa-placeholder { color: var(--body-text-color-subdued); font-size: 14px; padding: 8px 2px; }
.tqa-why { margin: 3px 0 0 0; }
.tqa-rel { display: inline-flex; align-items: center; gap: 6px; font-size: 12.5px;
  color: var(--body-text-color-subdued); cursor: help; }
.tqa-bar { display: inline-block; width: 56px; height: 6px; border-radius: 3px;
  background: var(--border-color-primary); overflow: hidden; }
.tqa-bar-fill { display: block; height: 100%; border-radius: 3px; background: #9ca3af; }
.tqa-rel-strong .tqa-bar-fill { background: #16a34a; }
.tqa-rel-fair .tqa-bar-fill { background: #ca8a04; }
.tqa-rel-weak .tqa-bar-fill { background: #dc2626; }
.tqa-tools { margin: -4px 0 0 0; text-align: right; }
.tqa-copy, .tqa-more, .tqa-open-whole, .tqa-to-quote, .tqa-close { font: inherit; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); border-radius: 6px; }
.tqa-copy { font-size: 12.5px; padding: 2px 10px; color: var(--body-text-color-subdued); }
.tqa-copy:hover, .tqa-more:hover, .tqa-open-whole:hover, .tqa-to-quote:hover, .tqa-close:hover,
.tqa-copy:focus-visible, .tqa-more:focus-visible, .tqa-open-whole:focus-visible {
  border-color: var(--color-accent); color: var(--color-accent); }
button.tqa-more { display: block; width: 100%; padding: 5px 8px; margin: 6px 0 10px 0; border-style: dashed; }
.tqa-more-label { color: var(--color-accent); font-weight: 600; margin-left: 4px; }
.tqa-open-whole { font-size: 13px; padding: 3px 10px; margin: 0 0 10px 0; }
.tqa-reader-backdrop { position: fixed; inset: 0; z-index: 1000; background: rgba(15, 23, 42, 0.55);
  display: flex; align-items: center; justify-content: center; }
.tqa-reader { display: flex; flex-direction: column; width: min(1000px, 94vw); height: 90vh;
  background: var(--background-fill-primary); color: var(--body-text-color); border-radius: 12px;
  box-shadow: 0 20px 50px rgba(0, 0, 0, 0.35); font-size: 15px; line-height: 1.6; }
.tqa-reader-head { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center;
  justify-content: space-between; padding: 12px 18px;
  border-bottom: 1px solid var(--border-color-primary); }
.tqa-reader-title h3 { margin: 0; font-size: 18px; }
.tqa-reader-where { font-size: 12.5px; color: var(--body-text-color-subdued); }
.tqa-reader-actions { display: flex; gap: 8px; }
.tqa-to-quote, .tqa-close { font-size: 13px; padding: 4px 12px; }
.tqa-reader-body { flex: 1; overflow-y: auto; padding: 14px 18px; }
.tqa-reader-body .tqa-turn-text { max-width: 75ch; }
"""
