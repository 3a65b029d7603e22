// Counting without changing what is measured: RPCs are counted by wrapping the Durable Object
// namespace (or facet table) an adapter is given, so every stub method call it makes is seen;
// SQLite rows are summed from the cursors' own `rowsRead` / `rowsWritten` counters, which is
// what Cloudflare bills.

/** RPC calls made through wrapped stubs. */
export interface RpcCounter {
  rpc: number;
}

/** Wraps a stub so each method call on it counts one RPC. */
export function countingStub<T extends object>(stub: T, counter: RpcCounter): T {
  return new Proxy(stub, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        counter.rpc++;
        return (target as Record<string, (...a: unknown[]) => unknown>)[property]!(...args);
      };
    },
  });
}

/** An object reached through a namespace: how to read its row counters without counting. */
export type ObjectRef = () => { rowCounts(): Promise<RowCounts> | RowCounts };

/**
 * Wraps a Durable Object namespace: stubs it hands out count their calls, and every object
 * touched is remembered (by name) so the bench can read its row counters afterwards.
 */
export function countingNamespace<N extends object>(
  namespace: N,
  counter: RpcCounter,
  touched: Map<string, ObjectRef>,
): N {
  const names = new Map<string, string>(); // id string -> name
  return new Proxy(namespace, {
    get(target: any, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== "function") return value;
      const method = value.bind(target) as (...args: any[]) => any;
      switch (property) {
        case "getByName":
          return (name: string, options?: unknown) => {
            touched.set(name, () => target.getByName(name) as never);
            return countingStub(method(name, options), counter);
          };
        case "idFromName":
          return (name: string) => {
            const id = method(name);
            names.set(id.toString(), name);
            return id;
          };
        case "get":
          return (id: DurableObjectId, options?: unknown) => {
            const name = names.get(id.toString()) ?? id.toString();
            touched.set(name, () => target.get(id) as never);
            return countingStub(method(id, options), counter);
          };
        default:
          return method;
      }
    },
  });
}

export interface RowCounts {
  rowsRead: number;
  rowsWritten: number;
}

/**
 * Sums the row counters of every cursor `ctx.storage.sql.exec` returns. Installed on the
 * object's own `SqlStorage` before the peer's constructor runs, so the peer's code is untouched.
 * Cursors are added up a microtask after they are created (the peers step their cursors to the
 * end synchronously) and again whenever the totals are read.
 */
export function tallySql(ctx: DurableObjectState): () => RowCounts {
  const sql = ctx.storage.sql;
  const exec = sql.exec.bind(sql);
  const totals: RowCounts = { rowsRead: 0, rowsWritten: 0 };
  let pending: SqlStorageCursor<any>[] = [];
  const flush = () => {
    for (const cursor of pending) {
      totals.rowsRead += cursor.rowsRead;
      totals.rowsWritten += cursor.rowsWritten;
    }
    pending = [];
  };
  (sql as { exec: unknown }).exec = (query: string, ...bindings: unknown[]) => {
    const cursor = exec(query, ...bindings);
    if (pending.length === 0) queueMicrotask(flush);
    pending.push(cursor);
    return cursor;
  };
  return () => {
    flush();
    return { ...totals };
  };
}

/** Counts `transactionSync` calls on an object's storage (our sweep runs one per batch). */
export function tallyTransactions(ctx: DurableObjectState): () => number {
  const storage = ctx.storage;
  const transactionSync = storage.transactionSync.bind(storage);
  let count = 0;
  (storage as { transactionSync: unknown }).transactionSync = <T>(body: () => T): T => {
    count++;
    return transactionSync(body);
  };
  return () => count;
}
