/**
 * threadgate's own Redis keys beside a BullMQ queue's (`<prefix>:<queue>:...`, BullMQ's layout),
 * so tools that list a queue's keys show them with it, and one `prefix` separates environments.
 */
import type { Redis } from 'ioredis';
import { invalidType, invalidValue } from '../validate.js';

export interface QueueKeys {
  /** Sorted set of serving processes: member `<id>:<workers>`, score the time (Redis clock, ms) it expires. */
  servers: string;
  /** Pub/sub channel on which callers name the jobs to cancel. */
  cancel: string;
}

export function queueKeys(prefix: string, queue: string): QueueKeys {
  const base = `${prefix}:${queue}:threadgate`;
  return { servers: `${base}:servers`, cancel: `${base}:cancel` };
}

/** Registers (or renews) a server until `ttlMs` from now, on Redis's clock; drops the expired. */
const HEARTBEAT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
return 1`;

/** The workers of every live server, summed. */
const LIVE_WORKERS = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local total = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ms, '+inf')) do
  total = total + tonumber(string.match(member, ':(%d+)$'))
end
return total`;

export function heartbeat(client: Redis, keys: QueueKeys, member: string, ttlMs: number): Promise<unknown> {
  return client.eval(HEARTBEAT, 1, keys.servers, member, ttlMs);
}

export function leaveServers(client: Redis, keys: QueueKeys, member: string): Promise<unknown> {
  return client.zrem(keys.servers, member);
}

export async function liveWorkers(client: Redis, keys: QueueKeys): Promise<number> {
  return Number(await client.eval(LIVE_WORKERS, 1, keys.servers));
}

/** A queue name or key prefix: a non-empty string without ':' (BullMQ's key separator). */
export function checkQueueName(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalidType(name, value, "a non-empty string (e.g. 'math')");
  if (value.includes(':')) throw invalidValue(name, value, "a name without ':' (BullMQ separates its keys with it)");
  return value;
}
