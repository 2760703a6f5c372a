// Health, readiness, metrics, logs, lifecycle and the webhook, on the real bot process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speechOgg } from './support/audio.js';
import { TEST_TOKEN } from './support/fake-bot-api.js';
import { Harness } from './support/harness.js';

const SECRET = 'webhook-secret-0123456789';

describe('observability, webhook mode', () => {
  let h: Harness;
  let base: string;

  beforeAll(async () => {
    h = await Harness.create({ WEBHOOK_URL: 'https://bot.example.test', WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'debug' });
    await h.startBot();
    base = `http://127.0.0.1:${await h.bot.httpPort()}`;
  });
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it('sets the webhook with its secret token', () => {
    const call = h.api.calls.find((c) => c.method === 'setWebhook')!;
    expect(call.payload).toMatchObject({ url: 'https://bot.example.test/telegram/webhook', secret_token: SECRET });
  });

  it('refuses webhook posts without the secret header', async () => {
    const res = await fetch(`${base}/telegram/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"update_id":1}' });
    expect(res.status).toBe(401);
  });

  it('answers a voice note posted to the webhook, and counts it in /metrics', async () => {
    const { messageId, update } = h.api.sendVoice({ chatId: 61, userId: 61, bytes: speechOgg('Through the webhook.', 3), duration: 3 });
    const started = Date.now();
    const res = await fetch(`${base}/telegram/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: JSON.stringify(update),
    });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await h.waitForAnswer(61, messageId)).text).toMatch(/language/);
    // The answer reaches Telegram a moment before the job is recorded and counted.
    await h.waitForEmptyQueue();

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^voicebot_rtf_count\{model="voicebot-test\/whisper-test-tiny",media_kind="voice"\} 1$/m);
    expect(metrics).toMatch(/^voicebot_jobs_total\{status="done",code=""\} 1$/m);
    for (const name of ['voicebot_queue_depth', 'voicebot_inference_seconds_bucket', 'voicebot_decode_seconds_bucket', 'voicebot_worker_heap_bytes', 'voicebot_job_peak_rss_bytes', 'voicebot_model_load_seconds', 'voicebot_process_resident_memory_bytes', 'voicebot_nodejs_eventloop_lag_seconds']) {
      expect(metrics, name).toContain(name);
    }
  });

  it('is healthy and ready', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, model: true, database: true, telegram: true });
  });

  it('never logs the bot token', () => {
    expect(h.bot.logs.length).toBeGreaterThan(5);
    expect(h.bot.output()).not.toContain(TEST_TOKEN);
    expect(h.bot.output()).not.toContain(TEST_TOKEN.split(':')[1]);
  });
});

describe('lifecycle', () => {
  it('a killed run is noticed, logged and recorded at the next start', async () => {
    const h = await Harness.create();
    try {
      await h.startBot();
      await h.bot.stop('SIGKILL');
      await h.startBot();
      await h.bot.waitForLog((l) => l.level === 40 && /previous run ended without a clean stop: it was killed/.test(l.msg));
      const kinds = h.query<{ kind: string }>('SELECT kind FROM lifecycle_events ORDER BY id').map((r) => r.kind);
      expect(kinds).toEqual(['start', 'unclean_exit', 'start']);
    } finally {
      await h.stop();
    }
  });
});
