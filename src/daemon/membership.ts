/**
 * The live membership view of one node: the roster (replicated `node`
 * records) joined with who is connected right now and how much free space
 * each member reported. It implements the engine's ClusterView. Roles and
 * zones are the effective ones: what a member declared, overridden by what
 * an administrator set (`nodeattr` records).
 */
import type { PlacementNode } from '../cluster/placement.ts'
import type { ClusterView } from '../engine/types.ts'
import type { MetaStore } from '../meta/store.ts'
import type { NodeBody } from '../meta/types.ts'
import { adminStates, applyNodeAttrs } from '../meta/node-attrs.ts'
import type { NodeAdminState } from '../meta/node-attrs.ts'
import type { NodePresence } from '../meta/node-presence.ts'
import { placementMeasure } from '../cluster/placement-profile.ts'
import type { PlacementMeasure } from '../cluster/placement-profile.ts'
import { fromNodePresence } from '../cluster/presence-history.ts'
import { inlineLimitBytes } from '../cluster/inline-limit.ts'

/** Free/used space a peer reported through the node-info protocol. */
export interface PeerCapacity { usedBytes: number, quotaBytes: number, corruptShards: number, atMs: number, liveBytes?: number, orphanBytes?: number, lostShards?: number }

/** Membership view backed by the metadata replica and the network. */
export class Membership implements ClusterView {
  readonly selfId: string
  readonly selfName: string
  readonly k: number
  readonly m: number
  private readonly meta: MetaStore
  private readonly connected: () => string[]
  private readonly selfCapacity: () => PeerCapacity
  /** Distinct online nodes a put needs (the cluster's happiness setting). */
  readonly happiness: () => number
  /** The largest object stored inline (the inline limit of this roster, or the setting). */
  readonly inlineMaxBytes: () => number
  readonly capacity = new Map<string, PeerCapacity>()

  constructor (init: { selfId: string, selfName: string, k: number, m: number, meta: MetaStore, connected: () => string[], selfCapacity: () => PeerCapacity, happiness?: () => number, inlineMaxBytes?: () => number }) {
    this.selfId = init.selfId
    this.selfName = init.selfName
    this.k = init.k
    this.m = init.m
    this.meta = init.meta
    this.connected = init.connected
    this.selfCapacity = init.selfCapacity
    this.happiness = init.happiness ?? (() => init.k + init.m)
    this.inlineMaxBytes = init.inlineMaxBytes ?? (() => inlineLimitBytes(this.memberIds().size))
  }

  #roster: Array<{ id: string, body: NodeBody }> | undefined
  #memberIds: Set<string> | undefined
  #adminStates: Map<string, NodeAdminState> | undefined

  /** Forget the cached roster (called when roster records change). */
  invalidate (): void {
    this.#roster = undefined
    this.#memberIds = undefined
    this.#adminStates = undefined
  }

  /** A member's administrative state (`cairn node decommission`); `active` unless set. */
  adminState (id: string): NodeAdminState {
    this.#adminStates ??= adminStates(this.meta.live('nodeattr'))
    return this.#adminStates.get(id) ?? 'active'
  }

  /** True when the member may receive shards and coordinate work (not decommissioning or decommissioned). */
  placeable (id: string): boolean {
    return this.adminState(id) === 'active'
  }

  /**
   * Every roster member with its body (cached until the roster changes);
   * `anchor` and `zone` are the effective ones (administrator overrides from
   * `cairn node role|zone` applied, meta/node-attrs.ts).
   */
  roster (): Array<{ id: string, body: NodeBody }> {
    this.#roster ??= applyNodeAttrs(this.meta.live('node').map((r) => ({ id: r.pk, body: r.body as NodeBody })), this.meta.live('nodeattr'))
    return this.#roster
  }

  /** Ids of every roster member. */
  memberIds (): Set<string> {
    this.#memberIds ??= new Set(this.roster().map((m) => m.id))
    return this.#memberIds
  }

  isOnline (id: string): boolean {
    return id === this.selfId || this.connected().includes(id)
  }

  nodeName (id: string): string {
    if (id === this.selfId) return this.selfName
    return this.roster().find((m) => m.id === id)?.body.name ?? ''
  }

  private weightOf (id: string, body: NodeBody): number {
    const cap = id === this.selfId ? this.selfCapacity() : this.capacity.get(id)
    const free = cap === undefined ? body.quotaBytes : cap.quotaBytes - cap.usedBytes
    // Full nodes keep a tiny weight so they are chosen only when nothing else is left.
    return Math.max(free, 1)
  }

  /** Placement measures by published presence report (decoded once per report: the roster hands out the same body until it changes). */
  readonly #measures = new WeakMap<NodePresence, PlacementMeasure | null>()

  /**
   * The member's measured profile and availability for placement, from the
   * presence history it published (the same on every node); {} while it has
   * published none or too little.
   */
  private measureOf (body: NodeBody): Partial<PlacementMeasure> {
    const presence = body.presence
    if (presence === undefined) return {}
    let measure = this.#measures.get(presence)
    if (measure === undefined) {
      measure = placementMeasure(fromNodePresence(presence)) ?? null
      this.#measures.set(presence, measure)
    }
    return measure ?? {}
  }

  /** A roster member as placement sees it (whether online or not); undefined for a non-member. */
  placementNode (id: string): PlacementNode | undefined {
    const member = this.roster().find((m) => m.id === id)
    return member === undefined ? undefined : { id, weight: this.weightOf(id, member.body), zone: member.body.zone, anchor: member.body.anchor, ...this.measureOf(member.body) }
  }

  /**
   * Online members that may receive shards and coordinate work: a member
   * being decommissioned (or done) is left out, so new writes, repairs and
   * every coordinator choice pass it by; its shards still count where they are.
   */
  onlineNodes (): PlacementNode[] {
    const connected = new Set(this.connected())
    connected.add(this.selfId)
    return this.roster()
      .filter((member) => connected.has(member.id) && this.placeable(member.id))
      .map((member) => ({ id: member.id, weight: this.weightOf(member.id, member.body), zone: member.body.zone, anchor: member.body.anchor, ...this.measureOf(member.body) }))
  }
}
