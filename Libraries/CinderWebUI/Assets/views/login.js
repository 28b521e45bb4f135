// The sign-in screen (auth on): email and password, then back to where the person was going.
import { h } from '../dom.js';
import { navigate } from '../router.js';
import { authEnabled, signIn } from '../session.js';

export function loginScreen({ outlet, query }) {
  const next = safeNext(query.get('next'));
  if (!authEnabled) {
    navigate(next, { replace: true });
    return null;
  }
  const message = h('p.form-error', { role: 'alert', hidden: true });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.login-form', {
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      message.hidden = true;
      try {
        await signIn(email.value.trim(), password.value);
        navigate(next, { replace: true });
      } catch (error) {
        message.textContent = error.message;
        message.hidden = false;
        submit.disabled = false;
        password.select();
      }
    },
  },
  h('h1', 'Sign in to Cinder'),
  h('label', h('span', 'Email'), email),
  h('label', h('span', 'Password'), password),
  message,
  submit);
  outlet.append(h('div.login', form));
  email.focus();
  return null;
}

/** Only paths on this site: a link must not send a person elsewhere after signing in. */
function safeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/login')) return '/projects';
  return next;
}
