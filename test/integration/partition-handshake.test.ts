/**
 * Why a cluster built with init/invite/join may never form a full mesh (and
 * so never heals completely after a partition): the cluster handshake must
 * admit a member whatever the TCP segmentation of its bytes.
 *
 * A member that is slower than its peer receives the peer's HELLO and
 * CONFIRM together, answers with its own CONFIRM, finds the peer's CONFIRM
 * already there and sends its first sealed frame at once: its CONFIRM and
 * that frame leave back to back and usually arrive in one read. This test
 * plays such a member with a raw socket on loopback against a real node and
 * checks that the node keeps the connection, as it does when the frame comes
 * 200 ms after the CONFIRM.
 */
import assert from 'node:assert/strict'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { confirmationTag, deriveDirectionKeys, handshakeSalt, PROTECTOR_VERSION } from '../../src/net/protector.ts'
import { CAIRN_BIN, spawnNode } from '../helpers/cluster.ts'
import type { NodeProcess } from '../helpers/cluster.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { run, waitForChildExit } from '../helpers/process.ts'

const HELLO_BYTES = 33
const CONFIRM_BYTES = 32
/** A connection the node keeps must still be open after this long. */
const OPEN_CHECK_MS = 2000
/** Gap between CONFIRM and the first frame in the control case. */
const SEPARATE_WRITE_GAP_MS = 200
const TRIALS = 3

interface Outcome { closedAfterMs: number | undefined, receivedBytes: number }

/** The first sealed frame a member sends: multistream-select's header, sealed as protector.ts specifies. */
function firstFrame (key: Uint8Array, iv: Uint8Array): Buffer {
  const header = Buffer.from('/multistream/1.0.0\n')
  const plaintext = Buffer.concat([Buffer.from([header.length]), header])
  const length = Buffer.alloc(4)
  length.writeUInt32BE(plaintext.length)
  const nonce = Buffer.alloc(12)
  nonce.set(iv.subarray(0, 4), 0)
  nonce.writeBigUInt64BE(0n, 4)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(length)
  return Buffer.concat([length, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** Handshake with the node as a member; send CONFIRM and the first frame together or apart. */
async function handshake (port: number, clusterKey: Buffer, together: boolean): Promise<Outcome> {
  const socket = connect(port, '127.0.0.1')
  const started = Date.now()
  const nonce = randomBytes(32)
  let received = Buffer.alloc(0)
  let stage: 'hello' | 'confirm' | 'data' = 'hello'
  return await new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve({ closedAfterMs: undefined, receivedBytes: received.length }) }, OPEN_CHECK_MS)
    socket.on('error', () => { /* a reset shows as close */ })
    socket.on('close', () => { clearTimeout(timer); resolve({ closedAfterMs: Date.now() - started, receivedBytes: received.length }) })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (stage === 'hello' && received.length >= HELLO_BYTES) {
        stage = 'confirm'
        socket.write(Buffer.concat([Buffer.from([PROTECTOR_VERSION]), nonce]))
      }
      // The node's HELLO and CONFIRM are both here: the slow member's moment.
      if (stage === 'confirm' && received.length >= HELLO_BYTES + CONFIRM_BYTES) {
        stage = 'data'
        const salt = handshakeSalt(nonce, received.subarray(1, HELLO_BYTES))
        const keys = deriveDirectionKeys(clusterKey, salt, nonce)
        const confirm = confirmationTag(keys.confirmKey, salt, nonce)
        const frame = firstFrame(keys.key, keys.iv)
        if (together) {
          socket.write(Buffer.concat([confirm, frame]))
        } else {
          socket.write(confirm)
          setTimeout(() => { if (!socket.destroyed) socket.write(frame) }, SEPARATE_WRITE_GAP_MS)
        }
      }
    })
  })
}

describe('cluster handshake and TCP segmentation', { timeout: 300_000 }, () => {
  let root: string | undefined
  let node: NodeProcess | undefined

  after(async () => {
    if (node !== undefined) {
      node.child.kill('SIGKILL')
      await waitForChildExit(node.child, 10_000)
    }
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  }, { timeout: 60_000 })

  it('a member whose CONFIRM and first frame arrive in one segment is admitted, like one whose frame comes later', { timeout: 120_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'cairn-it-handshake-'))
    const dir = join(root, 'solo')
    assertSucceeded(await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--k', '1', '--m', '0', '--name', 'solo']), 'init')
    node = await spawnNode(dir)
    const config = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')) as { listenPort: number }
    const secret = JSON.parse(await readFile(join(dir, 'secret.json'), 'utf8')) as { clusterKey: string }
    const clusterKey = Buffer.from(secret.clusterKey, 'base64')

    const apart: Outcome[] = []
    const together: Outcome[] = []
    for (let i = 0; i < TRIALS; i++) {
      apart.push(await handshake(config.listenPort, clusterKey, false))
      together.push(await handshake(config.listenPort, clusterKey, true))
    }
    console.log(`# CONFIRM then frame ${SEPARATE_WRITE_GAP_MS} ms later: ${JSON.stringify(apart)}`)
    console.log(`# CONFIRM and frame in one write:      ${JSON.stringify(together)}`)
    // Control: the node accepted the frame and answered (its own multistream header).
    for (const o of apart) {
      assert.equal(o.closedAfterMs, undefined, 'the node keeps a connection whose first frame comes later')
      assert.ok(o.receivedBytes > HELLO_BYTES + CONFIRM_BYTES, 'and answers the frame')
    }
    for (const o of together) {
      assert.equal(o.closedAfterMs, undefined, `the node dropped a member's connection ${o.closedAfterMs} ms after it opened because its CONFIRM and first frame came in one segment (see the node's debug log: "Read buffer overflow - 72 > 65")`)
    }
  })
})
