// Who is signed in, in which organization, and the calls that change that.
import { rest } from './api.js';

export const authEnabled = document.documentElement.dataset.auth === 'on';

let cached = null;

/**
 * The signed-in person and their organizations, or an anonymous local session when auth is off;
 * asked once and kept until the session changes. Rejects with SignInRequired when there is none.
 */
export function currentSession() {
  cached ??= loadSession().catch((error) => {
    cached = null;
    throw error;
  });
  return cached;
}

async function loadSession() {
  if (!authEnabled) return { user: null, organizations: [], organizationId: null };
  const [{ data: user }, { data: organizations }] = await Promise.all([
    rest('GET', '/v1/user'),
    rest('GET', '/v1/organizations'),
  ]);
  return { user, organizations, organizationId: user.organization_id ?? null };
}

/** Resolves on success; rejects with the server's message (wrong password, too many attempts). */
export async function signIn(email, password) {
  const response = await fetch('/auth/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.ok) {
    cached = null;
    return;
  }
  if (response.status === 429) {
    const wait = response.headers.get('retry-after');
    throw new Error(`Too many attempts. Try again${wait ? ` in ${wait} seconds` : ' later'}.`);
  }
  if (response.status === 401) throw new Error('Wrong email or password.');
  throw new Error((await response.text()) || `Sign-in failed (${response.status}).`);
}

export async function signOut() {
  cached = null;
  await fetch('/auth/logout', { credentials: 'same-origin', redirect: 'manual' });
}

export async function switchOrganization(organizationId) {
  await rest('POST', '/auth/switch', { organization_id: organizationId });
  cached = null;
}
