// The frame around every screen: navigation, organization switcher, account menu, theme.
import { h, replace, svg } from './dom.js';
import { authEnabled, signOut, switchOrganization } from './session.js';
import { toggleTheme, currentTheme } from './theme.js';
import { navigate } from './router.js';

/** Sections of the product; later screens add theirs here. */
const sections = [
  { id: 'tracing', label: 'Tracing', href: '/projects', icon: tracingIcon },
];

const apiLinks = [
  { label: 'REST API (OpenAPI)', href: '/openapi.json', external: true },
  { label: 'GraphQL explorer', href: '/graphql' },
];

/** Renders the shell into `root` once and returns the element screens render into. */
export function renderShell(root, session, section) {
  let shell = root.querySelector(':scope > .shell');
  if (!shell) {
    shell = h('div.shell',
      h('nav.sidebar', { 'aria-label': 'Main' }),
      h('main.main', { id: 'main' }));
    replace(root, shell);
  }
  replace(shell.querySelector('.sidebar'), sidebar(session, section));
  return shell.querySelector('.main');
}

function sidebar(session, section) {
  return [
    h('a.brand', { href: '/projects', title: 'Cinder' }, h('img', { src: iconURL(), alt: '', width: 22, height: 22 }), h('span', 'Cinder')),
    h('ul.nav',
      sections.map((item) => h('li', h('a', {
        href: item.href,
        class: item.id === section ? 'active' : null,
        'aria-current': item.id === section ? 'page' : null,
      }, h('span.nav-icon', { 'aria-hidden': 'true' }, item.icon()), item.label)))),
    h('div.nav-spacer'),
    h('ul.nav.nav-secondary', apiLinks.map((item) => h('li', h('a', {
      href: item.href,
      target: item.external ? '_blank' : null,
      rel: item.external ? 'noopener' : null,
    }, item.label)))),
    authEnabled && session.organizations.length > 0 ? organizationSwitcher(session) : null,
    h('div.account',
      h('button.ghost', {
        type: 'button',
        title: 'Switch between light and dark',
        'aria-label': `Theme: ${currentTheme()}`,
        onclick: (event) => {
          toggleTheme();
          event.currentTarget.setAttribute('aria-label', `Theme: ${currentTheme()}`);
        },
      }, '◐'),
      authEnabled && session.user
        ? [
          h('span.account-name', { title: session.user.email }, session.user.username || session.user.email),
          h('button.ghost', {
            type: 'button',
            onclick: async () => {
              await signOut();
              navigate('/login', { replace: true });
            },
          }, 'Sign out'),
        ]
        : null),
  ];
}

function organizationSwitcher(session) {
  const select = h('select', {
    'aria-label': 'Organization',
    onchange: async () => {
      select.disabled = true;
      try {
        await switchOrganization(select.value);
        // Everything on screen belongs to the previous organization.
        navigate('/projects', { replace: true });
      } catch (error) {
        select.disabled = false;
        alert(`Could not switch: ${error.message}`);
      }
    },
  }, session.organizations.map((org) => h('option', { value: org.id, selected: org.id === session.organizationId }, org.name)));
  if (session.organizations.length === 1) select.disabled = true;
  return h('label.org-switcher', h('span', 'Organization'), select);
}

/** Three bars of a waterfall. */
function tracingIcon() {
  return svg('svg', { viewBox: '0 0 16 16', width: 16, height: 16, fill: 'currentColor' },
    svg('rect', { x: 1, y: 2, width: 9, height: 3, rx: 1 }),
    svg('rect', { x: 4, y: 7, width: 8, height: 3, rx: 1 }),
    svg('rect', { x: 7, y: 12, width: 8, height: 3, rx: 1 }));
}

function iconURL() {
  return new URL('./icon.svg', import.meta.url).pathname;
}
