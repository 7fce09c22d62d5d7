import type { TestServer } from '../index'
export type { TestServer }
/** Starts an in-process server on 127.0.0.1 with a fresh temp data dir; `stop()` it. */
export declare function startServer(): TestServer
