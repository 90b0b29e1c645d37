// A line diff (longest common subsequence), for comparing two revisions'
// specs as pretty JSON. Specs are small, so the quadratic table is fine.

export type DiffKind = "same" | "add" | "del";

export interface DiffLine {
  kind: DiffKind;
  text: string;
  /** 1-based line number in the old text (same, del). */
  a?: number;
  /** 1-based line number in the new text (same, add). */
  b?: number;
}

/** Splits text into lines; "" is no lines, and a final newline does not make an empty last line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * The lines of a and b in order, each kept ("same"), removed from a ("del")
 * or added in b ("add"); a change shows its removed lines before its added
 * ones. Removing every "add" gives a's lines, every "del" gives b's.
 */
export function diffLines(a: string[], b: string[]): DiffLine[] {
  // Common head and tail first: most revisions differ in a few lines.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  // lcs[i][j]: length of the LCS of a[start+i..endA) and b[start+j..endB).
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i]!;
    const next = lcs[i + 1]!;
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[start + i] === b[start + j] ? next[j + 1]! + 1 : Math.max(next[j]!, row[j + 1]!);
    }
  }

  const out: DiffLine[] = [];
  for (let k = 0; k < start; k++) out.push({ kind: "same", text: a[k]!, a: k + 1, b: k + 1 });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      out.push({ kind: "same", text: a[start + i]!, a: start + i + 1, b: start + j + 1 });
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ kind: "del", text: a[start + i]!, a: start + i + 1 });
      i++;
    } else {
      out.push({ kind: "add", text: b[start + j]!, b: start + j + 1 });
      j++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) out.push({ kind: "same", text: a[endA + k]!, a: endA + k + 1, b: endB + k + 1 });
  return out;
}

/** Pretty JSON with object keys sorted, so two specs differ only where their values do. */
export function prettyJson(v: unknown): string {
  return JSON.stringify(sortKeys(v), null, 2);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** The diff of two values as pretty JSON. */
export function diffJson(a: unknown, b: unknown): DiffLine[] {
  return diffLines(splitLines(prettyJson(a)), splitLines(prettyJson(b)));
}

/** How many lines were added and removed. */
export function diffStats(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.kind === "add") added++;
    else if (l.kind === "del") removed++;
  }
  return { added, removed };
}
