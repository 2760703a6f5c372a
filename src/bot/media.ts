// Pure: what in a Telegram message is audio the bot can transcribe.
import type { Message } from 'grammy/types';
import type { MediaKind } from '../storage/schema.js';

export interface MediaFile {
  kind: MediaKind;
  fileId: string;
  fileUniqueId: string;
  fileSize: number | undefined;
  /** Seconds, as Telegram reports them (documents have none). */
  duration: number | undefined;
}

const AUDIO_EXTENSIONS = /\.(ogg|oga|opus|mp3|m4a|aac|wav|flac|webm|amr|wma|mka|mp4|mov|mkv)$/i;

function isAudioDocument(mimeType: string | undefined, fileName: string | undefined): boolean {
  if (mimeType && /^(audio|video)\//.test(mimeType)) return true;
  return fileName !== undefined && AUDIO_EXTENSIONS.test(fileName);
}

export function mediaOf(message: Message): MediaFile | undefined {
  const pick = (kind: MediaKind, f: { file_id: string; file_unique_id: string; file_size?: number; duration?: number }) => ({
    kind,
    fileId: f.file_id,
    fileUniqueId: f.file_unique_id,
    fileSize: f.file_size,
    duration: f.duration,
  });
  if (message.voice) return pick('voice', message.voice);
  if (message.audio) return pick('audio', message.audio);
  if (message.video_note) return pick('video_note', message.video_note);
  if (message.video) return pick('video', message.video);
  if (message.document && isAudioDocument(message.document.mime_type, message.document.file_name)) {
    return pick('document', message.document);
  }
  return undefined;
}

/** A document the user sent that is plainly not audio: answered, not ignored, in private chats. */
export function isUnsupportedDocument(message: Message): boolean {
  return message.document !== undefined && mediaOf(message) === undefined;
}
