'use strict'
// Barrier, double barrier, queue, counter, caches, service discovery and
// group membership over the native handles.

const { wrap } = require('./errors.js')
const { abortable, asyncDispose, toBuffer, NativeIterator, changes } = require('./util.js')

class Barrier {
  constructor(nativeClient, path) {
    this._client = nativeClient
    this._native = nativeClient.barrierHandle(path)
    this.path = path
  }
  set() {
    return wrap(this._native.set())
  }
  remove() {
    return wrap(this._native.remove())
  }
  isSet() {
    return wrap(this._native.isSet())
  }
  /** Waits until the barrier is removed (OperationTimeoutError after `timeoutMs`). */
  wait(options = {}) {
    const b = this._client.barrierHandle(this.path)
    return abortable(options.signal, () => b.cancel(), () => b.wait(options.timeoutMs))
  }
}

class DoubleBarrier {
  constructor(nativeClient, path, memberId, count) {
    this._native = nativeClient.doubleBarrierHandle(path, memberId, count)
    this.path = path
    this.memberId = memberId
    this.count = count
  }
  /** Waits until `count` members have entered; `signal` aborts (our member node is deleted). */
  enter(options = {}) {
    this._native.resetCancel()
    return abortable(options.signal, () => this._native.cancel(), () => this._native.enter(options.timeoutMs))
  }
  /** Waits until every member has left; `signal` aborts (our member node is deleted). */
  leave(options = {}) {
    this._native.resetCancel()
    return abortable(options.signal, () => this._native.cancel(), () => this._native.leave(options.timeoutMs))
  }
}

class Queue {
  constructor(nativeClient, path) {
    this._client = nativeClient
    this._native = nativeClient.queueHandle(path)
    this.path = path
  }
  put(data) {
    return wrap(this._native.put(toBuffer(data) ?? Buffer.alloc(0)))
  }
  /** Removes the oldest item, waiting for one; one handle per take, so `signal` aborts only this take. */
  take(options = {}) {
    const q = this._client.queueHandle(this.path)
    return abortable(options.signal, () => q.cancel(), () => q.take(options.timeoutMs))
  }
  tryTake() {
    return wrap(this._native.tryTake())
  }
  peek() {
    return wrap(this._native.peek())
  }
  size() {
    return wrap(this._native.size())
  }
}

class Counter {
  constructor(nativeClient, path) {
    this._native = nativeClient.counterHandle(path)
    this.path = path
  }
  get() {
    return wrap(this._native.get())
  }
  add(delta) {
    return wrap(this._native.add(delta))
  }
  increment() {
    return this.add(1)
  }
  decrement() {
    return this.add(-1)
  }
  compareAndSet(expected, next) {
    return wrap(this._native.compareAndSet(expected, next))
  }
  set(value) {
    return wrap(this._native.set(value))
  }
}

class NodeCache {
  constructor(nativeCache) {
    this._native = nativeCache
  }
  /** The node's last known { data, stat }, or null when it does not exist. */
  get current() {
    return this._native.current
  }
  /** Yields `current` after each change, until closed. */
  changes() {
    return changes(this._native, () => this._native.current)
  }
  close() {
    return wrap(this._native.close())
  }
  [asyncDispose]() {
    return this.close()
  }
}

class TreeCache {
  constructor(nativeCache) {
    this._native = nativeCache
  }
  get(path) {
    return this._native.get(path)
  }
  children(path) {
    return this._native.children(path)
  }
  snapshot() {
    return this._native.snapshot()
  }
  /** Yields the snapshot after each change, until closed. */
  changes() {
    return changes(this._native, () => this._native.snapshot())
  }
  close() {
    return wrap(this._native.close())
  }
  [asyncDispose]() {
    return this.close()
  }
}

class Registration {
  constructor(nativeReg, instance) {
    this._native = nativeReg
    this.node = nativeReg.node
    this.instance = instance
  }
  update(instance) {
    this.instance = instance
    return wrap(this._native.update(instance))
  }
  unregister() {
    return wrap(this._native.unregister())
  }
  isLost() {
    return this._native.isLost()
  }
  [asyncDispose]() {
    return this.unregister()
  }
}

class Provider {
  constructor(nativeProvider) {
    this._native = nativeProvider
  }
  instances() {
    return this._native.instances()
  }
  pick() {
    return this._native.pick()
  }
  changes() {
    return changes(this._native, () => this._native.instances())
  }
  close() {
    return wrap(this._native.close())
  }
  [asyncDispose]() {
    return this.close()
  }
}

class ServiceDiscovery {
  constructor(nativeClient, base) {
    this._native = nativeClient.discoveryHandle(base)
  }
  async register(service, instance) {
    return new Registration(await wrap(this._native.register(service, instance)), instance)
  }
  instances(service) {
    return wrap(this._native.instances(service))
  }
  async provider(service, options = {}) {
    return new Provider(await wrap(this._native.provider(service, options.strategy)))
  }
}

class Membership {
  constructor(nativeMembership) {
    this._native = nativeMembership
    this.name = nativeMembership.name
    this.node = nativeMembership.node
  }
  update(payload) {
    return wrap(this._native.update(toBuffer(payload) ?? Buffer.alloc(0)))
  }
  leave() {
    return wrap(this._native.leave())
  }
  [asyncDispose]() {
    return this.leave()
  }
}

class Group {
  constructor(nativeClient, path) {
    this._client = nativeClient
    this.path = path
  }
  async join(name, payload) {
    return new Membership(await wrap(this._client.joinGroup(this.path, name, toBuffer(payload))))
  }
  members() {
    return wrap(this._client.groupMembers(this.path))
  }
  /** Async iterator of the member list, now and after every change. */
  watch(options = {}) {
    return new NativeIterator(this._client.watchGroup(this.path), undefined, options.signal)
  }
}

module.exports = {
  Barrier,
  DoubleBarrier,
  Queue,
  Counter,
  NodeCache,
  TreeCache,
  ServiceDiscovery,
  Registration,
  Provider,
  Group,
  Membership,
}
