/** Makes text safe inside HTML elements and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** HTML that is safe as it is: what `html` builds. */
export class Html {
  constructor(readonly text: string) {}
}

/** Builds HTML from a template: every interpolated value is escaped unless it is already `Html`. */
export function html(strings: TemplateStringsArray, ...values: (string | number | Html | Html[])[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    out += parts.map((part) => (part instanceof Html ? part.text : escapeHtml(String(part)))).join('');
    out += strings[index + 1] ?? '';
  });
  return new Html(out);
}

export function when(iso: string): Html {
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** The page's frame: its stylesheet and script (files, for the Content-Security-Policy), header and `main`. */
export function document(title: string, self: string, dashboard: string, nav: Html, main: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Drumline</title>
<link rel="stylesheet" href="${self}/page.css">
<script type="module" src="${self}/page.js"></script>
</head>
<body data-base="${self}" data-dashboard="${dashboard}">
<header>
<h1>Drumline · ${title}</h1>
<nav>${nav}</nav>
</header>
<main>
${main}
</main>
</body>
</html>
`.text;
}
