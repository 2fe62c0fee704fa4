/**
 * A minimal cookie-keeping HTTP client for the admin pages (no browser):
 * follows nothing, so tests see each redirect.
 */
export interface PageResponse {
  status: number;
  location: string | null;
  text: string;
}

export class Client {
  private jar = new Map<string, string>();
  constructor(readonly base: string) {}

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  setCookie(name: string, value: string) {
    this.jar.set(name, value);
  }

  async request(method: string, path: string, form?: Record<string, string | string[]>): Promise<PageResponse> {
    const headers: Record<string, string> = {};
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
      body = p.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(this.base + path, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, ...v] = pair!.split('=');
      const value = v.join('=');
      if (/Expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.jar.delete(k!.trim());
      else this.jar.set(k!.trim(), value);
    }
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  /** The CSRF token of the form on a page. */
  static token(html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error('no CSRF token on the page');
    return m[1]!;
  }

  async post(path: string, form: Record<string, string | string[]>, fromPage = path) {
    const page = await this.get(fromPage);
    return this.request('POST', path, { _csrf: Client.token(page.text), ...form });
  }

  /** Logs in with the sidecar's password, or as a WordPress user when `username` is given. */
  async login(password: string, username = ''): Promise<PageResponse> {
    const page = await this.get('/admin/login');
    return this.request('POST', '/admin/login', { _csrf: Client.token(page.text), username, password });
  }
}
