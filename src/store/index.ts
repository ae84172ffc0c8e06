/**
 * Cairn's local shard store: content-addressed shard files with fsync,
 * quota, verification on read and quarantine.
 */
export { createShardStore } from './shard-store.ts'
export { checkShardHash } from './layout.ts'
export { createDirSyncer } from './dir-sync.ts'
export type { DirSyncer } from './dir-sync.ts'
export * from './constants.ts'
export type { ShardStore, ShardStoreInit, ShardStoreOptions, ShardStoreStats } from './types.ts'
