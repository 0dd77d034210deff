// Typed calls to QuickVibe's HTTP API. Errors carry the server's message,
// which is written to be shown to people.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Status {
  version: string;
  setupRequired: boolean;
  model: { configured: boolean; provider?: string; model?: string; reason?: string };
  sandbox: { ready: boolean; engine?: string; reason?: string };
}

export interface User {
  id: string;
  email: string;
  isAdmin: boolean;
}

export interface ProjectType {
  id: string;
  name: string;
  emoji: string;
  description: string;
  port: number;
  // What the agent specialises in for this type.
  agent?: { badge: string; description: string };
}

export interface Project {
  id: string;
  name: string;
  type: string;
  status: string;
  sandboxId?: string;
  sandboxState?: string;
  previewUrl?: string;
  thumbnailUrl?: string;
  createdAt: string;
  updatedAt: string;
}

export interface Run {
  id: string;
  projectId: string;
  prompt: string;
  status: string;
  errorCode?: string;
  errorMessage?: string;
  createdAt: string;
  finishedAt?: string;
}

export interface FileEntry {
  path: string;
  size: number;
  isDir: boolean;
  modTime: string;
}

async function request<T>(method: string, path: string, body?: unknown, raw?: BodyInit): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let payload: BodyInit | undefined = raw;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const resp = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (!resp.ok) {
    let code = 'http_error';
    let message = `${method} ${path} failed (HTTP ${resp.status})`;
    try {
      const j = await resp.json();
      if (j?.error?.message) {
        code = j.error.code;
        message = j.error.message;
      }
    } catch {
      // not JSON: keep the generic message
    }
    if (resp.status === 401 && path !== '/api/auth/login') onUnauthenticated?.();
    throw new ApiError(resp.status, code, message);
  }
  if (resp.status === 204) return undefined as T;
  const type = resp.headers.get('Content-Type') ?? '';
  if (type.includes('application/json')) return (await resp.json()) as T;
  return (await resp.text()) as T;
}

// Set by the app: where to go when the session ends.
export let onUnauthenticated: (() => void) | undefined;
export function setOnUnauthenticated(fn: () => void) {
  onUnauthenticated = fn;
}

const enc = encodeURIComponent;
const filePath = (p: string) => p.split('/').map(enc).join('/');

export const api = {
  status: () => request<Status>('GET', '/api/status'),
  me: () => request<User>('GET', '/api/auth/me'),
  setup: (email: string, password: string) => request<User>('POST', '/api/auth/setup', { email, password }),
  login: (email: string, password: string) => request<User>('POST', '/api/auth/login', { email, password }),
  logout: () => request<void>('POST', '/api/auth/logout'),
  projectTypes: () => request<{ types: ProjectType[] }>('GET', '/api/project-types').then((r) => r.types),
  projects: () => request<{ projects: Project[] }>('GET', '/api/projects').then((r) => r.projects),
  project: (id: string) => request<Project>('GET', `/api/projects/${enc(id)}`),
  createProject: (name: string, type: string) => request<Project>('POST', '/api/projects', { name, type }),
  renameProject: (id: string, name: string) => request<Project>('PATCH', `/api/projects/${enc(id)}`, { name }),
  deleteProject: (id: string) => request<void>('DELETE', `/api/projects/${enc(id)}`),
  runs: (id: string) => request<{ runs: Run[] }>('GET', `/api/projects/${enc(id)}/runs`).then((r) => r.runs),
  // A sandbox's process output as JSON; url is built by DevLogStream.
  sandboxLogs: (url: string) =>
    request<{ state: string; lines: { seq: number; time?: string; stream: string; line: string }[] }>('GET', url),
  prompt: (id: string, prompt: string) => request<{ runId: string }>('POST', `/api/projects/${enc(id)}/prompts`, { prompt }),
  cancel: (runId: string) => request<void>('POST', `/api/runs/${enc(runId)}/cancel`),
  files: (id: string) => request<{ files: FileEntry[] }>('GET', `/api/projects/${enc(id)}/files`).then((r) => r.files),
  file: (id: string, path: string) => request<string>('GET', `/api/projects/${enc(id)}/files/${filePath(path)}`),
  saveFile: (id: string, path: string, content: string) =>
    request<{ versionId?: string }>('PUT', `/api/projects/${enc(id)}/files/${filePath(path)}`, undefined, content),
  previewUrl: (id: string, port: number) =>
    request<{ url: string; expiresAt?: string }>('GET', `/api/projects/${enc(id)}/preview-url?port=${port}`),
};
