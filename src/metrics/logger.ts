// pino JSON logs (pretty on a developer's terminal); the bot token never reaches them.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: string, botToken: string): Logger {
  const scrub = (text: string) => (botToken ? text.replaceAll(botToken, '<token>') : text);
  // Log collectors read JSON: pretty only for a person at a terminal, never in production.
  const forPerson = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  return pino({
    level,
    base: { service: 'voicebot', pid: process.pid },
    redact: { paths: ['botToken', '*.botToken', 'token', '*.token', 'webhookSecret', '*.webhookSecret'], censor: '<redacted>' },
    serializers: {
      // Errors from HTTP clients can carry request URLs, and Telegram's carry the token.
      err: (error: Error) => {
        const serialized = pino.stdSerializers.err(error);
        serialized.message = scrub(serialized.message ?? '');
        if (serialized.stack) serialized.stack = scrub(serialized.stack);
        return serialized;
      },
    },
  }, forPerson ? pretty({ colorize: true, sync: true }) : undefined);
}
