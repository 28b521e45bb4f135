// Light and dark themes: the person's choice is remembered; without one, the system's.

const key = 'cinder-theme';

export function currentTheme() {
  const chosen = localStorage.getItem(key);
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme() {
  document.documentElement.dataset.theme = currentTheme();
}

export function toggleTheme() {
  localStorage.setItem(key, currentTheme() === 'dark' ? 'light' : 'dark');
  applyTheme();
}
