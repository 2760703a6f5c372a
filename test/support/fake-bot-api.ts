// A Telegram Bot API server on 127.0.0.1 for tests: what grammY and the bot call, nothing more.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seeded } from './seeded.js';

export const TEST_TOKEN = '123456:TEST-token_abcdefghijklmnopqrstuvwxyz';

export interface SentMessage {
  message_id: number;
  chat_id: number;
  text: string;
  reply_to?: number;
  /** Every text the message had, first to last (edits append). */
  history: string[];
  /** When this server accepted each text of `history` (ms since the epoch). */
  acceptedAt: number[];
}

export interface SentDocument {
  chat_id: number;
  file_name: string;
  caption?: string;
  reply_to?: number;
  content: string;
}

export interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
  at: number;
}

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  bytes: Buffer;
  /** What getFile reports; Telegram omits file_path for files over 20 MB. */
  tooBig: boolean;
}

export interface VoiceUpdate {
  chatId: number;
  userId: number;
  bytes: Buffer;
  kind?: 'voice' | 'audio' | 'video_note' | 'document';
  duration?: number;
  /** Seconds since the epoch; defaults to now. */
  date?: number;
  chatType?: 'private' | 'group' | 'supergroup';
  languageCode?: string;
  fileUniqueId?: string;
  fileName?: string;
  mimeType?: string;
  /** Reported size; defaults to the real one. */
  fileSize?: number;
  tooBig?: boolean;
  caption?: string;
}

/**
 * A fault the fake injects into calls of one method (or into file downloads: method 'file').
 * Each call is hit with probability `rate` (seeded, so runs repeat) or, with `count`, the next
 * `count` calls are; `when` narrows it to calls whose payload matches.
 */
export interface Fault {
  rate?: number;
  count?: number;
  when?: (payload: Record<string, unknown>) => boolean;
  /** Hold the call this long, then handle it normally (or fail it, with `statuses`). */
  delayMs?: number;
  /** Answer with one of these, in turn: 429 carries retry_after, 5xx a JSON error. */
  statuses?: number[];
  retryAfter?: number;
  /** Answer the status with an HTML page, as a proxy in front of the Bot API does. */
  html?: boolean;
  /** Close the connection without an answer. */
  reset?: boolean;
}

/** Fields as strings, files as { name, content }: enough of RFC 7578 for grammY's uploads. */
function parseMultipart(body: Buffer, boundary: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    const part = body.subarray(start + delimiter.length + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const content = part.subarray(split + 4).toString('utf8');
    const name = /[;:]\s*name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename=(?:"([^"]*)"|([^;\r\n]+))/.exec(headers)?.slice(1).find((v) => v !== undefined);
    if (name) out[name] = filename !== undefined ? { name: filename, content } : content;
    start = next;
  }
  return out;
}

export class FakeBotApi {
  readonly calls: ApiCall[] = [];
  readonly messages = new Map<number, SentMessage>();
  readonly documents: SentDocument[] = [];
  private server?: http.Server;
  private port = 0;
  private updates: Record<string, unknown>[] = [];
  private nextUpdateId = 1000;
  private nextMessageId = 1;
  private readonly files = new Map<string, StoredFile>();
  private readonly waiting = new Set<() => void>();
  private readonly faults = new Map<string, (Fault & { turn: number })[]>();
  private readonly random = seeded(20261126);
  /** Faults injected so far, by method. */
  readonly injected = new Map<string, number>();

  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const wake of this.waiting) wake();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** The next `count` calls of `method` answer 429 with retry_after. */
  failWith429(method: string, count: number, retryAfter: number): void {
    this.inject(method, { count, statuses: [429], retryAfter });
  }

  /** Injects `fault` into calls of `method` ('file' for downloads) until `heal(method)`; faults with a count apply in turn. */
  inject(method: string, fault: Fault): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), { ...fault, turn: 0 }]);
  }

  heal(method: string): void {
    this.faults.delete(method);
  }

  /** True when the fault answered the call (the caller must not). */
  private async applyFault(method: string, payload: Record<string, unknown>, res: http.ServerResponse): Promise<boolean> {
    const fault = this.faults.get(method)?.find((f) => (f.count === undefined || f.count > 0) && (!f.when || f.when(payload)));
    if (!fault) return false;
    if (fault.count !== undefined) {
      fault.count--;
    } else if (this.random() >= (fault.rate ?? 1)) {
      return false;
    }
    this.injected.set(method, (this.injected.get(method) ?? 0) + 1);
    if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault.reset) {
      res.socket?.destroy();
      return true;
    }
    const status = fault.statuses?.[fault.turn++ % fault.statuses.length];
    if (status === undefined) return false;
    if (fault.html) {
      res.writeHead(status, { 'content-type': 'text/html' }).end(`<html><body><h1>${status}</h1>nginx</body></html>`);
      return true;
    }
    const parameters = status === 429 ? { retry_after: fault.retryAfter ?? 1 } : undefined;
    const description = status === 429 ? `Too Many Requests: retry after ${fault.retryAfter ?? 1}` : 'Internal Server Error';
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error_code: status, description, parameters }));
    return true;
  }

  addFile(bytes: Buffer, fileUniqueId?: string, tooBig = false): StoredFile {
    const file: StoredFile = { file_id: `file-${randomBytes(6).toString('hex')}`, file_unique_id: fileUniqueId ?? `u-${randomBytes(6).toString('hex')}`, bytes, tooBig };
    this.files.set(file.file_id, file);
    return file;
  }

  /** Queues an update with a voice note (or another audio kind); returns its update and message ids. */
  sendVoice(v: VoiceUpdate): { updateId: number; messageId: number; update: Record<string, unknown> } {
    const file = this.addFile(v.bytes, v.fileUniqueId, v.tooBig);
    const media = { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: v.fileSize ?? v.bytes.length, duration: v.duration ?? 1 };
    const kind = v.kind ?? 'voice';
    const content: Record<string, unknown> =
      kind === 'document'
        ? { document: { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: media.file_size, file_name: v.fileName ?? 'voice.ogg', mime_type: v.mimeType ?? 'audio/ogg' } }
        : kind === 'video_note'
          ? { video_note: { ...media, length: 240 } }
          : { [kind]: { ...media, mime_type: v.mimeType ?? 'audio/ogg' } };
    if (v.caption !== undefined) content.caption = v.caption;
    return this.pushMessage(v, content);
  }

  sendText(v: Pick<VoiceUpdate, 'chatId' | 'userId' | 'chatType' | 'languageCode' | 'date'>, text: string, replyTo?: Record<string, unknown>): { updateId: number; messageId: number } {
    const content: Record<string, unknown> = { text };
    if (text.startsWith('/')) content.entities = [{ type: 'bot_command', offset: 0, length: text.split(/\s/)[0]!.length }];
    if (replyTo) content.reply_to_message = replyTo;
    return this.pushMessage(v, content);
  }

  /** Delivers an update again, as Telegram does after a crash. */
  redeliver(update: Record<string, unknown>): void {
    this.updates.push(update);
    this.wake();
  }

  private pushMessage(v: Pick<VoiceUpdate, 'chatId' | 'userId' | 'chatType' | 'languageCode' | 'date'>, content: Record<string, unknown>) {
    const messageId = this.nextMessageId++;
    const chatType = v.chatType ?? 'private';
    const message = {
      message_id: messageId,
      date: v.date ?? Math.floor(Date.now() / 1000),
      chat: chatType === 'private' ? { id: v.chatId, type: 'private', first_name: 'User' } : { id: v.chatId, type: chatType, title: 'Group' },
      from: { id: v.userId, is_bot: false, first_name: 'User', language_code: v.languageCode ?? 'en' },
      ...content,
    };
    const update = { update_id: this.nextUpdateId++, message };
    this.updates.push(update);
    this.wake();
    return { updateId: update.update_id, messageId, update };
  }

  /** Messages the bot sent in reply to `messageId` in `chatId`. */
  repliesTo(chatId: number, messageId: number): SentMessage[] {
    return [...this.messages.values()].filter((m) => m.chat_id === chatId && m.reply_to === messageId);
  }

  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private wake(): void {
    for (const wake of [...this.waiting]) wake();
  }

  private async readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const type = req.headers['content-type'] ?? '';
    if (body.length === 0) return Object.fromEntries(new URL(req.url!, 'http://x').searchParams);
    if (type.includes('application/json')) return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (type.includes('multipart/form-data')) return parseMultipart(body, /boundary=("?)([^";]+)\1/.exec(type)![2]!);
    if (type.includes('x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    return {};
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url!, 'http://x');
    const fileMatch = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (fileMatch) {
      if (await this.applyFault('file', {}, res)) return;
      const file = [...this.files.values()].find((f) => `files/${f.file_id}` === fileMatch[2]);
      if (!file || fileMatch[1] !== TEST_TOKEN) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': file.bytes.length }).end(file.bytes);
      return;
    }
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    if (!match || match[1] !== TEST_TOKEN) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
      return;
    }
    const method = match[2]!;
    const payload = await this.readBody(req);
    this.calls.push({ method, payload, at: Date.now() });
    const reply = (result: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result }));
    };
    const fail = (code: number, description: string, parameters?: Record<string, unknown>): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error_code: code, description, parameters }));
    };

    if (await this.applyFault(method, payload, res)) return;

    switch (method) {
      case 'getMe':
        return reply({ id: 123456, is_bot: true, first_name: 'Voice', username: 'voice_test_bot', can_join_groups: true, can_read_all_group_messages: true, supports_inline_queries: false });
      case 'getUpdates': {
        const offset = Number(payload.offset ?? 0);
        this.updates = this.updates.filter((u) => (u.update_id as number) >= offset);
        if (this.updates.length === 0) {
          const timeout = Math.min(Number(payload.timeout ?? 0), 1) * 1000;
          await new Promise<void>((resolve) => {
            const wake = () => {
              this.waiting.delete(wake);
              resolve();
            };
            this.waiting.add(wake);
            setTimeout(wake, timeout);
          });
        }
        if (res.destroyed) return;
        return reply(this.updates.filter((u) => (u.update_id as number) >= offset).slice(0, Number(payload.limit ?? 100)));
      }
      case 'sendMessage': {
        const message: SentMessage = {
          message_id: this.nextMessageId++,
          chat_id: Number(payload.chat_id),
          text: String(payload.text),
          reply_to: (payload.reply_parameters as { message_id?: number } | undefined)?.message_id,
          history: [String(payload.text)],
          acceptedAt: [Date.now()],
        };
        this.messages.set(message.message_id, message);
        return reply({ message_id: message.message_id, date: Math.floor(Date.now() / 1000), chat: { id: message.chat_id, type: 'private' }, text: message.text });
      }
      case 'editMessageText': {
        const message = this.messages.get(Number(payload.message_id));
        if (!message) return fail(400, 'Bad Request: message to edit not found');
        if (message.text === payload.text) return fail(400, 'Bad Request: message is not modified');
        message.text = String(payload.text);
        message.history.push(message.text);
        message.acceptedAt.push(Date.now());
        return reply({ message_id: message.message_id, date: Math.floor(Date.now() / 1000), chat: { id: message.chat_id, type: 'private' }, text: message.text });
      }
      case 'sendDocument': {
        // grammY sends the file under its own field and names it with attach://<field>.
        const field = payload.document;
        const doc = (typeof field === 'string' && field.startsWith('attach://') ? payload[field.slice('attach://'.length)] : field) as { name: string; content: string };
        const replyParameters = typeof payload.reply_parameters === 'string' ? (JSON.parse(payload.reply_parameters) as { message_id: number }) : undefined;
        this.documents.push({ chat_id: Number(payload.chat_id), file_name: doc.name, caption: payload.caption as string | undefined, reply_to: replyParameters?.message_id, content: doc.content });
        return reply({ message_id: this.nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(payload.chat_id), type: 'private' } });
      }
      case 'getFile': {
        const file = this.files.get(String(payload.file_id));
        if (!file) return fail(400, 'Bad Request: invalid file_id');
        if (file.tooBig) return fail(400, 'Bad Request: file is too big');
        return reply({ file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.bytes.length, file_path: `files/${file.file_id}` });
      }
      case 'getChatMember':
        return reply({ status: 'administrator', user: { id: Number(payload.user_id), is_bot: false, first_name: 'User' } });
      case 'sendChatAction':
      case 'deleteWebhook':
      case 'setWebhook':
      case 'deleteMessage':
      case 'setMyCommands':
        return reply(true);
      default:
        return fail(404, `Not Found: method ${method} is not in the fake`);
    }
  }
}
