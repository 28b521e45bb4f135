// The list of traces the person last opened a trace from, so `j`/`k` in a trace move to the next or
// previous one. Kept for the tab (sessionStorage), so it survives a reload.

const key = 'cinder-trace-list';

export function rememberTraces(projectId, traceIds) {
  sessionStorage.setItem(key, JSON.stringify({ projectId, traceIds: [...new Set(traceIds.filter(Boolean))] }));
}

/** The trace `step` places from `traceId` in the remembered list, or null at either end. */
export function neighbour(projectId, traceId, step) {
  let remembered;
  try {
    remembered = JSON.parse(sessionStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
  if (remembered?.projectId !== projectId) return null;
  const index = remembered.traceIds.indexOf(traceId);
  if (index < 0) return null;
  return remembered.traceIds[index + step] ?? null;
}
