// The decoder process (see decoder-process.ts): runs ffmpeg for the bot, which reads the file ffmpeg wrote.
import { AudioError } from './errors.js';
import { decodeToFile } from './ffmpeg.js';
import type { FromDecoder, ToDecoder } from './decoder-process.js';

const send = (message: FromDecoder) => process.send!(message);

process.on('message', ({ id, inputPath, pcmPath, options }: ToDecoder) => {
  decodeToFile(inputPath, pcmPath, options).then(
    () => send({ id, type: 'end' }),
    (error: unknown) =>
      send(
        error instanceof AudioError
          ? { id, type: 'failed', failure: error.failure, detail: error.detail }
          : { id, type: 'failed', failure: 'decoder_failed', detail: error instanceof Error ? error.message : String(error) },
      ),
  );
});
// The bot going away closes the channel: nothing is left to decode for. This process leads its
// group (decoder-process.ts), so the signal ends it and every ffmpeg it started at once.
process.on('disconnect', () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } finally {
    process.exit(0);
  }
});
