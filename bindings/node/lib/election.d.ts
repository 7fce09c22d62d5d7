// Types of lib/election.js: a candidate as an EventEmitter, and the
// leader's description. Re-exported by lib/index.d.ts.
import type { EventEmitter } from 'node:events'
import type { WaitOptions } from './index'

/** The leader of an election. */
export interface LeaderInfo {
  /** Path of the leader's candidate node. */
  node: string
  /** The leader's identity as UTF-8 text. */
  identity: string
  /** The leader's identity as bytes. */
  identityBytes: Buffer
  /** The term's fencing token. */
  token: bigint
}

/** The events of an {@link Election} and their arguments. */
export interface ElectionEvents {
  /** This candidate won a term. */
  elected: [term: LeaderInfo]
  /** This candidate's term ended: lost (session, node deleted) or resigned. */
  revoked: [info: Revocation]
  /** The leader changed (emitted while somebody listens): its identity, or null when none. */
  leader: [identity: string | null, leader: LeaderInfo | null]
  /** Following the leader failed. */
  error: [err: Error]
}

/** Why and which term ended, for the `'revoked'` event. */
export interface Revocation {
  /** `'lost'` (session expired, node deleted) or `'resigned'`. */
  reason: 'lost' | 'resigned'
  /** The term that ended. */
  term: LeaderInfo
}

/** One candidate; an EventEmitter of 'elected', 'revoked' and 'leader'. */
export declare class Election extends EventEmitter<ElectionEvents> implements AsyncDisposable {
  /** The election's path. */
  readonly path: string
  /** This candidate's identity. */
  readonly identity: string
  /** True while this candidate leads. */
  readonly isLeader: boolean
  /** The current term while leading, else null. */
  readonly term: LeaderInfo | null
  /**
   * Waits until elected; resolves to the term and emits `'elected'`.
   * LockTimeoutError after `timeoutMs`; `signal` aborts; either way the
   * candidate's node is deleted.
   */
  campaign(options?: WaitOptions): Promise<LeaderInfo>
  /** Gives up leadership (emits `'revoked'` when it led). */
  resign(): Promise<void>
  /** The current leader, or null. */
  leader(): Promise<LeaderInfo | null>
  /** Resigns and stops following the leader. */
  close(): Promise<void>
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}
