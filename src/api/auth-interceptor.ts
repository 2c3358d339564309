// API tokens on every call (when auth is on): the `authorization: Bearer …` header is verified,
// the RPC is checked against the token's scopes (auth/scopes.ts), and the caller is handed to the
// handler in the call's context values. The worker's own service is not for API tokens: a worker
// proves itself with its one-time password and session token (workers/worker-registration.ts).
import { createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import { WorkerAgentService } from '../gen/hodei/v1/worker_pb.js';
import { access, scopesFor, type Access } from '../auth/scopes.js';
import type { ApiTokens, Caller } from '../auth/api-tokens.js';
import { PermissionDeniedError, UnauthenticatedError } from '../shared/errors.js';
import { toConnectError } from './error-mapping.js';

/** The caller of an RPC and the access its scopes give there; undefined when auth is off. */
export interface Grant {
  readonly caller: Caller;
  readonly access: Exclude<Access, 'none'>;
}

export const GRANT = createContextKey<Grant | undefined>(undefined, { description: 'API caller' });

export function grantOf(ctx: HandlerContext): Grant | undefined {
  return ctx.values.get(GRANT);
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The caller a request's `authorization` header names; throws UnauthenticatedError. */
export async function authenticate(tokens: ApiTokens, header: string | null): Promise<Caller> {
  if (header === null || header.trim() === '') {
    throw new UnauthenticatedError(
      'this server requires an API token: send "authorization: Bearer <token>" (hodei reads HODEI_TOKEN or --token)',
    );
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) {
    throw new UnauthenticatedError('the authorization header must be "Bearer <token>"');
  }
  const caller = await tokens.verify(token);
  if (!caller) throw new UnauthenticatedError('the API token is not valid (unknown or revoked)');
  return caller;
}

export function authInterceptor(tokens: ApiTokens): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName === WorkerAgentService.typeName) return next(req);
    const method = `${req.service.name}/${req.method.name}`;
    try {
      const caller = await authenticate(tokens, req.header.get('authorization'));
      const granted = access(caller.scopes, method);
      if (granted === 'none') {
        throw new PermissionDeniedError(
          caller.name,
          `token "${caller.name}" (scopes ${caller.scopes.join(', ')}) may not call ${method}; it needs one of: ${scopesFor(method).join(', ')}`,
        );
      }
      req.contextValues.set(GRANT, { caller, access: granted });
    } catch (error) {
      throw toConnectError(error);
    }
    return next(req);
  };
}

/** Throws PermissionDeniedError when `grant` reaches only its own jobs and `queuedBy` is not it.
 * `verb` says what was tried ("read", "cancel"). */
export function requireOwnJob(
  grant: Grant | undefined,
  queuedBy: string | null,
  verb: string,
): void {
  if (!grant || grant.access === 'all' || queuedBy === grant.caller.name) return;
  throw new PermissionDeniedError(
    grant.caller.name,
    `token "${grant.caller.name}" may ${verb} only the jobs it queued`,
  );
}
