/**
 * The `coord` package: a Promise API over the Rust client of coord (a
 * replicated tree of nodes with sessions, watches, locks, elections,
 * queues...). Start from {@link Client.connect}.
 *
 * Types of the public API (lib/index.js). The native types it builds on
 * (Stat, NodeData, TxnResult, ...) come from the generated ../index.d.ts.
 *
 * @packageDocumentation
 */
import type {
  ChildStat,
  CreateOptions as NativeCreateOptions,
  LockContender,
  LockInfoJs,
  Member,
  NodeData,
  ServiceInstance,
  Stat,
  TreeEntry,
  TxnOp,
  TxnResult,
  WatchEventJs,
} from '../index'
import type { Election, LeaderInfo } from './election'
import type { LockHandle, MultiLockHandle, ReadWriteLock, Semaphore } from './locks'
import type {
  Barrier,
  Counter,
  DoubleBarrier,
  Group,
  NodeCache,
  Queue,
  ServiceDiscovery,
  TreeCache,
} from './recipes'

export * from './errors'
export * from './locks'
export * from './election'
export * from './recipes'
/** The kind of node a create makes (the native options; {@link CreateOptions} adds the ACL). */
export type { NativeCreateOptions as CreateFlags }
export type { ChildStat, LockContender, Member, NodeData, ServiceInstance, Stat, TreeEntry, TxnOp, TxnResult }

/** Node data: a Buffer, any Uint8Array, or a string (stored as UTF-8). */
export type Data = Buffer | Uint8Array | string

/** Options of {@link Client.connect}. */
export interface ConnectOptions {
  /** `host:port,host:port`; default `$COORD_SERVERS`, else `127.0.0.1:2281`. */
  servers?: string
  /** Session timeout to ask for (the server clamps it); default 10 000. */
  sessionTimeoutMs?: number
  /** Limit on each request, reconnect included; default the session timeout. */
  requestTimeoutMs?: number
  /** Limit on the first connection; default 5 000. */
  connectTimeoutMs?: number
  /** Speak TLS; a refused certificate rejects with ConnectionLossError saying why. */
  tls?: TlsOptions
  /** Bearer token from the server's tokens file (identity `token:<user>`). */
  token?: string
  /** ZooKeeper digest credentials, `'user:password'` or `{ user, password }`. */
  digest?: string | DigestCredentials
}

/** ZooKeeper digest credentials as an object. */
export interface DigestCredentials {
  /** The user name. */
  user: string
  /** The password (sent once, after connecting). */
  password: string
}

/** TLS settings: PEM files. */
export interface TlsOptions {
  /** CA certificates that sign the servers' certificates. */
  ca: string
  /** Client certificate chain (leaf first), for servers that require one; needs `key`. */
  cert?: string
  /** Private key of `cert`. */
  key?: string
  /** Name the servers' certificates must carry (default: each server's host). */
  serverName?: string
}

/** One ACL entry: `perms` (letters of `cdrwa`) granted to `scheme:id`. */
export interface AclEntry {
  /** `world`, `auth`, `digest`, `ip`, `token`, `x509`... */
  scheme: string
  /** The identity within the scheme (`anyone`, `user:hash`, an address...). */
  id: string
  /** Letters of `cdrwa`: create, delete, read, write, admin. */
  perms: string
}

/** An ACL entry as an object or as ZooKeeper's text `'scheme:id:perms'`. */
export type AclLike = AclEntry | string

/** Options of {@link Client.create}: the node's kind, parents, ACL. */
export interface CreateOptions extends NativeCreateOptions {
  /** The node's ACL (default `world:anyone:cdrwa`); not with `makeParents`. */
  acl?: AclLike[]
}

/** Hard limits of a subtree quota; an absent limit is "no limit of this kind". */
export interface QuotaLimits {
  /** Most nodes the subtree may hold, its root included. */
  maxNodes?: number
  /** Most bytes of data the subtree may hold. */
  maxBytes?: number
}

/** A quota and what its subtree holds now (`nodes` counts the root). */
export interface Quota extends QuotaLimits {
  /** Nodes in the subtree now, its root included. */
  nodes: number
  /** Bytes of data in the subtree now. */
  bytes: number
}

/** A lock's line at one moment: who holds it, who waits (in line order). */
export interface LockInfo extends LockInfoJs {
  /** Who holds it: one exclusive holder, any number of readers, or a semaphore's first N leases. */
  holders: LockLineEntry[]
  /** Who waits, in line order. */
  waiters: LockLineEntry[]
}

/** One node in a lock's line, with its kind. */
export interface LockLineEntry extends LockContender {
  /** `'exclusive'` (mutex, writer, election candidate), `'shared'` (reader)
   * or `'lease'` (a semaphore's lease). */
  kind: 'exclusive' | 'shared' | 'lease'
}

/** The expected version of a conditional write. */
export interface VersionOptions {
  /** Expected version; the call fails with BadVersionError unless it matches. */
  version?: number
}

/** Options of every call that waits: a time limit and an AbortSignal. */
export interface WaitOptions {
  /** Give up after this long (LockTimeoutError / OperationTimeoutError). */
  timeoutMs?: number
  /** Abort the wait; it rejects with `signal.reason` and leaves no node. */
  signal?: AbortSignal
}

/**
 * Where the session stands: `'connecting'` (first connection),
 * `'connected'`, `'suspended'` (connection lost, reconnecting; ephemerals
 * still exist), `'expired'` (terminal: ephemerals gone) or `'closed'`
 * (terminal: closed by this client).
 */
export type SessionState = 'connecting' | 'connected' | 'suspended' | 'expired' | 'closed'

/** Which watches `removeWatches` removes: every kind, one-shot data/exists, one-shot children, persistent, persistent-recursive. */
export type WatcherKind = 'any' | 'data' | 'children' | 'persistent' | 'persistentRecursive'

/** A watch that fires once, on the next change of what its read saw. */
export declare class OneshotWatch {
  /**
   * Resolves with the event when the watch fires. Rejects with
   * `signal.reason` when `signal` aborts (the watch is abandoned), with
   * CancelledError after `cancel()` or `removeWatches`, SessionExpiredError /
   * ClosedError when the session ends first. Later calls return the same promise.
   */
  wait(options?: SignalOptions): Promise<WatchEvent>
  /** Abandons the watch: a pending `wait()` rejects with CancelledError. */
  cancel(): void
}

/** A change reported by a watch. */
export interface WatchEvent extends WatchEventJs {
  /** What happened; `'eventsLost'` after a reconnect that may have missed events (re-read). */
  type: 'created' | 'deleted' | 'dataChanged' | 'childrenChanged' | 'eventsLost'
}

/**
 * An async iterator over a native stream; breaking out of `for await` closes it.
 *
 * One meaning of the end, the same in C, Python and Node: after `close()`
 * no further item is delivered (not even one that had already arrived) and
 * iteration ends with `{ done: true }`, without throwing. Closing the client
 * ends it the same way. If the session expires, `next()` rejects once with
 * `SessionExpiredError`, then the iterator is done.
 */
export interface Stream<T> extends AsyncIterableIterator<T>, AsyncDisposable {
  /** Resolves once the stream is registered with the server. */
  readonly ready: Promise<void>
  /** Stops the stream: no item after this; a pending `next()` resolves `{ done: true }`. */
  close(): Promise<void>
}

/** A batch of writes applied atomically by `commit()`, from {@link Client.transaction}. */
export declare class Transaction {
  /** Adds a create (no `makeParents` in a transaction). */
  create(path: string, data?: Data, options?: Omit<CreateOptions, 'makeParents'>): this
  /** Adds a delete (only at `version` when given). */
  delete(path: string, options?: VersionOptions): this
  /** Adds a data replacement (only at `version` when given). */
  set(path: string, data: Data, options?: VersionOptions): this
  /** Adds a check that the node exists (at `version` when given), writing nothing. */
  check(path: string, options?: VersionOptions): this
  /** The ops so far (for `LockHandle.guarded`). */
  readonly ops: TxnOp[]
  /** Applies every op or none; a failure names the op (`op #i: ...`). */
  commit(): Promise<TxnResult[]>
}

/** Options of calls that only take an AbortSignal. */
export interface SignalOptions {
  /** Aborting it ends the call or the stream. */
  signal?: AbortSignal
}

/** Options of {@link Client.watch}. */
export interface WatchOptions extends SignalOptions {
  /** Also report changes anywhere below `path`. */
  recursive?: boolean
}

/** Options of {@link Client.election}. */
export interface ElectionOptions {
  /** What other processes see as this candidate's identity (default empty). */
  identity?: string | Buffer
}

/** Options of {@link Client.doubleBarrier}. */
export interface DoubleBarrierOptions {
  /** This member's id, unique among the members. */
  memberId: string
  /** How many members enter together. */
  count: number
}

/** Options of {@link Client.discovery}. */
export interface DiscoveryOptions {
  /** The base path of every service (default `/services`). */
  base?: string
}

/** A node's ACL and stat, from {@link Client.getAcl}. */
export interface AclResult {
  /** The ACL entries. */
  acl: AclEntry[]
  /** The node's stat (`aversion` is the ACL version). */
  stat: Stat
}

/** What {@link Client.getWatch} read, and its watch. */
export interface GetWatchResult extends NodeData {
  /** Fires once: on the node's next data change or its deletion. */
  watch: OneshotWatch
}

/** What {@link Client.existsWatch} read, and its watch. */
export interface ExistsWatchResult {
  /** The node's stat, or null when it does not exist. */
  stat: Stat | null
  /** Fires once: on the node's creation, data change or deletion. */
  watch: OneshotWatch
}

/** What {@link Client.childrenWatch} read, and its watch. */
export interface ChildrenWatchResult {
  /** The children's names, sorted. */
  children: string[]
  /** Fires once: when a child is added or removed, or the node is deleted. */
  watch: OneshotWatch
}

/** A node's children with their stats, and its own stat, from {@link Client.childrenWithStats}. */
export interface ChildrenWithStats {
  /** The children, sorted by name. */
  children: ChildStat[]
  /** The node's own stat. */
  stat: Stat
}

/**
 * One session with a coord ensemble, and the factory of every recipe.
 *
 * @example
 * ```ts
 * const client = await Client.connect({ servers: '127.0.0.1:2281' })
 * await client.create('/app/config', 'v1', { makeParents: true })
 * await client.withLock('/app/lock', async (token) => { ... })
 * await client.close()
 * ```
 */
export declare class Client implements AsyncDisposable {
  /** Opens a session (ConnectionLossError when no server answers within `connectTimeoutMs`). */
  static connect(options?: ConnectOptions): Promise<Client>
  /** `$COORD_SERVERS`, or `127.0.0.1:2281`. */
  static defaultServers(): string
  /** The session id. */
  readonly sessionId: bigint
  /** The session timeout the server granted. */
  readonly sessionTimeoutMs: number
  /** The session's state now (see {@link Client.stateChanges} to follow it). */
  readonly state: SessionState
  /** The newest zxid this client has seen. */
  readonly lastZxid: bigint
  /** Closes the session (its ephemerals go at once). Idempotent. */
  close(): Promise<void>
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>

  /** Creates a node; resolves to its path (with the sequence suffix for a sequential node). */
  create(path: string, data?: Data, options?: CreateOptions): Promise<string>
  /** The node's data and stat (NoNodeError when it does not exist). */
  get(path: string): Promise<NodeData>
  /** The node's data decoded as text (UTF-8 by default). */
  getString(path: string, encoding?: BufferEncoding): Promise<string>
  /** Replaces the node's data (only at `version` when given); resolves to the new stat. */
  set(path: string, data: Data, options?: VersionOptions): Promise<Stat>
  /** Deletes the node (only at `version` when given). */
  delete(path: string, options?: VersionOptions): Promise<void>
  /** The node's stat, or null when it does not exist. */
  exists(path: string): Promise<Stat | null>
  /** The names of the node's children, sorted. */
  children(path: string): Promise<string[]>
  /** The node's children with their stats, and its own stat. */
  childrenWithStats(path: string): Promise<ChildrenWithStats>
  /** The node's data and stat, and a one-shot watch on its data (change or deletion). */
  getWatch(path: string): Promise<GetWatchResult>
  /** The node's stat (or null), and a one-shot watch on its creation, data change or deletion. */
  existsWatch(path: string): Promise<ExistsWatchResult>
  /** The node's children, and a one-shot watch on them. */
  childrenWatch(path: string): Promise<ChildrenWatchResult>
  /**
   * Removes this session's watches of `kind` (default `'any'`) on `path`,
   * here and on the server: one-shot watches reject with CancelledError,
   * persistent ones end (iteration done, no error). NoWatcherError when
   * there is none.
   */
  removeWatches(path: string, kind?: WatcherKind): Promise<void>
  /**
   * The session's state now, then every change (`'suspended'` when the
   * connection drops, `'connected'` when it resumes...); ends after
   * `'expired'` or `'closed'`, or when `signal` aborts.
   */
  stateChanges(options?: SignalOptions): Stream<SessionState>
  /** Waits until the server has applied every write committed before now. */
  sync(path?: string): Promise<void>
  /** A batch of writes applied atomically by its `commit()`. */
  transaction(): Transaction
  /**
   * Events of a persistent watch on `path` (and below it when `recursive`),
   * as an async iterator. Breaking out of the loop, `close()`, or aborting
   * `signal` removes it.
   */
  watch(path: string, options?: WatchOptions): Stream<WatchEvent>

  /** The identities this session holds, `'scheme:id'` each. */
  whoami(): Promise<string[]>
  /** The node's ACL and stat. */
  getAcl(path: string): Promise<AclResult>
  /** Needs ADMIN on the node; `version` is the expected ACL version. */
  setAcl(path: string, acl: AclLike[], options?: VersionOptions): Promise<Stat>
  /** Sets (or replaces) the quota on the subtree at `path`. */
  setQuota(path: string, limits: QuotaLimits): Promise<void>
  /** The quota on exactly `path` and what its subtree holds now. */
  getQuota(path: string): Promise<Quota>
  /** Removes the quota on `path`. */
  clearQuota(path: string): Promise<void>
  /** Who holds the lock (read-write lock, election) at `path` and who waits. */
  lockInfo(path: string): Promise<LockInfo>

  /** Waits for the lock at `path` (LockTimeoutError after `timeoutMs`; `signal` aborts, leaving no node). */
  lock(path: string, options?: WaitOptions): Promise<LockHandle>
  /** The lock if nobody holds or waits for it, else null. */
  tryLock(path: string): Promise<LockHandle | null>
  /** Runs `fn(token, signal)` holding the lock; releases it afterwards, also on throw. */
  withLock<T>(path: string, fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
  /** The read-write lock at `path`. */
  rwlock(path: string): ReadWriteLock
  /** The semaphore at `path` with `leases` slots. */
  semaphore(path: string, leases: number): Semaphore
  /** Takes every lock of `paths`, all or none (in path order, so no deadlock; `signal` aborts). */
  multiLock(paths: string[], options?: WaitOptions): Promise<MultiLockHandle>

  /** A candidate in the election at `path`. */
  election(path: string, options?: ElectionOptions): Election
  /** The current leader of the election at `path`, or null. */
  leader(path: string): Promise<LeaderInfo | null>
  /** The barrier at `path`. */
  barrier(path: string): Barrier
  /** A member of the double barrier at `path`. */
  doubleBarrier(path: string, options: DoubleBarrierOptions): DoubleBarrier
  /** The FIFO queue at `path`. */
  queue(path: string): Queue
  /** The counter at `path`. */
  counter(path: string): Counter
  /** Starts a cache of the node at `path` (which need not exist). */
  nodeCache(path: string): Promise<NodeCache>
  /** Starts a cache of the subtree at `path` (which need not exist). */
  treeCache(path: string): Promise<TreeCache>
  /** Service discovery under `base` (default `/services`). */
  discovery(options?: DiscoveryOptions): ServiceDiscovery
  /** Group membership at `path`. */
  group(path: string): Group
}

