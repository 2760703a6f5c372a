// /start, /help, /lang, /translate, /timestamps, /privacy, /forget, /transcribe, /mode.
import { Composer, type Context } from 'grammy';
import type { Logger } from 'pino';
import { WHISPER_LANGUAGES } from '../asr/languages.js';
import { t, uiLanguageOf } from './i18n.js';
import type { Intake } from './intake.js';
import { mediaOf } from './media.js';
import type { SettingsStore, UserSettings } from './settings-store.js';

export interface CommandDeps {
  settings: SettingsStore;
  intake: Intake;
  storeTranscripts: boolean;
  /** What /privacy promises: the retention settings. */
  retention: { transcriptDays: number; jobDays: number };
  log: Logger;
}

const ui = (ctx: Context) => uiLanguageOf(ctx.from?.language_code);

function toggleArgument(arg: string, current: boolean): boolean {
  if (/^(on|yes|1|вкл)/i.test(arg)) return true;
  if (/^(off|no|0|выкл)/i.test(arg)) return false;
  return !current;
}

export function commands(deps: CommandDeps): Composer<Context> {
  const composer = new Composer<Context>();
  const { settings } = deps;

  composer.command(['start', 'help'], (ctx) => ctx.reply(t(ui(ctx), 'help')));

  composer.command('lang', async (ctx) => {
    const arg = ctx.match.trim().toLowerCase();
    const describe = (language: string | null) => language ?? t(ui(ctx), 'langAuto');
    if (!arg) {
      await ctx.reply(t(ui(ctx), 'langUsage', { current: describe(settings.user(ctx.from!.id).language) }));
    } else if (arg === 'auto') {
      await ctx.reply(t(ui(ctx), 'langSet', { current: describe(settings.updateUser(ctx.from!.id, { language: null }).language) }));
    } else if (WHISPER_LANGUAGES.has(arg)) {
      await ctx.reply(t(ui(ctx), 'langSet', { current: describe(settings.updateUser(ctx.from!.id, { language: arg }).language) }));
    } else {
      await ctx.reply(t(ui(ctx), 'langUnknown', { code: arg }));
    }
  });

  const toggle = (command: 'translate' | 'timestamps', key: keyof Pick<UserSettings, 'translate' | 'timestamps'>) =>
    composer.command(command, async (ctx) => {
      const next = toggleArgument(ctx.match.trim(), settings.user(ctx.from!.id)[key]);
      settings.updateUser(ctx.from!.id, { [key]: next });
      await ctx.reply(t(ui(ctx), 'toggled', { name: `/${command}`, state: t(ui(ctx), next ? 'on' : 'off') }));
    });
  toggle('translate', 'translate');
  toggle('timestamps', 'timestamps');

  composer.command('privacy', (ctx) => ctx.reply(t(ui(ctx), 'privacy', { stored: deps.storeTranscripts ? 'yes' : 'no', ...deps.retention })));

  composer.command('forget', async (ctx) => {
    const removed = settings.forgetUser(ctx.from!.id);
    deps.log.info({ userId: ctx.from!.id, jobs: removed }, 'user data deleted on /forget');
    await ctx.reply(t(ui(ctx), 'forgotten', { jobs: removed }));
  });

  composer.command('transcribe', async (ctx) => {
    const target = ctx.message?.reply_to_message;
    const media = target ? mediaOf(target) : undefined;
    if (!target || !media) {
      await ctx.reply(t(ui(ctx), 'transcribeUsage'));
      return;
    }
    await deps.intake.accept(ctx, target, media);
  });

  composer.command('mode', async (ctx) => {
    if (ctx.chat.type !== 'group' && ctx.chat.type !== 'supergroup') {
      await ctx.reply(t(ui(ctx), 'help'));
      return;
    }
    const arg = ctx.match.trim().toLowerCase();
    const mode = arg === 'all' ? 'all' : arg === 'request' ? 'on_request' : undefined;
    if (!mode) {
      await ctx.reply(t(ui(ctx), 'modeUsage', { mode: settings.groupMode(ctx.chat.id) }));
      return;
    }
    const member = await ctx.getChatMember(ctx.from!.id);
    if (member.status !== 'creator' && member.status !== 'administrator') {
      await ctx.reply(t(ui(ctx), 'adminsOnly'));
      return;
    }
    settings.setGroupMode(ctx.chat.id, mode);
    await ctx.reply(t(ui(ctx), 'modeSet', { mode }));
  });

  return composer;
}
