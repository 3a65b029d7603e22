// The bot of one chaos Worker: real chat 4.41.1 and @chat-adapter/slack on a state adapter (the
// Worker's ChaosSurface), `concurrency: { strategy, maxQueueSize: 64 }`. Every Worker of a run
// records into one Recorder, so "never two handlers at once on a thread" is judged over all
// Workers, both layouts. The handler does what a bot does with state: it appends each message of
// its batch to the thread's history list and counts them in thread state.
import { createSlackAdapter } from "@chat-adapter/slack";
import { Chat, type ConcurrencyConfig, type Logger, type StateAdapter } from "chat";
import { BOT_TOKEN, SIGNING_SECRET, signedWebhook } from "../../../examples/bot/demo/slack.mjs";
import { SLACK_API } from "../slack-bot.js";
import { flowContext } from "./surface.js";

export type Strategy = "queue" | "debounce" | "burst";

export interface ThreadState {
  turns: number;
}

/** One handler run: the message it was called with, and `context.skipped`. */
export interface Dispatch {
  worker: number;
  /** The flow (delivery) that ran it: the lock holder's. */
  flow: string | undefined;
  threadId: string;
  message: string;
  skipped: string[];
  startedAt: number;
  endedAt?: number;
}

/** What chat reported through its logger, by kind. */
export interface ChatReports {
  /** "Message processing error": processMessage rejected (the message is lost for good). */
  errors: { flow: string | undefined; threadId?: string; error: unknown }[];
  /** chat's documented drops: "message-expired" (queueEntryTtlMs) and "message-dropped" (queue full). */
  expired: string[];
  queueFull: string[];
  warnings: string[];
}

export class Recorder {
  readonly dispatches: Dispatch[] = [];
  /** Message id → times a handler got it (as the message or in `skipped`). */
  readonly handled = new Map<string, number>();
  /** Handler runs that started while another ran on the same thread (any Worker). */
  readonly overlaps: { threadId: string; running: Dispatch; started: Dispatch }[] = [];
  readonly reports: ChatReports = { errors: [], expired: [], queueFull: [], warnings: [] };
  readonly #active = new Map<string, Dispatch>();

  start(dispatch: Dispatch): void {
    const running = this.#active.get(dispatch.threadId);
    if (running) this.overlaps.push({ threadId: dispatch.threadId, running, started: dispatch });
    this.#active.set(dispatch.threadId, dispatch);
    this.dispatches.push(dispatch);
    for (const id of [...dispatch.skipped, dispatch.message]) this.handled.set(id, (this.handled.get(id) ?? 0) + 1);
  }

  end(dispatch: Dispatch): void {
    dispatch.endedAt = Date.now();
    if (this.#active.get(dispatch.threadId) === dispatch) this.#active.delete(dispatch.threadId);
  }

  /** chat's logger: keeps what the properties need, drops the rest. */
  logger(): Logger {
    const reports = this.reports;
    const logger = {
      debug() {},
      info(message: string, context?: { messageId?: string }) {
        if (message === "message-expired" && context?.messageId) reports.expired.push(context.messageId);
        if (message === "message-dropped" && context?.messageId) reports.queueFull.push(context.messageId);
      },
      warn(message: string) {
        reports.warnings.push(message);
      },
      error(message: string, context?: { error?: unknown; threadId?: string }) {
        reports.errors.push({ flow: flowContext.getStore(), threadId: context?.threadId, error: context?.error ?? message });
      },
      child: () => logger,
    };
    return logger as unknown as Logger;
  }
}

export const historyKey = (threadId: string) => `msg-history:${threadId}`;

export class ChaosBot {
  readonly bot: Chat<{ slack: ReturnType<typeof createSlackAdapter> }, ThreadState>;

  constructor(
    state: StateAdapter,
    {
      worker,
      strategy,
      debounceMs,
      recorder,
      handlerMs,
    }: { worker: number; strategy: Strategy; debounceMs: number; recorder: Recorder; handlerMs: () => number },
  ) {
    const logger = recorder.logger();
    this.bot = new Chat({
      userName: "statebot",
      adapters: {
        slack: createSlackAdapter({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: SLACK_API, logger }),
      },
      state,
      logger,
      concurrency: { strategy, maxQueueSize: 64, debounceMs } as ConcurrencyConfig,
    });
    this.bot.onSubscribedMessage(async (thread, message, context) => {
      const dispatch: Dispatch = {
        worker,
        flow: flowContext.getStore(),
        threadId: thread.id,
        message: message.id,
        skipped: (context?.skipped ?? []).map((m) => m.id),
        startedAt: Date.now(),
      };
      recorder.start(dispatch);
      try {
        const batch = [...dispatch.skipped, dispatch.message];
        for (const id of batch) {
          await state.appendToList(historyKey(thread.id), id, { maxLength: 1_000, ttlMs: 3_600_000 });
        }
        const previous = await thread.state;
        await thread.setState({ turns: (previous?.turns ?? 0) + batch.length });
        const ms = handlerMs();
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        recorder.end(dispatch);
      }
    });
  }

  /** POSTs a signed webhook as `flow`; resolves when chat has finished processing it. */
  async deliver(flow: string, payload: unknown): Promise<void> {
    await flowContext.run(flow, async () => {
      const tasks: Promise<unknown>[] = [];
      const request = await signedWebhook("https://bot.test/api/webhooks/slack", payload);
      const response = await this.bot.webhooks.slack(request, { waitUntil: (task) => tasks.push(task) });
      if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
      await Promise.all(tasks);
    });
  }
}
