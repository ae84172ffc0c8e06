/**
 * S3 access keys and their grants, kept as replicated cluster metadata (the
 * `s3key` table), so every node accepts a key a moment after it was created
 * on any node. The secret is stored wrapped (AES-256-GCM) under a key
 * derived from the cluster master key with its own label, never in plain
 * text; it is shown once, at creation.
 */
import { randomBytes } from 'node:crypto'
import { deriveKey, unwrapDataKey, wrapDataKey } from '../crypto/index.ts'
import type { MetaStore } from '../meta/store.ts'
import type { MetaRecord, S3KeyBody, S3Permission } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import type { HybridClock } from '../util/hlc.ts'
import type { MetaCommitter } from './types.ts'

/** HKDF label of the key that wraps S3 secrets. */
const SECRET_WRAP_LABEL = 'cairn/s3-secret/v1'
/** Characters of an access key id after its prefix (AWS ids are 20 characters). */
const ACCESS_KEY_ID_RANDOM_CHARS = 15
const ACCESS_KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const PERMISSION_RANK: Record<S3Permission, number> = { read: 1, write: 2, owner: 3 }

/** A key as listed (no secret). */
export interface AccessKeyInfo { accessKeyId: string, name: string, admin: boolean, grants: Record<string, S3Permission>, createdMs: number }

/** What the access keys need of the node. */
export interface AccessKeysInit {
  meta: MetaStore
  committer: MetaCommitter
  clock: HybridClock
  masterKey: Buffer
  selfId: string
}

/**
 * The cluster's S3 access keys.
 *
 * @example
 * const { accessKeyId, secretAccessKey } = await keys.create('backup', false)
 */
export class AccessKeys {
  private readonly init: AccessKeysInit
  private readonly wrapKey: Buffer

  constructor (init: AccessKeysInit) {
    this.init = init
    this.wrapKey = deriveKey(init.masterKey, SECRET_WRAP_LABEL)
  }

  private record (pk: string, body: S3KeyBody, tombstone = false): MetaRecord {
    return { v: 1, table: 's3key', pk, hlc: this.init.clock.now(), origin: this.init.selfId, tombstone, body }
  }

  /** Every live key. */
  list (): AccessKeyInfo[] {
    return this.init.meta.live('s3key').map((r) => {
      const b = r.body as S3KeyBody
      return { accessKeyId: r.pk, name: b.name, admin: b.admin, grants: b.grants, createdMs: b.createdMs }
    })
  }

  private byName (name: string): { id: string, body: S3KeyBody } {
    const found = this.init.meta.live('s3key').find((r) => (r.body as S3KeyBody).name === name)
    if (found === undefined) throw new CairnError('NOT_FOUND', `no access key named ${name}`, 'list keys with `cairn key ls`')
    return { id: found.pk, body: found.body as S3KeyBody }
  }

  /** Create a key; the secret is returned here and never again. */
  async create (name: string, admin: boolean, signal?: AbortSignal): Promise<{ accessKeyId: string, secretAccessKey: string }> {
    if (!KEY_NAME_PATTERN.test(name)) throw new CairnError('BAD_INPUT', `invalid key name ${JSON.stringify(name)}`, 'use 1-64 letters, digits, dots, dashes or underscores')
    if (this.list().some((k) => k.name === name)) throw new CairnError('CONFLICT', `an access key named ${name} exists`, 'pick another name, or remove it first with `cairn key rm`')
    const secret = randomBytes(32)
    const random = randomBytes(ACCESS_KEY_ID_RANDOM_CHARS)
    const accessKeyId = `CRN${[...random].map((b) => ACCESS_KEY_ID_ALPHABET[b % 32]).join('')}00`.slice(0, 20)
    const body: S3KeyBody = { name, secret: wrapDataKey(this.wrapKey, secret), admin, grants: {}, createdMs: Date.now() }
    await this.init.committer.commit([this.record(accessKeyId, body)], signal)
    return { accessKeyId, secretAccessKey: secret.toString('base64url') }
  }

  /** Remove a key by name. */
  async remove (name: string, signal?: AbortSignal): Promise<void> {
    const { id, body } = this.byName(name)
    await this.init.committer.commit([this.record(id, body, true)], signal)
  }

  /** Grant a key a permission on a bucket (replacing its earlier one there). */
  async allow (name: string, bucket: string, permission: S3Permission, signal?: AbortSignal): Promise<void> {
    if (!(permission in PERMISSION_RANK)) throw new CairnError('BAD_INPUT', `unknown permission ${JSON.stringify(permission)}`, 'use read, write or owner')
    const { id, body } = this.byName(name)
    await this.init.committer.commit([this.record(id, { ...body, grants: { ...body.grants, [bucket]: permission } })], signal)
  }

  /** The secret and rights of a live key id, or undefined. */
  lookup (accessKeyId: string): { secret: string, info: AccessKeyInfo } | undefined {
    const record = this.init.meta.get('s3key', accessKeyId)
    if (record === undefined || record.tombstone) return undefined
    const b = record.body as S3KeyBody
    return { secret: unwrapDataKey(this.wrapKey, b.secret).toString('base64url'), info: { accessKeyId, name: b.name, admin: b.admin, grants: b.grants, createdMs: b.createdMs } }
  }

  /** True when `key` may act on `bucket` at `needed` (admins may do everything; a bucket's creator owns it). */
  static permits (key: AccessKeyInfo, bucket: string, bucketOwner: string | undefined, needed: S3Permission): boolean {
    if (key.admin || (bucketOwner !== undefined && bucketOwner === key.accessKeyId)) return true
    const granted = key.grants[bucket]
    return granted !== undefined && PERMISSION_RANK[granted] >= PERMISSION_RANK[needed]
  }
}
