// Connection strings taken apart once, the way pg's own parser does for the common keys: used by the pg.Pool view's
// `options` and by the server check (which database alias and user a service connects as).

/** A connection string's pg fields, its password apart, and the string without it. */
export interface ParsedConnection {
  readonly fields: Record<string, unknown>;
  readonly password: string | undefined;
  readonly withoutPassword: string | undefined;
}

/** Splits a postgres:// URL into pg ClientConfig fields (what pg's own parser gives for the common keys). */
export function parseConnectionString(value: string): ParsedConnection {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { fields: {}, password: undefined, withoutPassword: undefined };
  }
  const fields: Record<string, unknown> = {};
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (url.protocol === 'socket:') {
    fields.host = decode(url.pathname);
    const db = url.searchParams.get('db');
    if (db !== null) fields.database = db;
  } else {
    const host = url.hostname.replace(/^\[(.+)\]$/, '$1');
    if (host !== '') fields.host = decode(host);
    if (url.port !== '') fields.port = Number(url.port);
    const database = url.pathname.replace(/^\//, '');
    if (database !== '') fields.database = decode(database);
  }
  if (url.username !== '') fields.user = decode(url.username);
  let password = url.password === '' ? undefined : decode(url.password);
  for (const [key, param] of url.searchParams) {
    if (key === 'password') {
      password ??= param;
      continue;
    }
    if (key === 'sslmode') {
      fields.ssl = param === 'disable' ? false : param === 'no-verify' ? { rejectUnauthorized: false } : {};
      continue;
    }
    if (key === 'ssl') {
      fields.ssl = param === '1' || param === 'true' ? true : param === '0' || param === 'false' ? false : fields.ssl;
      continue;
    }
    if (key === 'application_name' || key.startsWith('ssl') || key === 'db') continue;
    fields[key] = param;
  }
  url.password = '';
  url.searchParams.delete('password');
  return { fields, password, withoutPassword: url.toString() };
}
