import type { ErrorBody } from "./types";

/** An error answer of the API, with its stable code and its message for people. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }

  /**
   * The field a validation_failed message names ("env: ..." -> "env"),
   * so a form can put the message beside it. already_exists (412 to a
   * create with If-None-Match: *) is about the name.
   */
  get field(): string | undefined {
    if (this.code === "already_exists") return "name";
    if (this.code !== "validation_failed") return undefined;
    const m = /^([A-Za-z][\w.[\]]*): /.exec(this.message);
    return m?.[1];
  }
}

function isErrorBody(v: unknown): v is ErrorBody {
  if (typeof v !== "object" || v === null || !("error" in v)) return false;
  const e = (v as { error: unknown }).error;
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** Turns a failed response's parsed body into an ApiError. */
export function toApiError(status: number, body: unknown): ApiError {
  if (isErrorBody(body)) return new ApiError(status, body.error.code, body.error.message);
  const text = typeof body === "string" && body.trim() !== "" ? body.trim() : `request failed with status ${status}`;
  return new ApiError(status, "unknown", text);
}

/** Reads an error out of a Response whose body has not been read yet. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    return toApiError(res.status, JSON.parse(text) as unknown);
  } catch {
    return toApiError(res.status, text);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
