import { env, runInDurableObject } from "cloudflare:test";
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
