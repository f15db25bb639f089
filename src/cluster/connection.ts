/**
 * Connections to Redis. Every cluster object opens its own ioredis clients from what the caller
 * gave (a URL, ioredis options, or an ioredis instance, which is duplicated, never used or closed
 * by threadgate), so closing one never disturbs another, and the caller's client keeps its own
 * settings and listeners.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { ThreadgateError } from '../errors.js';
import { invalidType } from '../validate.js';
import { loadPeers } from './peers.js';

/** Where Redis is: a `redis://` or `rediss://` URL, ioredis options, or an ioredis instance (duplicated). */
export type RedisConnection = string | RedisOptions | Redis;

/** How long a first connection may take by default before `ERR_CLUSTER_CONNECT`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Checks `options.connection` on the caller's side, before anything is opened. */
export function checkConnection(name: string, connection: unknown): RedisConnection {
  if (typeof connection === 'string') {
    if (/^rediss?:\/\//.test(connection)) return connection;
    throw invalidType(name, connection, "a 'redis://' or 'rediss://' URL, ioredis options or an ioredis instance");
  }
  if (typeof connection === 'object' && connection !== null && !Array.isArray(connection)) return connection as RedisConnection;
  throw invalidType(name, connection, "a 'redis://' or 'rediss://' URL, ioredis options or an ioredis instance");
}

function isInstance(connection: RedisConnection): connection is Redis {
  return typeof (connection as Redis).duplicate === 'function' && typeof (connection as Redis).connect === 'function';
}

/** Where a connection points, for messages: the URL without its password, or host:port. */
export function describeConnection(connection: RedisConnection): string {
  if (typeof connection === 'string') return connection.replace(/\/\/([^@/]*)@/, '//***@');
  const options = (isInstance(connection) ? connection.options : connection) as RedisOptions;
  return `redis://${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}

/**
 * A new ioredis client. `maxRetriesPerRequest: null`: commands wait through a reconnect instead of
 * failing one by one (BullMQ's workers require it); a cluster object notices a connection that
 * stays down and fails what waits on it as a whole, with one coded error.
 */
export async function openClient(connection: RedisConnection, connectTimeoutMs: number): Promise<Redis> {
  const { ioredis } = await loadPeers();
  const settings: RedisOptions = { maxRetriesPerRequest: null, connectTimeout: connectTimeoutMs, lazyConnect: true };
  const client = isInstance(connection)
    ? connection.duplicate(settings)
    : typeof connection === 'string'
      ? new ioredis.Redis(connection, settings)
      : new ioredis.Redis({ ...connection, ...settings });
  // ioredis reports each failed attempt as an 'error' event; unheard, Node would throw it.
  client.on('error', () => {});
  await whenReady(client, connection, connectTimeoutMs);
  return client;
}

/** Connects `client`, or fails with `ERR_CLUSTER_CONNECT` (the last connection error as cause) after `timeoutMs`. */
async function whenReady(client: Redis, connection: RedisConnection, timeoutMs: number): Promise<void> {
  let lastError: unknown;
  const remember = (error: unknown): void => {
    lastError = error;
  };
  client.on('error', remember);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
      }),
    ]);
  } catch (error) {
    client.disconnect();
    throw new ThreadgateError(
      'ERR_CLUSTER_CONNECT',
      `could not connect to Redis at ${describeConnection(connection)} within ${timeoutMs} ms (connectTimeoutMs)`,
      { cause: lastError ?? error },
    );
  } finally {
    clearTimeout(timer);
    client.off('error', remember);
  }
}

/**
 * Watches a client that was connected: once it has been down for `lostAfterMs` on end, calls
 * `onLost` with the last error seen (ioredis keeps reconnecting; a caller should not wait that
 * long). Returns a function that stops watching.
 */
export function watchConnection(client: Redis, lostAfterMs: number, onLost: (cause: unknown) => void): () => void {
  let lastError: unknown;
  let timer: NodeJS.Timeout | undefined;
  const onError = (error: unknown): void => {
    lastError = error;
  };
  const onDown = (): void => {
    timer ??= setTimeout(() => {
      timer = undefined;
      onLost(lastError);
    }, lostAfterMs);
  };
  const onReady = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  client.on('error', onError);
  client.on('close', onDown);
  client.on('ready', onReady);
  return () => {
    clearTimeout(timer);
    client.off('error', onError);
    client.off('close', onDown);
    client.off('ready', onReady);
  };
}
