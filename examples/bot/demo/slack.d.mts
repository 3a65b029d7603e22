// Types for slack.mjs (used by the TypeScript end-to-end test).
export const SIGNING_SECRET: string;
export const BOT_TOKEN: string;
export const TEAM_ID: string;
export const APP_ID: string;
export const BOT_USER_ID: string;
export const BOT_ID: string;
export const CHANNEL_ID: string;
export const CHANNEL_NAME: string;
export const USERS: Record<string, { name: string; real_name: string; is_bot?: boolean }>;

export interface SlackEventInput {
  user: string;
  text: string;
  ts: string;
  threadTs?: string;
  channel?: string;
}
export type SlackEvent = Record<string, unknown> & { type: string; ts: string; text: string };
export type EventCallback = Record<string, unknown> & { event: SlackEvent; event_id: string };

export function nextTs(nowMs?: number): string;
export function threadIdOf(channel: string, threadTs: string): string;
export function appMentionEvent(input: SlackEventInput): SlackEvent;
export function messageEvent(input: SlackEventInput): SlackEvent;
export function eventCallback(event: SlackEvent, eventId?: string): EventCallback;
export function slackHeaders(
  body: string,
  options?: { secret?: string; timestamp?: number | string; retryNum?: number },
): Promise<Record<string, string>>;
export function signedWebhook(
  url: string,
  payload: unknown,
  options?: { secret?: string; timestamp?: number | string; retryNum?: number },
): Promise<Request>;

export interface SlackPost {
  channel: string;
  threadTs: string | undefined;
  text: string;
  ts: string;
}
export class FakeSlack {
  calls: { method: string; params: Record<string, unknown> }[];
  posts: SlackPost[];
  holdPost(match: (text: string) => boolean): { reached: Promise<void>; release: () => void };
  waitForPosts(count: number, timeoutMs?: number): Promise<SlackPost[]>;
  handle(request: Request): Promise<Response>;
}
