import assert from 'node:assert/strict';

/**
 * A structural reading of the Graphviz dot that `graphDot` writes, strict enough to catch what would make `dot`
 * refuse or silently invent nodes: quoted ids with escapes, balanced braces outside strings, one `digraph` whose
 * body declares every node once (`"id" [...]`) and edges (`"a" -> "b" [...]`) between declared nodes only.
 */

type Token = { kind: 'id'; text: string } | { kind: 'word'; text: string } | { kind: 'punct'; text: string };

/** Splits dot into quoted ids (unescaped), bare words, `->` and single punctuation; throws on an unclosed string. */
export function tokenize(dot: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < dot.length) {
    const char = dot[at]!;
    if (/\s/.test(char)) {
      at += 1;
    } else if (char === '"') {
      let text = '';
      at += 1;
      while (at < dot.length && dot[at] !== '"') {
        if (dot[at] === '\\') {
          text += dot[at + 1] === '"' || dot[at + 1] === '\\' ? dot[at + 1] : `\\${dot[at + 1]}`;
          at += 2;
        } else {
          text += dot[at];
          at += 1;
        }
      }
      assert.ok(at < dot.length, 'an unclosed quoted string');
      at += 1;
      tokens.push({ kind: 'id', text });
    } else if (dot.startsWith('->', at)) {
      tokens.push({ kind: 'punct', text: '->' });
      at += 2;
    } else if (/[A-Za-z0-9_.]/.test(char)) {
      const word = /^[A-Za-z0-9_.]+/.exec(dot.slice(at))![0];
      tokens.push({ kind: 'word', text: word });
      at += word.length;
    } else {
      tokens.push({ kind: 'punct', text: char });
      at += 1;
    }
  }
  return tokens;
}

export interface ParsedDot {
  nodes: Set<string>;
  edges: [string, string][];
  clusters: string[];
}

/** Reads a statement's attribute list `[k=v, ...]` starting at `at` (on "["); returns the index after "]". */
function skipAttributes(tokens: Token[], at: number): number {
  assert.equal(tokens[at]?.text, '[');
  let next = at + 1;
  while (tokens[next]?.text !== ']') {
    assert.ok(next < tokens.length, 'an unclosed attribute list');
    next += 1;
  }
  return next + 1;
}

export function parseDot(dot: string): ParsedDot {
  const tokens = tokenize(dot);
  assert.deepEqual(tokens.slice(0, 3).map((token) => token.text), ['digraph', 'dnsplane', '{']);
  let depth = 0;
  for (const token of tokens) {
    if (token.kind !== 'punct') continue;
    if (token.text === '{') depth += 1;
    if (token.text === '}') depth -= 1;
    assert.ok(depth >= 0, 'a closing brace without its opening one');
  }
  assert.equal(depth, 0, 'unbalanced braces');
  assert.equal(tokens[tokens.length - 1]?.text, '}', 'the graph ends with its closing brace');
  const parsed: ParsedDot = { nodes: new Set(), edges: [], clusters: [] };
  for (let at = 3; at < tokens.length - 1;) {
    const token = tokens[at]!;
    if (token.kind === 'word' && token.text === 'subgraph') {
      const name = tokens[at + 1]!;
      assert.equal(name.kind, 'id', 'a subgraph name is quoted');
      parsed.clusters.push(name.text);
      at += 3;
    } else if (token.kind === 'id' && tokens[at + 1]?.text === '->') {
      const to = tokens[at + 2]!;
      assert.equal(to.kind, 'id', 'an edge ends at a quoted id');
      parsed.edges.push([token.text, to.text]);
      at = skipAttributes(tokens, at + 3);
    } else if (token.kind === 'id') {
      assert.ok(!parsed.nodes.has(token.text), `node ${token.text} declared twice`);
      parsed.nodes.add(token.text);
      at = skipAttributes(tokens, at + 1);
    } else if (token.kind === 'word' && tokens[at + 1]?.text === '=') {
      at += 3; // An attribute of the graph or a cluster: rankdir=LR, label="…".
    } else {
      // A default (node [...]) or punctuation.
      at = token.text === 'node' ? skipAttributes(tokens, at + 1) : at + 1;
    }
  }
  for (const [from, to] of parsed.edges) {
    assert.ok(parsed.nodes.has(from), `edge from undeclared ${from}`);
    assert.ok(parsed.nodes.has(to), `edge to undeclared ${to}`);
  }
  return parsed;
}
