// A Chat SDK Slack bot for the fault and race tests: real `chat` 4.41 and `@chat-adapter/slack`,
// signed Events API deliveries, the demo's fake Slack Web API. Its handlers record what the tests
// check: which messages reached a handler (directly or in `context.skipped`) and how often, how
// many handlers ran at once on one thread, and a per-thread counter kept in thread state.
import { createSlackAdapter } from "@chat-adapter/slack";
import { Chat, type ConcurrencyConfig, type Logger, type StateAdapter } from "chat";
import { afterAll, beforeAll, vi } from "vitest";
import {
  BOT_TOKEN,
  CHANNEL_ID,
  FakeSlack,
  SIGNING_SECRET,
  appMentionEvent,
  eventCallback,
  messageEvent,
  nextTs,
  signedWebhook,
  threadIdOf,
} from "../../examples/bot/demo/slack.mjs";
import { createCloudflareState } from "../../ts/index.js";

export const SLACK_API = "https://slack.test/api/";
const ALICE = "U0ALICE001";

/** Answers the bot's Slack Web API calls with a fake Slack; any other fetch fails the test. */
/** For a whole test file: Slack's Web API answered by a fake (see mockSlackFetch), restored after. */
export function withMockedSlack(): void {
  beforeAll(() => void mockSlackFetch());
  afterAll(() => vi.restoreAllMocks());
}

export function mockSlackFetch(slack = new FakeSlack()): FakeSlack {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(SLACK_API)) return slack.handle(request);
    throw new Error(`unexpected outbound fetch: ${request.method} ${request.url}`);
  });
  return slack;
}

/** A logger that keeps errors and warnings (chat logs a failed message as "Message processing error"). */
export function collectingLogger(): Logger & { errors: unknown[]; warnings: string[] } {
  const errors: unknown[] = [];
  const warnings: string[] = [];
  const logger = {
    errors,
    warnings,
    debug() {},
    info() {},
    warn(message: string) {
      warnings.push(message);
    },
    error(message: string, context?: unknown) {
      errors.push({ message, context });
    },
    child: () => logger,
  };
  return logger as unknown as Logger & { errors: unknown[]; warnings: string[] };
}

/** A promise and its resolver. */
export function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A connected adapter on `namespace` under `name`, logging to a collecting logger by default. */
export async function adapterOn(namespace: unknown, name: string, logger: Logger = collectingLogger()) {
  const state = createCloudflareState({ namespace: namespace as never, name, logger });
  await state.connect();
  return state;
}

export interface ThreadState {
  turns: number;
}

export interface BotOptions {
  concurrency: ConcurrencyConfig | "queue" | "debounce" | "burst" | "drop";
  /** How long a handler works, ms (may be random). Default 0. */
  handlerMs?: () => number;
  /** Whether handlers keep the per-thread counter in thread state (two more state calls). Default true. */
  threadState?: boolean;
  /** Awaited at the start of every handler (to hold one while others arrive). */
  beforeHandler?: (threadId: string, messageIds: string[]) => Promise<void>;
  logger?: Logger;
}

/** The bot and its records. */
export class RecordingBot {
  readonly bot: Chat<{ slack: ReturnType<typeof createSlackAdapter> }, ThreadState>;
  /** Message id → how many times a handler saw it (as the message or in `skipped`). */
  readonly handled = new Map<string, number>();
  /** Message ids a handler was called with (not counting `skipped`), per thread, in order. */
  readonly dispatched = new Map<string, string[]>();
  /** Times a handler started while another ran on the same thread. */
  overlaps = 0;
  readonly #active = new Map<string, number>();

  constructor(state: StateAdapter, { concurrency, handlerMs = () => 0, threadState = true, beforeHandler, logger }: BotOptions) {
    this.bot = new Chat({
      userName: "statebot",
      adapters: {
        slack: createSlackAdapter({
          botToken: BOT_TOKEN,
          signingSecret: SIGNING_SECRET,
          apiUrl: SLACK_API,
          logger,
        }),
      },
      state,
      logger,
      concurrency: concurrency as ConcurrencyConfig,
    });
    const run = async (threadId: string, ids: string[], work: () => Promise<void>) => {
      const active = (this.#active.get(threadId) ?? 0) + 1;
      this.#active.set(threadId, active);
      if (active > 1) this.overlaps++;
      try {
        await beforeHandler?.(threadId, ids);
        this.dispatched.set(threadId, [...(this.dispatched.get(threadId) ?? []), ids.at(-1)!]);
        for (const id of ids) this.handled.set(id, (this.handled.get(id) ?? 0) + 1);
        await work();
        const ms = handlerMs();
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        this.#active.set(threadId, (this.#active.get(threadId) ?? 1) - 1);
      }
    };
    this.bot.onNewMention(async (thread, message) => {
      await run(thread.id, [message.id], async () => {
        await thread.subscribe();
        if (threadState) await thread.setState({ turns: 1 });
      });
    });
    this.bot.onSubscribedMessage(async (thread, message, context) => {
      const batch = [...(context?.skipped ?? []), message];
      await run(
        thread.id,
        batch.map((m) => m.id),
        async () => {
          if (!threadState) return;
          const previous = await thread.state;
          await thread.setState({ turns: (previous?.turns ?? 0) + batch.length });
        },
      );
    });
  }

  /** POSTs a signed webhook; resolves when chat has finished processing it. */
  async deliver(payload: unknown): Promise<void> {
    const tasks: Promise<unknown>[] = [];
    const request = await signedWebhook("https://bot.test/api/webhooks/slack", payload);
    const response = await this.bot.webhooks.slack(request, { waitUntil: (task) => tasks.push(task) });
    if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
    await Promise.all(tasks);
  }

  /** A new thread: the mention that starts it (its message id is its ts). */
  static mention(text = "<@U0BOT00001> hello"): { payload: unknown; threadTs: string; threadId: string; id: string } {
    const ts = nextTs();
    return {
      payload: eventCallback(appMentionEvent({ user: ALICE, text, ts })),
      threadTs: ts,
      threadId: threadIdOf(CHANNEL_ID, ts),
      id: ts,
    };
  }

  /** A plain reply in a thread. */
  static reply(threadTs: string, text: string): { payload: unknown; id: string } {
    const ts = nextTs();
    return { payload: eventCallback(messageEvent({ user: ALICE, text, ts, threadTs })), id: ts };
  }
}
