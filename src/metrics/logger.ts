// pino JSON logs (pretty on a developer's terminal); the bot token, the webhook secret and the queue's
// Redis password never reach them, however deep they hide.
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Shorter values could match ordinary text; the config validates real tokens and secrets as longer. */
const MIN_SECRET_LENGTH = 8;

/**
 * Replaces secrets in any text. The token's secret half is a secret of its own: it survives URL
 * encoding of the colon (`123%3Aabc`), and grammY's errors nest the request URL several levels deep.
 */
export class SecretScrubber {
  private readonly secrets: string[];

  /** `others`: further secrets in every form they may take, e.g. QUEUE_URL's password and its URL encoding. */
  constructor(botToken: string, webhookSecret?: string, others: readonly string[] = []) {
    const tokenSecret = botToken.slice(botToken.indexOf(':') + 1);
    this.secrets = [botToken, tokenSecret, webhookSecret ?? '', ...others]
      .filter((secret) => secret.length >= MIN_SECRET_LENGTH)
      .sort((a, b) => b.length - a.length);
  }

  readonly scrub = (text: string): string => this.secrets.reduce((clean, secret) => clean.replaceAll(secret, '<redacted>'), text);
}

/** Writes to stdout unless given another `destination`. */
export function createLogger(level: string, scrubber: SecretScrubber, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'voicebot', pid: process.pid },
    // Nested errors (grammY's HttpError.error, `cause` chains) are serialized whole, so the finished
    // line is scrubbed rather than chosen fields: a secret in any field, at any depth, is caught.
    serializers: { err: pino.stdSerializers.errWithCause },
    hooks: { streamWrite: scrubber.scrub },
  };
  // Log collectors read JSON: pretty only for a person at a terminal, never in production.
  const forPerson = !destination && process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  return pino(options, destination ?? (forPerson ? pretty({ colorize: true, sync: true }) : undefined));
}
