// Pure: what a failed call to the Bot API says about the way there, and when to try again.

export type ConnectFailureKind = 'dns' | 'refused' | 'reset' | 'timeout' | 'tls' | 'http' | 'network';

export interface ConnectFailure {
  kind: ConnectFailureKind;
  /** The system or undici error code (ECONNREFUSED, EAI_AGAIN, ...), when there is one. */
  code?: string;
  /** The HTTP status, when the Bot API (or a proxy in front of it) answered. */
  status?: number;
  /** One line for the operator. */
  reason: string;
}

const KIND_BY_CODE: Record<string, ConnectFailureKind> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NODATA: 'dns',
  EAI_NONAME: 'dns',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  ENETUNREACH: 'network',
  EHOSTUNREACH: 'network',
};

/** undici puts the system error in `cause` (or in `cause.errors` when several addresses failed). */
function codeOf(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } } | undefined)?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? (error as { code?: string } | undefined)?.code;
}

export function describeHttpFailure(status: number, description: string | undefined): ConnectFailure {
  const hint = status === 401 || status === 404 ? ': check BOT_TOKEN' : '';
  return { kind: 'http', status, reason: `HTTP ${status}${description ? ` (${description})` : ''}${hint}` };
}

export function describeNetworkFailure(error: unknown): ConnectFailure {
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError') return { kind: 'timeout', reason: 'no answer before the timeout' };
  const code = codeOf(error);
  const kind = code ? (KIND_BY_CODE[code] ?? (/CERT|SSL|TLS/.test(code) ? 'tls' : 'network')) : 'network';
  const message = (error as { cause?: Error } | undefined)?.cause?.message ?? (error as Error | undefined)?.message ?? String(error);
  const reason = {
    dns: `DNS resolution failed (${code})`,
    refused: `connection refused (${code})`,
    reset: `connection reset (${code})`,
    timeout: `timed out (${code})`,
    tls: `TLS failed (${code})`,
    http: message,
    network: code ? `network unreachable (${code})` : message,
  }[kind];
  return { kind, code, reason };
}
