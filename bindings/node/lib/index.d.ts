// Types of the public API (lib/index.js). The native types it builds on
// (Stat, NodeData, TxnResult, ...) come from the generated ../index.d.ts.
import type { EventEmitter } from 'node:events'
import type {
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

export * from './errors'
export type { LockContender, Member, NodeData, ServiceInstance, Stat, TreeEntry, TxnOp, TxnResult }

/** Node data: a Buffer, any Uint8Array, or a string (stored as UTF-8). */
export type Data = Buffer | Uint8Array | string

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
  digest?: string | { user: string; password: string }
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
  scheme: string
  id: string
  perms: string
}

/** An ACL entry as an object or as ZooKeeper's text `'scheme:id:perms'`. */
export type AclLike = AclEntry | string

export interface CreateOptions extends NativeCreateOptions {
  /** The node's ACL (default `world:anyone:cdrwa`); not with `makeParents`. */
  acl?: AclLike[]
}

/** Hard limits of a subtree quota; an absent limit is "no limit of this kind". */
export interface QuotaLimits {
  maxNodes?: number
  maxBytes?: number
}

/** A quota and what its subtree holds now (`nodes` counts the root). */
export interface Quota extends QuotaLimits {
  nodes: number
  bytes: number
}

/** A lock's line at one moment: who holds it, who waits (in line order). */
export interface LockInfo extends LockInfoJs {
  holders: Array<LockContender & { kind: 'exclusive' | 'shared' | 'lease' }>
  waiters: Array<LockContender & { kind: 'exclusive' | 'shared' | 'lease' }>
}

export interface VersionOptions {
  /** Expected version; the call fails with BadVersionError unless it matches. */
  version?: number
}

export interface WaitOptions {
  /** Give up after this long (LockTimeoutError / OperationTimeoutError). */
  timeoutMs?: number
  /** Abort the wait; it rejects with `signal.reason` and leaves no node. */
  signal?: AbortSignal
}

export type SessionState = 'connecting' | 'connected' | 'suspended' | 'expired' | 'closed'

/** Which watches `removeWatches` removes: every kind, one-shot data/exists, one-shot children, persistent, persistent-recursive. */
export type WatcherKind = 'any' | 'data' | 'children' | 'persistent' | 'persistentRecursive'

/** One child with its stat, from `childrenWithStats`. */
export interface ChildStat {
  /** The child's name (not its path). */
  name: string
  /** The child's stat. */
  stat: Stat
}

/** A watch that fires once, on the next change of what its read saw. */
export declare class OneshotWatch {
  /**
   * Resolves with the event when the watch fires. Rejects with
   * `signal.reason` when `signal` aborts (the watch is abandoned), with
   * CancelledError after `cancel()` or `removeWatches`, SessionExpiredError /
   * ClosedError when the session ends first. Later calls return the same promise.
   */
  wait(options?: { signal?: AbortSignal }): Promise<WatchEvent>
  /** Abandons the watch: a pending `wait()` rejects with CancelledError. */
  cancel(): void
}

/** A change reported by a watch. */
export interface WatchEvent extends WatchEventJs {
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

export declare class Transaction {
  create(path: string, data?: Data, options?: Omit<CreateOptions, 'makeParents'>): this
  delete(path: string, options?: VersionOptions): this
  set(path: string, data: Data, options?: VersionOptions): this
  check(path: string, options?: VersionOptions): this
  /** The ops so far (for `LockHandle.guarded`). */
  readonly ops: TxnOp[]
  /** Applies every op or none. */
  commit(): Promise<TxnResult[]>
}

/** A held lock. `await using lock = await client.lock(path)` releases it on scope exit. */
export declare class LockHandle implements AsyncDisposable {
  /** The fencing token: strictly increases from one holder to the next. */
  readonly token: bigint
  readonly path: string
  /** Resolves (with a LockLostError) if the lock is lost while held. */
  readonly lost: Promise<CoordError>
  /** Aborted (reason: a LockLostError) if the lock is lost while held. */
  readonly signal: AbortSignal
  /** True while held and not lost. Answers at once. */
  isHeld(): boolean
  /** Commits the ops only while this lock is held (LockLostError otherwise). */
  guarded(ops: TxnOp[]): Promise<TxnResult[]>
  /** Releases the lock; later calls do nothing. */
  release(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class ReadWriteLock {
  readonly path: string
  read(options?: WaitOptions): Promise<LockHandle>
  write(options?: WaitOptions): Promise<LockHandle>
  withRead<T>(fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
  withWrite<T>(fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
}

export declare class Lease implements AsyncDisposable {
  readonly token: bigint
  readonly node: string
  /** Resolves (with a LockLostError) if the lease is lost while held. */
  readonly lost: Promise<CoordError>
  /** Aborted (reason: a LockLostError) if the lease is lost while held. */
  readonly signal: AbortSignal
  /** True while held and not lost. Answers at once. */
  isHeld(): boolean
  release(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Semaphore {
  readonly path: string
  readonly leases: number
  acquire(options?: WaitOptions): Promise<Lease>
  tryAcquire(): Promise<Lease | null>
}

export declare class MultiLockHandle implements AsyncDisposable {
  /** The member paths, in acquisition order. */
  readonly paths: string[]
  /** Each lock's token, in acquisition order. */
  readonly tokens: bigint[]
  release(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** The leader of an election. */
export interface LeaderInfo {
  node: string
  /** The leader's identity as UTF-8 text. */
  identity: string
  identityBytes: Buffer
  /** The term's fencing token. */
  token: bigint
}

export interface ElectionEvents {
  elected: [term: LeaderInfo]
  revoked: [info: { reason: 'lost' | 'resigned'; term: LeaderInfo }]
  leader: [identity: string | null, leader: LeaderInfo | null]
  error: [err: Error]
}

/** One candidate; an EventEmitter of 'elected', 'revoked' and 'leader'. */
export declare class Election extends EventEmitter<ElectionEvents> implements AsyncDisposable {
  readonly path: string
  readonly identity: string
  readonly isLeader: boolean
  readonly term: LeaderInfo | null
  campaign(options?: WaitOptions): Promise<LeaderInfo>
  resign(): Promise<void>
  leader(): Promise<LeaderInfo | null>
  /** Resigns and stops following the leader. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Barrier {
  readonly path: string
  set(): Promise<void>
  remove(): Promise<void>
  isSet(): Promise<boolean>
  wait(options?: WaitOptions): Promise<void>
}

export declare class DoubleBarrier {
  readonly path: string
  readonly memberId: string
  readonly count: number
  enter(options?: WaitOptions): Promise<void>
  leave(options?: WaitOptions): Promise<void>
}

export declare class Queue {
  readonly path: string
  put(data: Data): Promise<string>
  take(options?: WaitOptions): Promise<Buffer>
  tryTake(): Promise<Buffer | null>
  peek(): Promise<Buffer | null>
  size(): Promise<number>
}

export declare class Counter {
  readonly path: string
  get(): Promise<number>
  add(delta: number): Promise<number>
  increment(): Promise<number>
  decrement(): Promise<number>
  compareAndSet(expected: number, next: number): Promise<boolean>
  set(value: number): Promise<void>
}

export declare class NodeCache implements AsyncDisposable {
  readonly current: NodeData | null
  changes(): AsyncGenerator<NodeData | null, void, unknown>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class TreeCache implements AsyncDisposable {
  get(path: string): NodeData | null
  children(path: string): TreeEntry[]
  snapshot(): TreeEntry[]
  changes(): AsyncGenerator<TreeEntry[], void, unknown>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Registration implements AsyncDisposable {
  readonly node: string
  readonly instance: ServiceInstance
  update(instance: ServiceInstance): Promise<void>
  unregister(): Promise<void>
  isLost(): Promise<boolean>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Provider implements AsyncDisposable {
  instances(): ServiceInstance[]
  pick(): ServiceInstance | null
  changes(): AsyncGenerator<ServiceInstance[], void, unknown>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class ServiceDiscovery {
  register(service: string, instance: ServiceInstance): Promise<Registration>
  instances(service: string): Promise<ServiceInstance[]>
  provider(service: string, options?: { strategy?: 'roundRobin' | 'random' | 'sticky' }): Promise<Provider>
}

export declare class Membership implements AsyncDisposable {
  readonly name: string
  readonly node: string
  update(payload: Data): Promise<void>
  leave(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Group {
  readonly path: string
  join(name: string, payload?: Data): Promise<Membership>
  members(): Promise<Member[]>
  watch(options?: { signal?: AbortSignal }): Stream<Member[]>
}

export declare class Client implements AsyncDisposable {
  /** Opens a session. */
  static connect(options?: ConnectOptions): Promise<Client>
  /** `$COORD_SERVERS`, or `127.0.0.1:2281`. */
  static defaultServers(): string
  readonly sessionId: bigint
  readonly sessionTimeoutMs: number
  readonly state: SessionState
  readonly lastZxid: bigint
  /** Closes the session (its ephemerals go at once). Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>

  create(path: string, data?: Data, options?: CreateOptions): Promise<string>
  get(path: string): Promise<NodeData>
  getString(path: string, encoding?: BufferEncoding): Promise<string>
  set(path: string, data: Data, options?: VersionOptions): Promise<Stat>
  delete(path: string, options?: VersionOptions): Promise<void>
  exists(path: string): Promise<Stat | null>
  children(path: string): Promise<string[]>
  childrenWithStats(path: string): Promise<{ children: ChildStat[]; stat: Stat }>
  getWatch(path: string): Promise<{ data: Buffer; stat: Stat; watch: OneshotWatch }>
  existsWatch(path: string): Promise<{ stat: Stat | null; watch: OneshotWatch }>
  childrenWatch(path: string): Promise<{ children: string[]; watch: OneshotWatch }>
  removeWatches(path: string, kind?: WatcherKind): Promise<void>
  stateChanges(options?: { signal?: AbortSignal }): Stream<SessionState>
  sync(path?: string): Promise<void>
  transaction(): Transaction
  watch(path: string, options?: { recursive?: boolean; signal?: AbortSignal }): Stream<WatchEvent>

  /** The identities this session holds, `'scheme:id'` each. */
  whoami(): Promise<string[]>
  getAcl(path: string): Promise<{ acl: AclEntry[]; stat: Stat }>
  /** Needs ADMIN on the node; `version` is the expected ACL version. */
  setAcl(path: string, acl: AclLike[], options?: VersionOptions): Promise<Stat>
  setQuota(path: string, limits: QuotaLimits): Promise<void>
  getQuota(path: string): Promise<Quota>
  clearQuota(path: string): Promise<void>
  /** Who holds the lock (read-write lock, election) at `path` and who waits. */
  lockInfo(path: string): Promise<LockInfo>

  lock(path: string, options?: WaitOptions): Promise<LockHandle>
  tryLock(path: string): Promise<LockHandle | null>
  withLock<T>(path: string, fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
  rwlock(path: string): ReadWriteLock
  semaphore(path: string, leases: number): Semaphore
  multiLock(paths: string[], options?: WaitOptions): Promise<MultiLockHandle>

  election(path: string, options?: { identity?: string | Buffer }): Election
  leader(path: string): Promise<LeaderInfo | null>
  barrier(path: string): Barrier
  doubleBarrier(path: string, options: { memberId: string; count: number }): DoubleBarrier
  queue(path: string): Queue
  counter(path: string): Counter
  nodeCache(path: string): Promise<NodeCache>
  treeCache(path: string): Promise<TreeCache>
  discovery(options?: { base?: string }): ServiceDiscovery
  group(path: string): Group
}

import type { CoordError } from './errors'
