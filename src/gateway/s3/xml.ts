/**
 * The little XML the S3 API needs: escaping and an element builder for the
 * response bodies, and a tolerant reader of the few request bodies S3
 * clients send (DeleteObjects, CreateBucketConfiguration) that extracts
 * elements by name and refuses anything malformed with MalformedXML.
 */
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { verifiedBody } from './sigv4.ts'

/** Largest XML request body (DeleteObjects of 1000 keys, tagging, configurations). */
export const MAX_XML_BODY_BYTES = 2 * 1024 * 1024

/**
 * Children rendered in the order given, whatever their names: each entry of
 * the array is one element `{ Name: value }` (S3 interleaves Version and
 * DeleteMarker elements in ListObjectVersions).
 */
export const XML_SEQUENCE = '#seq'

/** Escape text for an XML element or attribute. */
export function escapeXml (text: string): string {
  return text.replace(/[<>&'"\r]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;', '\r': '&#13;' })[c] as string)
}

/** A value of an element: text, nested elements, or a list of either. */
export type XmlValue = string | number | boolean | undefined | XmlNode | XmlNode[]
/** An element's children by name; arrays repeat the element. */
export interface XmlNode { [name: string]: XmlValue | XmlValue[] }

function renderChildren (node: XmlNode): string {
  return Object.entries(node).map(([k, v]) => (k === XML_SEQUENCE ? (v as XmlNode[]).map(renderChildren).join('') : render(k, v))).join('')
}

function render (name: string, value: XmlValue | XmlValue[]): string {
  if (value === undefined) return ''
  if (Array.isArray(value)) return value.map((v) => render(name, v)).join('')
  if (typeof value === 'object') return `<${name}>${renderChildren(value)}</${name}>`
  return `<${name}>${escapeXml(String(value))}</${name}>`
}

/**
 * A whole XML document with the S3 namespace on its root.
 *
 * @example
 * xmlDocument('ListAllMyBucketsResult', { Buckets: { Bucket: [{ Name: 'a' }] } })
 */
export function xmlDocument (root: string, body: XmlNode, namespace = true): string {
  const inner = renderChildren(body)
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${namespace ? ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"' : ''}>${inner}</${root}>`
}

function unescapeXml (text: string): string {
  return text.replace(/&(lt|gt|amp|apos|quot|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === 'lt') return '<'
    if (e === 'gt') return '>'
    if (e === 'amp') return '&'
    if (e === 'apos') return "'"
    if (e === 'quot') return '"'
    return String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
  })
}

/** Check that `xml` is a well-formed document whose tags balance; MalformedXML otherwise. */
export function checkWellFormed (xml: string): void {
  const stack: string[] = []
  const tag = /<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->/g
  let text = xml
  for (const m of xml.matchAll(tag)) {
    if (m[2] === undefined) continue
    if (m[1] === '/') {
      if (stack.pop() !== m[2]) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
    } else if (m[3] !== '/') stack.push(m[2])
  }
  text = text.replace(tag, '').trim()
  if (stack.length > 0 || /[<>]/.test(text)) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
}

/** The texts of every `<name>…</name>` element inside `xml` (first level of matching only). */
export function elementTexts (xml: string, name: string): string[] {
  const out: string[] = []
  const re = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g')
  for (const m of xml.matchAll(re)) out.push(unescapeXml(m[1] as string))
  return out
}

/** The raw inner XML of every `<name>…</name>` element (for nested structures). */
export function elementBlocks (xml: string, name: string): string[] {
  const out: string[] = []
  const re = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g')
  for (const m of xml.matchAll(re)) out.push(m[1] as string)
  return out
}

/** The whole (small) XML body of a request, verified against its signature; MalformedXML over `maxBytes`. */
export async function readXmlBody (s3: S3Request, maxBytes = MAX_XML_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  // Checked against the signed payload hash (or chunk signatures) like any body.
  for await (const c of verifiedBody(s3.req, { sig: s3.sig, key: s3.signingKey })) {
    size += c.length
    if (size > maxBytes) throw new S3Error('MalformedXML', 'The XML you provided was too large.')
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}
