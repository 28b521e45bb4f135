// Entry point: the route table and what every screen shares (session, shell, errors).
import { h, replace } from './dom.js';
import { startRouter, navigate } from './router.js';
import { SignInRequired } from './api.js';
import { currentSession } from './session.js';
import { renderShell } from './shell.js';
import { applyTheme } from './theme.js';

applyTheme();

/** A screen whose module loads on first use; `load` lets that start while the session is asked for. */
function lazy(module, name) {
  const load = () => import(module).then((loaded) => loaded[name]);
  return Object.assign(async (context) => (await load())(context), { load });
}

const routes = [
  { path: '/', redirect: () => '/projects' },
  { path: '/login', screen: lazy('./views/login.js', 'loginScreen'), bare: true },
  { path: '/projects', section: 'tracing', screen: lazy('./views/projects.js', 'projectsScreen') },
  { path: '/projects/:projectId', redirect: ({ projectId }) => `/projects/${encodeURIComponent(projectId)}/spans` },
  { path: '/projects/:projectId/spans', section: 'tracing', screen: lazy('./views/project.js', 'projectScreen'), tab: 'spans' },
  { path: '/projects/:projectId/traces', section: 'tracing', screen: lazy('./views/project.js', 'projectScreen'), tab: 'traces' },
  { path: '/projects/:projectId/sessions', section: 'tracing', screen: lazy('./views/project.js', 'projectScreen'), tab: 'sessions' },
  { path: '/projects/:projectId/metrics', section: 'tracing', screen: lazy('./views/project.js', 'projectScreen'), tab: 'metrics' },
  { path: '/projects/:projectId/traces/:traceId', section: 'tracing', screen: lazy('./views/trace.js', 'traceScreen') },
  { path: '/projects/:projectId/sessions/:sessionId', section: 'tracing', screen: lazy('./views/session.js', 'sessionScreen') },
  { path: '/projects/:projectId/spans/:spanId', section: 'tracing', screen: lazy('./views/trace.js', 'spanScreen') },
  { path: '/graphql', section: 'graphql', screen: lazy('./views/graphql-explorer.js', 'graphqlExplorerScreen') },
];

const root = document.getElementById('app');

async function renderRoute(route, context) {
  if (route?.redirect) {
    navigate(route.redirect(context.params) + location.search, { replace: true });
    return null;
  }
  try {
    if (route?.bare) {
      replace(root);
      return await route.screen({ ...context, outlet: root });
    }
    const [session] = await Promise.all([currentSession(), route?.screen?.load?.()]);
    if (context.signal.aborted) return null;
    const outlet = renderShell(root, session, route?.section);
    if (!route) {
      replace(outlet, notFound());
      return null;
    }
    outlet.replaceChildren(h('div.loading', { role: 'status' }, 'Loading…'));
    return await route.screen({ ...context, outlet, session, tab: route.tab });
  } catch (error) {
    if (error.name === 'AbortError' || context.signal.aborted) return null;
    if (error instanceof SignInRequired) {
      const next = location.pathname + location.search;
      navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true });
      return null;
    }
    console.warn(error);
    const outlet = root.querySelector('.main') ?? root;
    replace(outlet, problem(error));
    return null;
  }
}

/** A readable error in place of the screen. */
export function problem(error) {
  return h('div.problem', { role: 'alert' },
    h('h2', 'Something went wrong'),
    h('p', error.message || String(error)),
    h('button', { type: 'button', onclick: () => navigate(location.href, { replace: true }) }, 'Try again'));
}

function notFound() {
  return h('div.problem',
    h('h2', 'Nothing here'),
    h('p', 'This page does not exist.'),
    h('a.button', { href: '/projects' }, 'Go to projects'));
}

startRouter(routes, renderRoute);
