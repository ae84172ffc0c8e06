/**
 * A node's data directory: its configuration files, created by `cairn init`
 * or `cairn join`, read by `cairn start` and by the CLI.
 *
 * Layout of DIR:
 * - `node.json`    (mode 0600) this node: name, libp2p private key, ports, bootstrap addresses, quota
 * - `cluster.json` the cluster: id and coding parameters (k, m)
 * - `secret.json`  (mode 0600) the cluster key (private network) and the
 *                  master key that wraps every object's data key
 * - `api.json`     (mode 0600) written at start: the API URL and its token
 * - `meta.db`      (mode 0600) the metadata replica;  `shards/`  the shard store
 * The directory is 0700; `secureNodeDir` enforces the modes at every start.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CairnError } from '../util/errors.ts'

/** Version of the configuration files' format. */
export const CONFIG_VERSION = 1
/** Default quota a node gives to the pool: 10 GiB. */
export const DEFAULT_QUOTA_BYTES = 10 * 1024 ** 3

export interface NodeConfig {
  v: number
  name: string
  /** libp2p private key, protobuf bytes, base64. */
  peerKey: string
  host: string
  listenPort: number
  apiPort: number
  /** Port of the S3 endpoint on 127.0.0.1 (absent in nodes made before it existed: picked at start). */
  s3Port?: number
  bootstrap: string[]
  quotaBytes: number
  zone: string
  anchor: boolean
  mdns: boolean
}

export interface ClusterConfig {
  v: number
  clusterId: string
  k: number
  m: number
  createdMs: number
}

export interface SecretConfig {
  v: number
  /** 32-byte pre-shared key of the private network, base64. */
  clusterKey: string
  /** 32-byte key wrapping every version's data key, base64. */
  masterKey: string
}

export interface ApiConfig {
  url: string
  token: string
  pid: number
  /** The node's S3 endpoint. */
  s3?: string
}

/** Everything `cairn start` needs. */
export interface NodeFiles {
  dir: string
  node: NodeConfig
  cluster: ClusterConfig
  secret: SecretConfig
  /** Token of the local HTTP API (persisted in secret storage across restarts). */
  apiToken: string
}

/** Write a file atomically: temp file, fsync, rename. */
export function writeFileAtomic (path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text, { mode })
  const fd = openSync(tmp, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
  renameSync(tmp, path)
}

function readJson<T> (path: string, what: string): T {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    throw new CairnError('CONFIG', `${what} ${path} is missing`, 'is this a Cairn node directory? create one with `cairn init --dir DIR` or `cairn join TOKEN --dir DIR`')
  }
  try {
    return JSON.parse(text) as T
  } catch {
    throw new CairnError('CONFIG', `${what} ${path} is not valid JSON`, 'restore it from a backup or re-create the node')
  }
}

/** True when DIR holds an initialised node. */
export function isNodeDir (dir: string): boolean {
  return existsSync(join(dir, 'node.json'))
}

/** Load a node directory's configuration; clear errors when anything is missing. */
export function loadNodeFiles (dirArg: string): NodeFiles {
  const dir = resolve(dirArg)
  if (!existsSync(dir)) throw new CairnError('CONFIG', `node directory ${dir} does not exist`, 'create it with `cairn init --dir DIR` or `cairn join TOKEN --dir DIR`')
  const node = readJson<NodeConfig>(join(dir, 'node.json'), 'node configuration')
  const cluster = readJson<ClusterConfig>(join(dir, 'cluster.json'), 'cluster configuration')
  const secretFile = readJson<SecretConfig & { apiToken?: string }>(join(dir, 'secret.json'), 'cluster secret')
  if (node.v !== CONFIG_VERSION || cluster.v !== CONFIG_VERSION) throw new CairnError('CONFIG', `node directory ${dir} has configuration version ${node.v}, this Cairn reads ${CONFIG_VERSION}`, 'upgrade Cairn')
  const { apiToken, ...secret } = secretFile
  return { dir, node, cluster, secret, apiToken: apiToken ?? '' }
}

/** Create a node directory's files; refuses to overwrite an existing node. */
export function createNodeFiles (dirArg: string, files: Omit<NodeFiles, 'dir' | 'apiToken'>): NodeFiles {
  const dir = resolve(dirArg)
  if (isNodeDir(dir)) throw new CairnError('CONFLICT', `${dir} already holds a Cairn node`, 'start it with `cairn start --node DIR`, or choose an empty directory')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, PRIVATE_DIR_MODE)
  const apiToken = randomBytes(24).toString('base64url')
  writeFileAtomic(join(dir, 'secret.json'), JSON.stringify({ ...files.secret, apiToken }, null, 2), 0o600)
  writeFileAtomic(join(dir, 'cluster.json'), JSON.stringify(files.cluster, null, 2))
  writeFileAtomic(join(dir, 'node.json'), JSON.stringify(files.node, null, 2), PRIVATE_FILE_MODE)
  return { dir, ...files, apiToken }
}

/** Rewrite node.json (e.g. to add bootstrap addresses). */
export function saveNodeConfig (dir: string, node: NodeConfig): void {
  writeFileAtomic(join(dir, 'node.json'), JSON.stringify(node, null, 2), PRIVATE_FILE_MODE)
}

/** Mode of a node directory: only its owner may list or enter it. */
export const PRIVATE_DIR_MODE = 0o700
/** Mode of files holding secrets (node.json holds the node's private key, secret.json the cluster keys). */
export const PRIVATE_FILE_MODE = 0o600
/** Files of a node directory that are made private at every start, whatever their mode was. */
const PRIVATE_FILES = ['node.json', 'secret.json', 'cluster.json', 'api.json', 'meta.db', 'meta.db-wal', 'meta.db-shm']

/**
 * Make a node directory private: the directory 0700, its key and database
 * files 0600, also when they were created earlier with wider modes, and a
 * umask so that every file the node creates from now on is private too.
 */
export function secureNodeDir (dir: string): void {
  process.umask(0o077)
  chmodSync(dir, PRIVATE_DIR_MODE)
  for (const name of PRIVATE_FILES) {
    const path = join(dir, name)
    if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE)
  }
}

/** Where the running node's API can be reached; written at start. */
export function writeApiConfig (dir: string, api: ApiConfig): void {
  writeFileAtomic(join(dir, 'api.json'), JSON.stringify(api, null, 2), 0o600)
}

/** Read the running node's API address; clear error when the node never started. */
export function readApiConfig (dirArg: string): ApiConfig {
  const dir = resolve(dirArg)
  if (!isNodeDir(dir)) throw new CairnError('CONFIG', `${dir} is not a Cairn node directory`, 'pass --node DIR (or set CAIRN_NODE) to a directory made by `cairn init`, `cairn join` or `cairn cluster`')
  if (!existsSync(join(dir, 'api.json'))) throw new CairnError('NODE_UNREACHABLE', `the node in ${dir} has never been started`, 'start it with `cairn start --node DIR`')
  return readJson<ApiConfig>(join(dir, 'api.json'), 'API address file')
}
