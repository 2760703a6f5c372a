// pino JSON logs; the bot token never reaches them.
import pino, { type Logger } from 'pino';

export function createLogger(level: string, botToken: string): Logger {
  const scrub = (text: string) => (botToken ? text.replaceAll(botToken, '<token>') : text);
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
  });
}
