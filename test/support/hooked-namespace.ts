// A Durable Object namespace whose every RPC passes through `hook(call, forward)`: the hook may
// run other calls first, hold the call until a gate opens, or lose its reply. For forced
// interleavings *between* adapter and object — after the adapter has decided what to send (a
// hint, a retry flag), before the object sees it — where InstrumentedState's hooks sit at the
// adapter's surface, before the adapter has looked at the call.

export interface HookedCall {
  objectName: string;
  method: string;
  args: unknown[];
}

export type NetworkHook = (call: HookedCall, forward: () => Promise<unknown>) => Promise<unknown>;

/** `inner` (a namespace, or another wrapper of one) with `hook` around every RPC of its stubs. */
export function hooked(inner: unknown, hook: NetworkHook): never {
  const ns = inner as { idFromName(n: string): DurableObjectId; getByName(n: string): unknown; get(id: DurableObjectId): unknown };
  const wrap = (objectName: string, stub: unknown) =>
    new Proxy(
      {},
      {
        get: (_t, method) => {
          if (typeof method !== "string" || method === "then") return undefined;
          const real = (stub as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
          return (...args: unknown[]) => hook({ objectName, method, args }, () => real(...args));
        },
      },
    );
  return {
    idFromName: (n: string) => ns.idFromName(n),
    getByName: (n: string) => wrap(n, ns.getByName(n)),
    get: (id: DurableObjectId) => wrap(id.name ?? id.toString(), ns.get(id)),
  } as never;
}
