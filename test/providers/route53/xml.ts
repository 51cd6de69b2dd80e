/**
 * The little XML the Route 53 emulator needs: parse a request document the
 * SDK sends (elements, text, the five predefined entities and numeric
 * character references; attributes are read past, since Route 53 requests
 * carry only the namespace) and escape text for the responses it writes.
 * A document it cannot read is a `MalformedXmlError`, which the emulator
 * answers as AWS does a body it cannot parse.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** The element's own text, entities decoded (empty for an element holding only elements). */
  text: string;
}

export class MalformedXmlError extends Error {}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** Deeper than any Route 53 request (ChangeResourceRecordSetsRequest is 7 levels). */
const depthMax = 32;

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    const decoded = entities[entity];
    if (decoded === undefined) throw new MalformedXmlError(`unknown entity ${whole}`);
    return decoded;
  });
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Parses one document; the root element is returned. */
export function parseXml(document: string): XmlElement {
  const body = document.replace(/^\uFEFF?\s*(<\?xml[^?]*\?>)?\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let position = 0;
  for (let match = tag.exec(body); match !== null; match = tag.exec(body)) {
    const between = body.slice(position, match.index);
    if (/[<>]/.test(between)) throw new MalformedXmlError(`unexpected markup at ${position}`);
    if (stack.length > 0) stack[stack.length - 1]!.text += decodeText(between);
    else if (between.trim() !== '') throw new MalformedXmlError('text outside the root element');
    position = tag.lastIndex;
    if (match[2] === undefined) continue; // a comment
    const [, closing, name, , selfClosing] = match;
    if (closing === '/') {
      const open = stack.pop();
      if (open?.name !== name) throw new MalformedXmlError(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    if (root !== null && stack.length === 0) throw new MalformedXmlError('a second root element');
    const node: XmlElement = { name: name!, children: [], text: '' };
    if (stack.length > 0) stack[stack.length - 1]!.children.push(node);
    else root = node;
    if (selfClosing !== '/') stack.push(node);
    if (stack.length > depthMax) throw new MalformedXmlError(`nested deeper than ${depthMax}`);
  }
  if (body.slice(position).trim() !== '') throw new MalformedXmlError('text after the root element');
  if (root === null || stack.length > 0) throw new MalformedXmlError('no complete root element');
  for (const node of walk(root)) if (node.children.length > 0) node.text = node.text.trim();
  return root;
}

function* walk(node: XmlElement): Generator<XmlElement> {
  yield node;
  for (const inner of node.children) yield* walk(inner);
}

/** The one child named `name`, or undefined. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((candidate) => candidate.name === name);
}

/** Every child named `name`. */
export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((candidate) => candidate.name === name);
}

/** `<name>text</name>` with the text escaped; nothing when `text` is undefined. */
export function element(name: string, text: string | number | boolean | undefined): string {
  return text === undefined ? '' : `<${name}>${escapeXml(String(text))}</${name}>`;
}
