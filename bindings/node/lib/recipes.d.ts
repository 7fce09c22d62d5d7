// Types of lib/recipes.js: barrier, double barrier, queue, counter, caches,
// service discovery and group membership. Re-exported by lib/index.d.ts.
import type { Member, NodeData, ServiceInstance, TreeEntry } from '../index'
import type { Data, SignalOptions, Stream, WaitOptions } from './index'

/** A barrier: waiters are held while its node exists, from {@link Client.barrier}. */
export declare class Barrier {
  /** The barrier's path. */
  readonly path: string
  /** Raises the barrier (creates its node). */
  set(): Promise<void>
  /** Lowers the barrier, releasing every waiter. */
  remove(): Promise<void>
  /** True while raised. */
  isSet(): Promise<boolean>
  /** Waits until the barrier is lowered (OperationTimeoutError after `timeoutMs`; `signal` aborts). */
  wait(options?: WaitOptions): Promise<void>
}

/** One member of a double barrier: `count` members enter together and leave together. */
export declare class DoubleBarrier {
  /** The barrier's path. */
  readonly path: string
  /** This member's id (its node's name). */
  readonly memberId: string
  /** How many members enter together. */
  readonly count: number
  /** Waits until `count` members have entered; `signal` aborts (our member node is deleted). */
  enter(options?: WaitOptions): Promise<void>
  /** Waits until every member has left; `signal` aborts (our member node is deleted). */
  leave(options?: WaitOptions): Promise<void>
}

/** A distributed FIFO queue, from {@link Client.queue}. */
export declare class Queue {
  /** The queue's path. */
  readonly path: string
  /** Appends an item; resolves to its node. */
  put(data: Data): Promise<string>
  /**
   * Removes and returns the oldest item, waiting for one
   * (OperationTimeoutError after `timeoutMs`). `signal` aborts the wait; an
   * abort while the claim is in flight can lose that one item, so prefer
   * `timeoutMs` where it fits.
   */
  take(options?: WaitOptions): Promise<Buffer>
  /** The oldest item if any, removed; never waits. */
  tryTake(): Promise<Buffer | null>
  /** The oldest item if any, not removed. */
  peek(): Promise<Buffer | null>
  /** Number of items. */
  size(): Promise<number>
}

/** A shared 64-bit counter (values beyond 2^53 lose precision), from {@link Client.counter}. */
export declare class Counter {
  /** The counter's path. */
  readonly path: string
  /** The current value. */
  get(): Promise<number>
  /** Adds `delta` atomically; resolves to the new value. */
  add(delta: number): Promise<number>
  /** Adds 1; resolves to the new value. */
  increment(): Promise<number>
  /** Subtracts 1; resolves to the new value. */
  decrement(): Promise<number>
  /** Sets `next` only if the value is `expected`; resolves whether it did. */
  compareAndSet(expected: number, next: number): Promise<boolean>
  /** Sets the value unconditionally. */
  set(value: number): Promise<void>
}

/** A local copy of one node kept up to date, from {@link Client.nodeCache}. */
export declare class NodeCache implements AsyncDisposable {
  /** The node's last known data and stat, or null when it does not exist. */
  readonly current: NodeData | null
  /** Yields `current` after each change, until closed. */
  changes(): AsyncGenerator<NodeData | null, void, unknown>
  /** Stops the cache; `changes()` iterations end. */
  close(): Promise<void>
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A local copy of a subtree kept up to date, from {@link Client.treeCache}. */
export declare class TreeCache implements AsyncDisposable {
  /** The node at `path` as last known, or null. */
  get(path: string): NodeData | null
  /** The children of `path` as last known (`path` of each entry is the child's name). */
  children(path: string): TreeEntry[]
  /** Every node of the subtree as last known. */
  snapshot(): TreeEntry[]
  /** Yields the snapshot after each change, until closed. */
  changes(): AsyncGenerator<TreeEntry[], void, unknown>
  /** Stops the cache; `changes()` iterations end. */
  close(): Promise<void>
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A registered service instance (an ephemeral node), from {@link ServiceDiscovery.register}. */
export declare class Registration implements AsyncDisposable {
  /** Path of the instance's node. */
  readonly node: string
  /** The instance as last registered. */
  readonly instance: ServiceInstance
  /** Replaces the instance's description. */
  update(instance: ServiceInstance): Promise<void>
  /** Removes the instance. */
  unregister(): Promise<void>
  /** True once the registration was lost (session expired, node deleted). */
  isLost(): Promise<boolean>
  /** Same as `unregister()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** The live instances of one service and a way to pick one, from {@link ServiceDiscovery.provider}. */
export declare class Provider implements AsyncDisposable {
  /** The instances as last known. */
  instances(): ServiceInstance[]
  /** One instance by the provider's strategy, or null when there is none. */
  pick(): ServiceInstance | null
  /** Yields the instances after each change, until closed. */
  changes(): AsyncGenerator<ServiceInstance[], void, unknown>
  /** Stops following the service. */
  close(): Promise<void>
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** Service discovery under a base path, from {@link Client.discovery}. */
export declare class ServiceDiscovery {
  /** Registers an instance of `service` for as long as the session lives. */
  register(service: string, instance: ServiceInstance): Promise<Registration>
  /** The instances of `service` now. */
  instances(service: string): Promise<ServiceInstance[]>
  /** Follows `service`; `strategy` decides `pick()` (default round robin). */
  provider(service: string, options?: { strategy?: PickStrategy }): Promise<Provider>
}

/** How {@link Provider.pick} chooses: in turn, at random, or the same one while it lives. */
export type PickStrategy = 'roundRobin' | 'random' | 'sticky'

/** This process's membership of a group, from {@link Group.join}. */
export declare class Membership implements AsyncDisposable {
  /** The member's name. */
  readonly name: string
  /** Path of the member's node. */
  readonly node: string
  /** Replaces the member's payload. */
  update(payload: Data): Promise<void>
  /** Leaves the group (deletes the member's node). */
  leave(): Promise<void>
  /** Same as `leave()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** Group membership at a path, from {@link Client.group}. */
export declare class Group {
  /** The group's path. */
  readonly path: string
  /** Joins as `name` with `payload` for as long as the session lives. */
  join(name: string, payload?: Data): Promise<Membership>
  /** The members now, sorted by name. */
  members(): Promise<Member[]>
  /** The member list now and after every change; `signal` ends it. */
  watch(options?: SignalOptions): Stream<Member[]>
}
