// Who may call what: the scopes an API token carries and the rule for every RPC. Pure: the
// interceptor (api/auth-interceptor.ts) asks `access` and the job service narrows "own" access to
// the jobs the calling token queued.

export const SCOPES = ['submit', 'read', 'cancel', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}

/** What a caller may do with an RPC: all of it, only on the jobs its own token queued, or none. */
export type Access = 'all' | 'own' | 'none';

/** Per RPC (`Service/Method`, short service name): which scope gives full access and which gives
 * access to the caller's own jobs. `admin` gives full access to everything. */
const RULES: Readonly<Record<string, { all: readonly Scope[]; own: readonly Scope[] }>> = {
  'JobService/QueueJob': { all: ['submit'], own: [] },
  'JobService/QueueJobs': { all: ['submit'], own: [] },
  'JobService/GetJob': { all: ['read'], own: ['submit'] },
  'JobService/ListJobs': { all: ['read'], own: ['submit'] },
  'JobService/WatchJob': { all: ['read'], own: ['submit'] },
  'JobService/GetJobLogs': { all: ['read'], own: ['submit'] },
  'JobService/CancelJob': { all: ['cancel'], own: ['submit'] },
};

/** The access `scopes` give to `method` (e.g. `JobService/QueueJob`); anything not in the table
 * (OpsService, a method added later) is for admin only. */
export function access(scopes: readonly Scope[], method: string): Access {
  if (scopes.includes('admin')) return 'all';
  const rule = RULES[method];
  if (!rule) return 'none';
  if (rule.all.some((s) => scopes.includes(s))) return 'all';
  if (rule.own.some((s) => scopes.includes(s))) return 'own';
  return 'none';
}

/** The scopes that would give any access to `method`, for an error message. */
export function scopesFor(method: string): Scope[] {
  const rule = RULES[method];
  return rule ? [...new Set([...rule.all, ...rule.own, 'admin' as const])] : ['admin'];
}
