import { env, runInDurableObject } from "cloudflare:test";
import type { Logger } from "chat";
import { expect } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter, type CloudflareStateOptions } from "../ts/index.js";
import type { ChatStateDO } from "../ts/index.js";

let counter = 0;

/** A connected adapter on a fresh object name, so tests never share state. */
export async function freshAdapter(
  options: Omit<CloudflareStateOptions, "namespace"> = {},
): Promise<CloudflareDOStateAdapter> {
  const adapter = createCloudflareState({
    namespace: env.CHAT_STATE,
    name: options.name ?? `t${Date.now()}-${counter++}-${Math.random().toString(36).slice(2)}`,
    ...options,
  });
  await adapter.connect();
  return adapter;
}

export function stubFor(name: string): DurableObjectStub<ChatStateDO> {
  return env.CHAT_STATE.getByName(name);
}

/** Runs SQL inside the named object (white-box checks). */
export async function sql<T = Record<string, unknown>>(
  name: string,
  query: string,
  ...bindings: unknown[]
): Promise<T[]> {
  return await runInDurableObject(stubFor(name), (_instance, state) =>
    state.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}

export async function alarmOf(name: string): Promise<number | null> {
  return await runInDurableObject(stubFor(name), (_instance, state) => state.storage.getAlarm());
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger that drops everything (tests that inject faults would otherwise log every retry). */
export const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as Logger;

/**
 * A connected adapter on the FaultyChatStateDO namespace (objects that can be told to reset
 * mid-call, test/support/faulty-object.ts), with fast retries and a quiet logger.
 */
export async function faultyAdapter(options: Omit<CloudflareStateOptions, "namespace">): Promise<CloudflareDOStateAdapter> {
  const state = createCloudflareState({
    namespace: env.FAULTY_STATE as never,
    logger: quiet,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  await state.connect();
  return state;
}

/** Among the objects `names`, thread `t`'s subscription row sits in `home` and nowhere else. */
export async function expectSubscribedOnlyIn(t: string, home: string, names: string[]): Promise<void> {
  for (const name of names) {
    const here = (await sql(name, "SELECT 1 FROM subscriptions WHERE thread_id = ?", t)).length;
    expect([t, name, here]).toEqual([t, name, name === home ? 1 : 0]);
  }
}
