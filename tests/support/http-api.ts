/** What the API answered: its status and its JSON body (null for an empty body). */
export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/**
 * Calls the web's API as a user's service does, with the Bearer token and JSON bodies. `base` is
 * read at each call, so a test file can make its caller before its web listens.
 */
export function apiCaller(base: () => string, token: string) {
  return async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const response = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  };
}
