// A shell-like command line split into argv, the way sh would for the
// common cases: whitespace separates, '…' is literal, "…" allows \" \\ \$ \`,
// a backslash outside quotes escapes the next character. No expansion.

export type SplitResult = { ok: true; argv: string[] } | { ok: false; error: string };

export function splitCommandLine(line: string): SplitResult {
  const argv: string[] = [];
  let cur = "";
  let inArg = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line.charAt(i + 1))) cur += line.charAt(++i);
      else cur += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inArg = true;
    } else if (c === "\\") {
      if (i + 1 >= line.length) return { ok: false, error: "The line ends with a lone backslash" };
      cur += line.charAt(++i);
      inArg = true;
    } else if (/\s/.test(c)) {
      if (inArg) argv.push(cur);
      cur = "";
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (quote) return { ok: false, error: `A ${quote === "'" ? "single" : "double"} quote is not closed` };
  if (inArg) argv.push(cur);
  return { ok: true, argv };
}

/** The inverse, for showing an argv as an editable line. */
export function joinCommandLine(argv: string[]): string {
  return argv.map(quoteArg).join(" ");
}

function quoteArg(a: string): string {
  if (a !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  return `'${a.replace(/'/g, `'\\''`)}'`;
}
