/**
 * Named limits and names of the shard store's on-disk layout.
 */

/** Sub-directory holding shard files. */
export const SHARDS_DIR_NAME = 'shards'

/** Sub-directory where shards that failed their hash check are moved, for inspection. */
export const QUARANTINE_DIR_NAME = 'quarantine'

/**
 * Hex characters of the fan-out directory name: 2 gives 256 directories, so
 * a million shards means ~4000 entries per directory, which every file system
 * Cairn runs on (ext4, NTFS, APFS) lists and looks up quickly.
 */
export const FAN_OUT_PREFIX_CHARS = 2

/**
 * Prefix of temp files written before the atomic rename. A leading dot keeps
 * them apart from shard names (which are pure hex); open() deletes leftovers
 * of a crash.
 */
export const TEMP_FILE_PREFIX = '.tmp-'

/**
 * Largest shard the store accepts: the store reads and hashes whole shards in
 * memory, and the stripe codec makes ~1 MiB shards, so 64 MiB leaves room for
 * big stripes while refusing absurd requests from a misbehaving peer.
 */
export const MAX_SHARD_SIZE_BYTES = 64 * 1024 * 1024
