/**
 * Session names of a registry in `pg_stat_activity`: `<applicationName>:<service>`, and with an instance identity
 * `<applicationName>:<service>@<instance>`, so that several instances of one application on one database can be
 * told apart (by the server probe, by {@link PoolRegistry.checkServer}, by a person reading `pg_stat_activity`).
 */

/** PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes. */
export const MAX_APPLICATION_NAME = 63;

/** Labels of the registry's own standalone clients (server probe, server check), besides the services. */
export const INTERNAL_LABELS: readonly string[] = Object.freeze(['probe', 'check', 'detector']);

/** The shortest instance tag kept after truncation; below it instances could no longer be told apart. */
export const MIN_INSTANCE_TAG = 4;

/**
 * The instance tag every session of this instance carries: `instanceId`, cut to what fits after the longest
 * `<applicationName>:<label>@` (all ASCII, so bytes are characters). The end is kept, since that is where ids
 * differ (`host-7d9f-xk2p4`, `…-pid`), and every label gets the same tag so sessions group by instance.
 */
export function instanceTag(applicationName: string, labels: readonly string[], instanceId: string): string {
  const longest = Math.max(...[...labels, ...INTERNAL_LABELS].map((label) => `${applicationName}:${label}@`.length));
  const room = MAX_APPLICATION_NAME - longest;
  return room <= 0 ? '' : instanceId.slice(Math.max(0, instanceId.length - room));
}

/** `<applicationName>:<label>` or `<applicationName>:<label>@<tag>`. */
export function sessionName(applicationName: string, label: string, tag: string | undefined): string {
  return tag === undefined ? `${applicationName}:${label}` : `${applicationName}:${label}@${tag}`;
}

/** Splits a session name of this application (prefix `<applicationName>:` removed) into label and instance tag. */
export function parseSessionName(rest: string): { readonly label: string; readonly tag: string | undefined } {
  const at = rest.indexOf('@');
  return at < 0 ? { label: rest, tag: undefined } : { label: rest.slice(0, at), tag: rest.slice(at + 1) };
}
