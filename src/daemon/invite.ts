/**
 * Join tokens: everything a new machine needs to become a member — the
 * cluster id, coding parameters, the cluster and master keys, and addresses
 * of members to bootstrap from. A token is a secret: whoever holds it can
 * join the cluster and read its data.
 *
 * Format: `cairn1.` + base64url(JSON {v:1, clusterId, k, m, clusterKey, masterKey, bootstrap[]}).
 */
import { CairnError } from '../util/errors.ts'

/** Prefix and version of the token format. */
export const INVITE_PREFIX = 'cairn1.'

export interface InviteBody {
  v: 1
  clusterId: string
  k: number
  m: number
  createdMs: number
  clusterKey: string
  masterKey: string
  bootstrap: string[]
}

/** Encode a join token. */
export function encodeInvite (body: InviteBody): string {
  return INVITE_PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url')
}

/** Decode and validate a join token. */
export function decodeInvite (token: string): InviteBody {
  const bad = (why: string): never => { throw new CairnError('BAD_INPUT', `the join token is invalid: ${why}`, 'copy the whole token printed by `cairn invite` on a member node') }
  if (!token.startsWith(INVITE_PREFIX)) bad('it does not start with "cairn1."')
  let body: InviteBody
  try {
    body = JSON.parse(Buffer.from(token.slice(INVITE_PREFIX.length), 'base64url').toString('utf8')) as InviteBody
  } catch {
    return bad('it is not base64url JSON')
  }
  if (body.v !== 1 || typeof body.clusterId !== 'string' || !Number.isInteger(body.k) || !Number.isInteger(body.m)) bad('fields are missing')
  if (Buffer.from(body.clusterKey ?? '', 'base64').length !== 32 || Buffer.from(body.masterKey ?? '', 'base64').length !== 32) bad('keys have the wrong size')
  if (!Array.isArray(body.bootstrap) || body.bootstrap.length === 0) bad('it names no member address')
  return body
}
