// The History API router: paths follow Phoenix's URL scheme, so shared links and reloads land on the
// same screen. Each navigation aborts the previous screen's requests and runs its cleanup.

let routes = [];
let render = null;
let current = null;

/** `pattern` like '/projects/:projectId/traces/:traceId'; returns the params or null. */
export function match(pattern, path) {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  if (want.length !== have.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(have[i]);
    else if (want[i] !== have[i]) return null;
  }
  return params;
}

/**
 * Starts routing. `table` is a list of { path, screen } where screen(context) renders into
 * context.outlet and may return a cleanup function; `renderRoute(route, context)` wraps it (the shell).
 */
export function startRouter(table, renderRoute) {
  routes = table;
  render = renderRoute;
  window.addEventListener('popstate', () => show());
  document.addEventListener('click', followLink);
  return show();
}

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.origin);
  if (target.origin !== location.origin) {
    location.assign(target);
    return Promise.resolve();
  }
  if (replace) history.replaceState(null, '', target);
  else if (target.href !== location.href) history.pushState(null, '', target);
  return show();
}

/** Changes the query string without a new screen (filters, tabs' state) so a reload restores it. */
export function updateQuery(values) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(values)) {
    if (value == null || value === '') url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  history.replaceState(null, '', url);
}

function followLink(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !routes.some((route) => match(route.path, url.pathname))) return;
  event.preventDefault();
  navigate(url);
}

async function show() {
  current?.controller.abort();
  if (typeof current?.cleanup === 'function') current.cleanup();
  const path = location.pathname.replace(/\/+$/, '') || '/';
  let route = null;
  let params = null;
  for (const candidate of routes) {
    params = match(candidate.path, path);
    if (params) {
      route = candidate;
      break;
    }
  }
  const controller = new AbortController();
  const state = { controller, cleanup: null };
  current = state;
  const context = {
    params: params ?? {},
    query: new URL(location.href).searchParams,
    signal: controller.signal,
    path,
  };
  state.cleanup = await render(route, context);
}
