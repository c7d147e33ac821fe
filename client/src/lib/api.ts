// The HTTP API: JSON in and out, the access token attached, one transparent refresh on 401, and
// failures as ApiError carrying the server's problem body (RFC 9457) so forms can show field errors.
import { hubHttpBase } from "./config";

export interface FieldProblem {
  field: string;
  message: string;
  code: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string | null;
  errors?: FieldProblem[] | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemBody,
  ) {
    super(problem.detail ?? problem.title);
    this.name = "ApiError";
  }

  /** The stable machine code: the last segment of the problem's type URI. */
  get code(): string {
    return this.problem.type.split("/").pop() ?? "error";
  }

  fieldError(field: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === field || e.field.endsWith(`.${field}`))?.message;
  }
}

/** What the API client needs from the session: the current token, and a way to get a new one. */
export interface TokenSource {
  accessToken(): string | null;
  /** Trade the refresh token for new tokens; resolves to the new access token, or null if logged out. */
  refresh(): Promise<string | null>;
}

let tokens: TokenSource | null = null;

export function useTokenSource(source: TokenSource | null): void {
  tokens = source;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Send no Authorization header (login, refresh). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const first = await send(path, options, options.anonymous ? null : (tokens?.accessToken() ?? null));
  if (first.status === 401 && !options.anonymous && tokens) {
    const renewed = await tokens.refresh();
    if (renewed) return parse<T>(await send(path, options, renewed));
  }
  return parse<T>(first);
}

async function send(path: string, options: RequestOptions, token: string | null): Promise<Response> {
  const url = new URL(hubHttpBase() + "/api/v1" + path, typeof window === "undefined" ? "http://localhost" : window.location.href);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(url, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, {
      type: "about:blank/unreachable",
      title: "Can't reach gamif",
      status: 0,
      detail: "check your network, or try again in a moment.",
    });
  }
}

async function parse<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const body: unknown = text ? JSON.parse(text) : undefined;
  if (response.ok) return body as T;
  const problem =
    body && typeof body === "object" && "title" in body
      ? (body as ProblemBody)
      : { type: "about:blank", title: response.statusText || "Request failed", status: response.status };
  throw new ApiError(response.status, problem);
}
