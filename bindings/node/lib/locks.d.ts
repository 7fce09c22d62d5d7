// Types of lib/locks.js: held locks, the read-write lock, the semaphore and
// its leases, the multi-lock. Re-exported by lib/index.d.ts.
import type { TxnOp, TxnResult } from '../index'
import type { CoordError } from './errors'
import type { WaitOptions } from './index'

/** A held lock. `await using lock = await client.lock(path)` releases it on scope exit. */
export declare class LockHandle implements AsyncDisposable {
  /** The fencing token: strictly increases from one holder to the next. */
  readonly token: bigint
  /** The lock's path. */
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
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A read-write lock: many readers or one writer, from {@link Client.rwlock}. */
export declare class ReadWriteLock {
  /** The lock's path. */
  readonly path: string
  /** Waits for the shared side (LockTimeoutError after `timeoutMs`; `signal` aborts, leaving no node). */
  read(options?: WaitOptions): Promise<LockHandle>
  /** Waits for the exclusive side (LockTimeoutError after `timeoutMs`; `signal` aborts, leaving no node). */
  write(options?: WaitOptions): Promise<LockHandle>
  /** Runs `fn(token, signal)` holding the shared side; releases it afterwards, also on throw. */
  withRead<T>(fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
  /** Runs `fn(token, signal)` holding the exclusive side; releases it afterwards, also on throw. */
  withWrite<T>(fn: (token: bigint, signal: AbortSignal) => Promise<T> | T, options?: WaitOptions): Promise<T>
}

/** One held semaphore lease, from {@link Semaphore.acquire}. */
export declare class Lease implements AsyncDisposable {
  /** The lease's token: increases with every new lease. */
  readonly token: bigint
  /** Path of the lease node. */
  readonly node: string
  /** Resolves (with a LockLostError) if the lease is lost while held. */
  readonly lost: Promise<CoordError>
  /** Aborted (reason: a LockLostError) if the lease is lost while held. */
  readonly signal: AbortSignal
  /** True while held and not lost. Answers at once. */
  isHeld(): boolean
  /** Gives the lease back; later calls do nothing. */
  release(): Promise<void>
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A counting semaphore: at most `leases` holders at once, from {@link Client.semaphore}. */
export declare class Semaphore {
  /** The semaphore's path. */
  readonly path: string
  /** How many leases it hands out at once. */
  readonly leases: number
  /** Waits for a lease (LockTimeoutError after `timeoutMs`; `signal` aborts, leaving no node). */
  acquire(options?: WaitOptions): Promise<Lease>
  /** A lease if one is free now, else null. */
  tryAcquire(): Promise<Lease | null>
}

/** Several locks held together, from {@link Client.multiLock}. */
export declare class MultiLockHandle implements AsyncDisposable {
  /** The member paths, in acquisition order. */
  readonly paths: string[]
  /** Each lock's token, in acquisition order. */
  readonly tokens: bigint[]
  /** Releases every lock; later calls do nothing. */
  release(): Promise<void>
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}
