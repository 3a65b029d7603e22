// Types for scenario.mjs (used by the TypeScript end-to-end test).
import type { EventCallback, FakeSlack, SlackPost } from "./slack.mjs";

export interface ObjectInspection {
  objectName: string;
  subscriptions: number;
  locks: number;
  cacheEntries: number;
  lists: number;
  listItems: number;
  queuedEntries: number;
  databaseBytes: number;
  nextAlarmAt: number | null;
}
export interface TranscriptEntry {
  kind: "header" | "user" | "bot" | "note";
  who?: string;
  text: string;
}
export interface Step {
  name: string;
  status: number;
  posts: SlackPost[];
  duringBurst?: ObjectInspection[];
  after?: ObjectInspection[];
}
export interface ScenarioRecord {
  steps: Step[];
  threadTs: string;
  threadId: string;
  expectedPosts: number;
}
export function readable(text: string): string;
export function runScenario(options: {
  deliver: (
    payload: EventCallback,
    options?: { retryNum?: number },
  ) => Promise<{ status: number; done: Promise<unknown> }>;
  inspect: () => Promise<ObjectInspection[]>;
  threadInfo?: (threadId: string) => Promise<{ objectName: string; subscribed: boolean }>;
  slack: FakeSlack;
  say: (entry: TranscriptEntry) => void;
  previousThreadTs?: string;
}): Promise<ScenarioRecord>;
