// The HTML body of notification e-mails: escaped text in a minimal, inline-styled page.

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]!);
}

/** A page of paragraphs; every argument is already escaped. */
export function htmlDocument(escapedTitle: string, escapedParagraphs: readonly string[]): string {
  const body = escapedParagraphs.filter((paragraph) => paragraph !== "").map((paragraph) => `<p>${paragraph}</p>`).join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapedTitle}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
${body}
</body></html>
`;
}
