// Formatting shared by the generators of C# code point tables (unicode_tables.mjs, oniguruma_tables.mjs).

/** A code point as C# hex: 0x0041, 0x1F600. */
export const hex = c => '0x' + c.toString(16).toUpperCase().padStart(4, '0');

/** Ascending code points as [first, last] runs of consecutive ones. */
export function ranges(list) {
  const result = [];
  for (const c of list) {
    const last = result[result.length - 1];
    if (last && last[1] === c - 1) last[1] = c; else result.push([c, c]);
  }
  return result;
}

/** The items of a C# collection expression, perLine to a line, indented for a member of a class. */
export function lines(items, perLine) {
  const result = [];
  for (let i = 0; i < items.length; i += perLine) result.push('        ' + items.slice(i, i + perLine).join(', ') + ',');
  return result.join('\n');
}

/** A `public static ReadOnlySpan<int> name` of (first, last) range pairs, with its summary. */
export function rangeTable(name, summary, list) {
  const pairs = ranges(list).map(([a, b]) => `${hex(a)}, ${hex(b)}`);
  return `\n    /// <summary>${summary(list.length, pairs.length)}</summary>\n` +
    `    public static ReadOnlySpan<int> ${name} =>\n    [\n${lines(pairs, 6)}\n    ];\n`;
}
