// Talking to Cinder's own GraphQL and REST APIs with the session cookie. An expired access token is
// refreshed once (POST /auth/refresh) and the request retried; without a session, the login screen.

export class APIError extends Error {
  constructor(message, { status = 0, path = null } = {}) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

/** Raised when no valid session exists; the router turns it into the login screen. */
export class SignInRequired extends APIError {}

let refreshing = null;

async function refreshSession() {
  refreshing ??= fetch('/auth/refresh', { method: 'POST', credentials: 'same-origin' })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function send(url, init, retried = false) {
  let response;
  try {
    response = await fetch(url, { credentials: 'same-origin', ...init });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new APIError(`Cinder did not answer (${error.message}). Is the server running?`);
  }
  if (response.status === 401) {
    if (!retried && document.documentElement.dataset.auth === 'on' && (await refreshSession())) {
      return send(url, init, true);
    }
    throw new SignInRequired('Sign in to continue.', { status: 401 });
  }
  return response;
}

async function messageOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body.detail ?? body.message ?? body.error ?? text;
  } catch {
    return text || response.statusText;
  }
}

/** True for the error GraphQL gives for an id that does not exist (or is another organization's). */
export function isUnknownNode(error) {
  return error instanceof APIError && /^Unknown node/.test(error.message);
}

/** Runs a GraphQL operation; resolves with `data`, rejects with the first error's message. */
export async function graphql(query, variables = {}, { signal } = {}) {
  const response = await send('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!response.ok) throw new APIError(await messageOf(response), { status: response.status });
  const body = await response.json();
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new APIError(first.message, { status: 200, path: first.path?.join('.') ?? null });
  }
  return body.data;
}

/** A REST call: JSON in and out; rejects with the server's message on any non-2xx answer. */
export async function rest(method, path, body, { signal } = {}) {
  const init = { method, signal, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await send(path, init);
  if (!response.ok) throw new APIError(await messageOf(response), { status: response.status });
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') ?? '';
  return type.includes('json') ? response.json() : response.text();
}
