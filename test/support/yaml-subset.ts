// A reader for the small part of YAML that docker-compose.yml uses: block mappings, block
// sequences of scalars, JSON-style flow sequences and mappings, quoted and plain scalars,
// comments. Anything else (anchors, multi-line scalars, sequences of mappings …) is refused
// with the line number, so a compose file that outgrows it fails its test loudly.
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  n: number;
  indent: number;
  text: string;
}

export class YamlSubsetError extends Error {}

export function parseYamlSubset(source: string): YamlValue {
  const lines: Line[] = [];
  source.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new YamlSubsetError(`line ${i + 1}: tab`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    lines.push({ n: i + 1, indent: text.length - text.trimStart().length, text: text.trim() });
  });
  if (lines.length === 0) return null;
  const at = { i: 0 };
  const value = block(lines, at, lines[0]!.indent);
  if (at.i < lines.length) throw new YamlSubsetError(`line ${lines[at.i]!.n}: unexpected indentation`);
  return value;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

function block(lines: Line[], at: { i: number }, indent: number): YamlValue {
  const first = lines[at.i]!;
  if (first.text.startsWith('- ') || first.text === '-') {
    const list: YamlValue[] = [];
    while (at.i < lines.length && lines[at.i]!.indent === indent && lines[at.i]!.text.startsWith('-')) {
      const item = lines[at.i]!;
      const rest = item.text.slice(1).trim();
      if (rest === '' || /^[^"'[{][^:]*:(\s|$)/.test(rest)) throw new YamlSubsetError(`line ${item.n}: sequences of mappings are not supported`);
      list.push(scalar(rest, item.n));
      at.i++;
    }
    return list;
  }
  const map: { [key: string]: YamlValue } = {};
  while (at.i < lines.length && lines[at.i]!.indent === indent) {
    const line = lines[at.i]!;
    const m = /^("[^"]*"|'[^']*'|[^:]+?):(?:\s+(.*))?$/.exec(line.text);
    if (!m) throw new YamlSubsetError(`line ${line.n}: expected "key: value": ${line.text}`);
    const key = m[1]!.replace(/^["']|["']$/g, '');
    if (key in map) throw new YamlSubsetError(`line ${line.n}: duplicate key ${key}`);
    at.i++;
    if (m[2] !== undefined && m[2] !== '') {
      if (/^[|>&*!]/.test(m[2])) throw new YamlSubsetError(`line ${line.n}: block scalars, anchors and tags are not supported`);
      map[key] = scalar(m[2], line.n);
    } else if (at.i < lines.length && lines[at.i]!.indent > indent) {
      map[key] = block(lines, at, lines[at.i]!.indent);
    } else if (at.i < lines.length && lines[at.i]!.indent === indent && lines[at.i]!.text.startsWith('-')) {
      map[key] = block(lines, at, indent); // a sequence may sit at its key's indentation
    } else {
      map[key] = null;
    }
  }
  if (at.i < lines.length && lines[at.i]!.indent > indent) throw new YamlSubsetError(`line ${lines[at.i]!.n}: unexpected indentation`);
  return map;
}

function scalar(text: string, n: number): YamlValue {
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      return JSON.parse(text) as YamlValue;
    } catch {
      throw new YamlSubsetError(`line ${n}: flow collections must be written as JSON here: ${text}`);
    }
  }
  if (text.startsWith('"')) return JSON.parse(text) as string;
  if (text.startsWith("'")) {
    if (!text.endsWith("'")) throw new YamlSubsetError(`line ${n}: unterminated string`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (/^-?\d+$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  return text;
}
