// What the bot says, in English and Russian; picked from Telegram's language_code.
import type { JobError } from '../jobs/errors.js';

export const UI_LANGUAGES = ['en', 'ru'] as const;
export type UiLanguage = (typeof UI_LANGUAGES)[number];

export function uiLanguageOf(languageCode: string | undefined): UiLanguage {
  const base = languageCode?.toLowerCase().split('-')[0];
  return base === 'ru' || base === 'uk' || base === 'be' || base === 'kk' ? 'ru' : 'en';
}

type Params = Record<string, string | number>;
type Phrase = string | ((p: Params) => string);

const en = {
  help:
    'Send me a voice note, an audio file or a round video and I will send back the text.\n\n' +
    'Commands:\n' +
    '/lang: recognise a fixed language, or detect it (default)\n' +
    '/translate: translate to English instead of transcribing\n' +
    '/timestamps: add [mm:ss] marks (and an .srt file for long notes)\n' +
    '/privacy: what I store and for how long\n' +
    '/forget: delete everything stored about you\n\n' +
    'In groups I transcribe every voice note, or only when someone replies /transcribe to one (/mode, for group admins).',
  queued: (p: Params) => `⏳ In the queue (position ${p.position}). I will write the text here.`,
  working: '🎧 Transcribing…',
  progress: (p: Params) => `🎧 Transcribing… ${p.done}/${p.total}`,
  detected: (p: Params) => `language: ${p.language}`,
  fixedLanguage: (p: Params) => `language: ${p.language} (fixed, /lang)`,
  translated: 'translated to English',
  loopCut: 'a repeated phrase was cut',
  fromCache: 'from an earlier transcript of this file',
  fullTranscript: 'The full transcript as a file.',
  srtCaption: 'Subtitles (.srt).',
  langUsage: (p: Params) => `Language now: ${p.current}.\nUse /lang auto to detect it, or /lang <code>, e.g. /lang en, /lang ru, /lang de.`,
  langSet: (p: Params) => `Done: ${p.current}.`,
  langAuto: 'detected automatically',
  langUnknown: (p: Params) => `I do not know the language "${p.code}". Use a two-letter code such as en, ru, de, or /lang auto.`,
  toggled: (p: Params) => `${p.name} is now ${p.state}.`,
  on: 'on',
  off: 'off',
  privacy: (p: Params) =>
    'What I store: for each voice note, your user id, the chat and message id, the file id, its duration, timings and memory used, and ' +
    (p.stored === 'yes' ? 'the transcript (so that a forwarded copy is answered at once). ' : 'not the transcript (this bot is set not to keep it). ') +
    'Your settings (/lang, /translate, /timestamps). The audio itself is deleted as soon as it is transcribed.\n' +
    `Transcripts are deleted after ${p.transcriptDays} days, the rest after ${p.jobDays} days, or all of it at once when you send /forget.`,
  forgotten: (p: Params) => `Deleted: ${p.jobs} voice note record(s) and your settings.`,
  transcribeUsage: 'Reply /transcribe to a voice note to have it transcribed.',
  modeUsage: (p: Params) => `Group mode: ${p.mode}. Use /mode all (every voice note) or /mode request (only on /transcribe).`,
  modeSet: (p: Params) => `Group mode: ${p.mode}.`,
  adminsOnly: 'Only group admins can change this.',
  unsupportedFile: 'I can only transcribe audio: voice notes, audio files and round videos.',
  errors: {
    too_large: (p: Params) => `This file is larger than ${p.maxMb} MB, the most I can download. Please send a shorter recording.`,
    too_long: (p: Params) => `This recording is longer than ${Math.round(Number(p.maxSeconds) / 60)} min, the most I transcribe. Please send a shorter one.`,
    unsupported: 'I cannot read this kind of file. Please send a voice note or a common audio format (OGG, MP3, M4A, WAV).',
    broken_audio: 'I could not read this file: it looks damaged or is not audio. Please send it again.',
    no_audio: 'This file has no sound in it.',
    no_speech: '🔇 No speech detected.',
    download_failed: 'I could not download this file from Telegram. Please send it again in a minute.',
    decoder_failed: 'Something went wrong while reading this recording. Please try again later.',
    asr_failed: 'Something went wrong while transcribing this note. Please try again later.',
    asr_crashed: 'Something went wrong while transcribing this note. Please try again later.',
    reply_failed: 'Something went wrong while sending the text. Please try again later.',
    timed_out: 'This recording took far too long to process, so I stopped. Please send it again, or a shorter one.',
    too_many_attempts: 'This recording stopped the bot every time I tried to transcribe it, so I gave up on it. Please send a shorter or different recording.',
    stale: 'Sorry, I was offline when you sent this and it is too old now. Please send it again.',
    queue_full: (p: Params) => `I am very busy right now. Please send it again in ${p.retryAfterSeconds} s.`,
    rate_limited: (p: Params) => `That is a lot of voice notes at once. Please send this one again in ${p.retryAfterSeconds} s.`,
    busy_user: (p: Params) => `I am still working on your earlier notes. Please send this one again in ${p.retryAfterSeconds} s.`,
    low_memory: (p: Params) => `The server is short of memory right now. Please send it again in ${p.retryAfterSeconds} s.`,
  },
} satisfies Record<string, Phrase | Record<string, Phrase>>;

type Phrases = typeof en;

const ru: Phrases = {
  help:
    'Пришлите голосовое сообщение, аудиофайл или кружок, и я пришлю текст.\n\n' +
    'Команды:\n' +
    '/lang: распознавать заданный язык или определять его (по умолчанию)\n' +
    '/translate: переводить на английский вместо расшифровки\n' +
    '/timestamps: метки [мм:сс] (и файл .srt для длинных записей)\n' +
    '/privacy: что я храню и как долго\n' +
    '/forget: удалить всё, что хранится о вас\n\n' +
    'В группах я расшифровываю каждое голосовое или только по ответу /transcribe (/mode, для админов группы).',
  queued: (p) => `⏳ В очереди (место ${p.position}). Текст появится здесь.`,
  working: '🎧 Расшифровываю…',
  progress: (p) => `🎧 Расшифровываю… ${p.done}/${p.total}`,
  detected: (p) => `язык: ${p.language}`,
  fixedLanguage: (p) => `язык: ${p.language} (задан, /lang)`,
  translated: 'переведено на английский',
  loopCut: 'повторяющаяся фраза вырезана',
  fromCache: 'из прежней расшифровки этого файла',
  fullTranscript: 'Полный текст файлом.',
  srtCaption: 'Субтитры (.srt).',
  langUsage: (p) => `Сейчас: ${p.current}.\n/lang auto — определять автоматически, /lang <код> — задать, например /lang ru, /lang en.`,
  langSet: (p) => `Готово: ${p.current}.`,
  langAuto: 'определяется автоматически',
  langUnknown: (p) => `Я не знаю язык «${p.code}». Используйте двухбуквенный код (ru, en, de) или /lang auto.`,
  toggled: (p) => `${p.name}: ${p.state}.`,
  on: 'включено',
  off: 'выключено',
  privacy: (p) =>
    'Что я храню: для каждого голосового — ваш id, id чата и сообщения, id файла, длительность, время и память обработки, и ' +
    (p.stored === 'yes' ? 'текст расшифровки (чтобы пересланную копию ответить сразу). ' : 'не храню текст (так настроен этот бот). ') +
    'Ваши настройки (/lang, /translate, /timestamps). Само аудио удаляется сразу после расшифровки.\n' +
    `Тексты удаляются через ${p.transcriptDays} дн., остальное через ${p.jobDays} дн., а всё сразу — по команде /forget.`,
  forgotten: (p) => `Удалено: записей о голосовых — ${p.jobs}, и ваши настройки.`,
  transcribeUsage: 'Ответьте /transcribe на голосовое, чтобы его расшифровать.',
  modeUsage: (p) => `Режим группы: ${p.mode}. /mode all — каждое голосовое, /mode request — только по /transcribe.`,
  modeSet: (p) => `Режим группы: ${p.mode}.`,
  adminsOnly: 'Менять это могут только админы группы.',
  unsupportedFile: 'Я расшифровываю только аудио: голосовые, аудиофайлы и кружки.',
  errors: {
    too_large: (p) => `Файл больше ${p.maxMb} МБ — столько я скачать не могу. Пришлите запись покороче.`,
    too_long: (p) => `Запись длиннее ${Math.round(Number(p.maxSeconds) / 60)} мин — это мой предел. Пришлите покороче.`,
    unsupported: 'Я не умею читать такой файл. Пришлите голосовое или обычный аудиоформат (OGG, MP3, M4A, WAV).',
    broken_audio: 'Не получилось прочитать файл: он повреждён или это не аудио. Пришлите ещё раз.',
    no_audio: 'В этом файле нет звука.',
    no_speech: '🔇 Речь не обнаружена.',
    download_failed: 'Не получилось скачать файл из Telegram. Пришлите его ещё раз через минуту.',
    decoder_failed: 'Что-то пошло не так при чтении записи. Попробуйте позже.',
    asr_failed: 'Что-то пошло не так при расшифровке. Попробуйте позже.',
    asr_crashed: 'Что-то пошло не так при расшифровке. Попробуйте позже.',
    reply_failed: 'Что-то пошло не так при отправке текста. Попробуйте позже.',
    timed_out: 'Эта запись обрабатывалась слишком долго, и я остановился. Пришлите её ещё раз или запись покороче.',
    too_many_attempts: 'Каждая попытка расшифровать эту запись останавливала бота, поэтому я её пропускаю. Пришлите запись покороче или другую.',
    stale: 'Извините, я был недоступен, когда вы это прислали, и сообщение устарело. Пришлите ещё раз.',
    queue_full: (p) => `Сейчас очень много работы. Пришлите ещё раз через ${p.retryAfterSeconds} с.`,
    rate_limited: (p) => `Слишком много голосовых сразу. Пришлите это ещё раз через ${p.retryAfterSeconds} с.`,
    busy_user: (p) => `Я ещё расшифровываю ваши прошлые записи. Пришлите это через ${p.retryAfterSeconds} с.`,
    low_memory: (p) => `На сервере сейчас мало памяти. Пришлите ещё раз через ${p.retryAfterSeconds} с.`,
  },
};

const PHRASES: Record<UiLanguage, Phrases> = { en, ru };

type PhraseKey = Exclude<keyof Phrases, 'errors'>;

function render(phrase: Phrase, params: Params): string {
  return typeof phrase === 'function' ? phrase(params) : phrase;
}

export function t(language: string, key: PhraseKey, params: Params = {}): string {
  return render(PHRASES[uiLanguageOf(language)][key], params);
}

export function errorMessage(language: string, error: JobError): string {
  return render(PHRASES[uiLanguageOf(language)].errors[error.code], error.params as Params);
}
